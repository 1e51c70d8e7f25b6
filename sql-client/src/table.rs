//! Result sets printed as aligned tables (comfy-table), numbers right-aligned.

use comfy_table::{presets, CellAlignment, ContentArrangement, Table, TableComponent};

/// NULL as printed (an empty cell would read as an empty string).
pub const NULL: &str = "NULL";

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// The table, then "(N rows)".
pub fn render(headers: &[String], rows: &[Vec<Option<String>>]) -> String {
    let mut table = Table::new();
    // Never wrapped: a wrapped cell breaks the alignment a reader (or a test) relies on.
    table.load_preset(presets::ASCII_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
    // "+====+======+" under the header: the columns stay visible there too.
    table.set_style(TableComponent::MiddleHeaderIntersections, '+');
    table.set_header(headers);
    for row in rows {
        table.add_row(row.iter().map(|v| v.as_deref().unwrap_or(NULL)));
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        let values = rows.iter().filter_map(|r| r.get(i).and_then(|v| v.as_deref()));
        let mut values = values.peekable();
        if values.peek().is_some() && values.all(is_number) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let count = match rows.len() {
        1 => "(1 row)".to_owned(),
        n => format!("({n} rows)"),
    };
    format!("{table}\n{count}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_numbers_right_aligned() {
        let headers = vec!["id".to_owned(), "name".to_owned()];
        let rows = vec![vec![Some("1".into()), Some("alice".into())], vec![Some("20".into()), None]];
        let out = render(&headers, &rows);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "+----+-------+");
        assert_eq!(lines[1], "| id | name  |");
        assert_eq!(lines[2], "+====+=======+");
        assert_eq!(lines[3], "|  1 | alice |");
        assert_eq!(lines[4], "| 20 | NULL  |");
        assert_eq!(lines[5], "+----+-------+");
        assert_eq!(lines[6], "(2 rows)");
    }
}
