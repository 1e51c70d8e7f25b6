//! SQLTablePrivileges and SQLColumnPrivileges on SQLite. SQLite has no GRANT: every
//! session of the server may read and change every table of the database, and only read
//! views and SQLite's own tables. So each object reports those privileges granted to
//! PUBLIC by no one in particular (GRANTOR NULL), not grantable.

use rusqlite::Connection;
use twofactor_protocol::Value;

use super::catalog::{all_tables, find_table, table_info};
use crate::sql::catalog_layout::{self as layout, matches, text, Table};

/// The privileges on a table (`kind` as SQLTables reports it), in the order ODBC sorts
/// them (by PRIVILEGE).
fn table_privileges(kind: &str) -> &'static [&'static str] {
    match kind {
        "TABLE" => &["DELETE", "INSERT", "REFERENCES", "SELECT", "UPDATE"],
        _ => &["SELECT"],
    }
}

/// The privileges on a column of a table of `kind`.
fn column_privileges(kind: &str) -> &'static [&'static str] {
    match kind {
        "TABLE" => &["INSERT", "REFERENCES", "SELECT", "UPDATE"],
        _ => &["SELECT"],
    }
}

const GRANTEE: &str = "PUBLIC";

/// GRANTOR, GRANTEE, PRIVILEGE, IS_GRANTABLE.
fn grant(privilege: &str) -> [Value; 4] {
    [Value::Null, text(GRANTEE), text(privilege), text("NO")]
}

/// SQLTablePrivileges: `table` is a search pattern.
pub(super) fn tables(conn: &Connection, table: Option<&str>) -> rusqlite::Result<Table> {
    let columns = layout::table_privileges();
    let mut list: Vec<(String, &str)> = all_tables(conn)?.into_iter().filter(|(n, _)| matches(table, n)).collect();
    list.sort();
    let mut rows = Vec::new();
    for (name, kind) in &list {
        for privilege in table_privileges(kind) {
            let mut row = vec![Value::Null, Value::Null, text(name)];
            row.extend(grant(privilege));
            rows.push(row);
        }
    }
    Ok((columns, rows))
}

/// SQLColumnPrivileges: `table` names one table, `column` is a search pattern.
pub(super) fn columns(conn: &Connection, table: &str, column: Option<&str>) -> rusqlite::Result<Table> {
    let columns = layout::column_privileges();
    let Some(name) = find_table(conn, table)? else { return Ok((columns, Vec::new())) };
    let kind = all_tables(conn)?.into_iter().find(|(n, _)| *n == name).map_or("TABLE", |(_, k)| k);
    let mut names: Vec<String> =
        table_info(conn, &name)?.into_iter().map(|c| c.name).filter(|c| matches(column, c)).collect();
    names.sort();
    let mut rows = Vec::new();
    for c in &names {
        for privilege in column_privileges(kind) {
            let mut row = vec![Value::Null, Value::Null, text(&name), text(c)];
            row.extend(grant(privilege));
            rows.push(row);
        }
    }
    Ok((columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE orders (id INTEGER, total REAL); CREATE VIEW big AS SELECT id FROM orders;")
            .unwrap();
        c
    }

    fn texts(rows: &[Vec<Value>], column: usize) -> Vec<String> {
        rows.iter()
            .map(|r| match &r[column] {
                Value::Text(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn tables_grant_everything_and_views_only_select_to_public() {
        let (columns, rows) = tables(&db(), Some("%")).unwrap();
        assert_eq!(columns.len(), 7);
        assert_eq!(columns[5].name, "PRIVILEGE");
        assert_eq!(texts(&rows, 2), ["big", "orders", "orders", "orders", "orders", "orders"]);
        assert_eq!(texts(&rows, 5), ["SELECT", "DELETE", "INSERT", "REFERENCES", "SELECT", "UPDATE"]);
        assert!(rows.iter().all(|r| r[3] == Value::Null && r[4] == text("PUBLIC") && r[6] == text("NO")));
        assert!(tables(&db(), Some("nothing%")).unwrap().1.is_empty());
    }

    #[test]
    fn column_privileges_follow_the_table_and_the_column_pattern() {
        let (columns, rows) = columns(&db(), "ORDERS", Some("t%")).unwrap();
        assert_eq!(columns[3].name, "COLUMN_NAME");
        assert_eq!(texts(&rows, 3), ["total"; 4]);
        assert_eq!(texts(&rows, 2), ["orders"; 4], "the table's real name");
        let (_, view) = super::columns(&db(), "big", None).unwrap();
        assert_eq!(texts(&view, 6), ["SELECT"]);
        assert!(super::columns(&db(), "missing", None).unwrap().1.is_empty());
    }
}
