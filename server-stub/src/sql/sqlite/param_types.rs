//! Types of a prepared statement's `?` markers, for SQLDescribeParam.
//!
//! SQLite gives a `?` no type. Clients that bind without an explicit type (PHP's
//! ext/odbc and PDO_ODBC, Perl's DBD::ODBC) bind what SQLDescribeParam says, and PHP
//! sends bytes as SQL_C_BINARY only when the described type is binary: describing every
//! marker as VARCHAR made them send a BLOB as text. So the statement is parsed and each
//! marker that is stored in a column (`INSERT ... VALUES (?)`, `UPDATE ... SET c = ?`) or
//! compared with one (`c = ?`, `c BETWEEN ? AND ?`, `c IN (?, ?)`, `c LIKE ?`) takes
//! that column's declared type. Anything else keeps the neutral description
//! [`unknown`]: the driver then sends text as text and refuses bytes that are not
//! valid UTF-8, so nothing is corrupted either way.

use std::collections::HashMap;
use std::ops::ControlFlow;

use rusqlite::Connection;
use sqlparser::ast::{
    visit_expressions, visit_relations, AssignmentTarget, BinaryOperator, Expr, Ident, InTarget, ObjectName, SetExpr,
    Statement, TableObject, Value,
};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Location;
use twofactor_protocol::{sql_type, Nullability, ParamDesc};

use super::types;

/// The description of a marker whose target is not known.
pub fn unknown() -> ParamDesc {
    ParamDesc { sql_type: sql_type::VARCHAR, column_size: 255, decimal_digits: 0, nullable: Nullability::Unknown }
}

/// A column named in the statement: `c` or `t.c` (the qualifier may be an alias).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ColumnRef {
    qualifier: Option<String>,
    column: Column,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Named(String),
    /// The n-th column (from 0) of the table: `INSERT INTO t VALUES (...)` without a list.
    Position(usize),
}

/// One declared column of a table: name, declared type (may be empty), NOT NULL.
#[derive(Debug, Clone)]
struct TableColumn {
    name: String,
    decl: String,
    not_null: bool,
}

/// Descriptions of the `count` markers of `sql`.
pub fn describe(conn: &Connection, sql: &str, count: usize) -> Vec<ParamDesc> {
    let mut out = vec![unknown(); count];
    let Some(analysis) = analyse(sql, count) else { return out };
    let mut tables: HashMap<String, Vec<TableColumn>> = HashMap::new();
    for name in &analysis.tables {
        tables.entry(name.to_ascii_lowercase()).or_insert_with(|| table_columns(conn, name));
    }
    for (slot, target) in out.iter_mut().zip(&analysis.targets) {
        let Some(target) = target else { continue };
        if let Some(col) = resolve(&tables, &analysis.tables, target) {
            *slot = column_param(col);
        }
    }
    out
}

/// A marker stored in or compared with `col`. A column declared without a size (TEXT,
/// BLOB) gives size 0, "no limit": pyodbc's fast_executemany then sends such values as
/// data-at-execution, where a size would make it refuse longer values or allocate that
/// size for every row of the array.
fn column_param(col: &TableColumn) -> ParamDesc {
    if col.decl.trim().is_empty() {
        // A column without a type takes any value: nothing more is known than for an
        // expression.
        return ParamDesc { nullable: nullability(col), ..unknown() };
    }
    let info = types::from_decl(&col.decl);
    ParamDesc {
        sql_type: info.sql_type,
        column_size: if info.size == types::LONG_SIZE { 0 } else { info.size },
        decimal_digits: info.digits,
        nullable: nullability(col),
    }
}

fn nullability(col: &TableColumn) -> Nullability {
    if col.not_null {
        Nullability::NoNulls
    } else {
        Nullability::Nullable
    }
}

/// The column `target` names, among the statement's tables.
fn resolve<'a>(
    tables: &'a HashMap<String, Vec<TableColumn>>,
    order: &[String],
    target: &ColumnRef,
) -> Option<&'a TableColumn> {
    let find = |table: &str| {
        let columns = tables.get(&table.to_ascii_lowercase())?;
        match &target.column {
            Column::Named(name) => columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)),
            Column::Position(i) => columns.get(*i),
        }
    };
    if let Some(q) = &target.qualifier {
        if let Some(c) = find(q) {
            return Some(c);
        }
    }
    // Unqualified (or qualified by an alias): the first table that has the column, as
    // SQLite would refuse an ambiguous name anyway.
    order.iter().find_map(|t| find(t))
}

/// The declared columns of `table`, in order; empty if there is no such table.
fn table_columns(conn: &Connection, table: &str) -> Vec<TableColumn> {
    let rows = conn.prepare_cached("SELECT name, type, \"notnull\" FROM pragma_table_info(?1)").and_then(|mut s| {
        s.query_map([table], |r| Ok(TableColumn { name: r.get(0)?, decl: r.get(1)?, not_null: r.get(2)? }))?
            .collect::<rusqlite::Result<Vec<_>>>()
    });
    rows.unwrap_or_default()
}

/// What parsing learned: the tables the statement names, and for each marker in text
/// order the column it is stored in or compared with.
#[derive(Debug, Default, PartialEq, Eq)]
struct Analysis {
    tables: Vec<String>,
    targets: Vec<Option<ColumnRef>>,
}

/// `None` when the statement does not parse as one statement, uses numbered or named
/// markers, or the markers found are not the `count` SQLite counted.
fn analyse(sql: &str, count: usize) -> Option<Analysis> {
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql).ok()?;
    let [statement] = statements.as_slice() else { return None };
    let mut analysis = Analysis::default();
    let _ = visit_relations(statement, |name: &ObjectName| {
        if let Some(t) = last_part(name) {
            if !analysis.tables.iter().any(|x| x.eq_ignore_ascii_case(&t)) {
                analysis.tables.push(t);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let mut markers: Vec<Location> = Vec::new();
    let mut valid = true;
    let mut targets: HashMap<Location, ColumnRef> = HashMap::new();
    statement_targets(statement, &mut targets);
    let _ = visit_expressions(statement, |e: &Expr| {
        if let Some(at) = marker(e) {
            markers.push(at);
        } else if let Expr::Value(v) = e {
            valid &= !matches!(v.value, Value::Placeholder(_));
        }
        expression_targets(e, &mut targets);
        ControlFlow::<()>::Continue(())
    });
    markers.sort();
    markers.dedup();
    if !valid || markers.len() != count || markers.iter().any(|l| l.line == 0) {
        return None;
    }
    analysis.targets = markers.iter().map(|l| targets.remove(l)).collect();
    Some(analysis)
}

/// Where a plain `?` marker is in the text.
fn marker(e: &Expr) -> Option<Location> {
    match e {
        Expr::Value(v) if matches!(&v.value, Value::Placeholder(p) if p == "?") => Some(v.span.start),
        _ => None,
    }
}

fn last_part(name: &ObjectName) -> Option<String> {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone())
}

fn column_of_name(name: &ObjectName) -> Option<ColumnRef> {
    let idents: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    column_of_idents(&idents)
}

fn column_of_idents(idents: &[&Ident]) -> Option<ColumnRef> {
    let (column, rest) = idents.split_last()?;
    Some(ColumnRef { qualifier: rest.last().map(|q| q.value.clone()), column: Column::Named(column.value.clone()) })
}

fn column_of_expr(e: &Expr) -> Option<ColumnRef> {
    match e {
        Expr::Identifier(i) => column_of_idents(&[i]),
        Expr::CompoundIdentifier(parts) => column_of_idents(&parts.iter().collect::<Vec<_>>()),
        Expr::Nested(inner) => column_of_expr(inner),
        _ => None,
    }
}

/// Markers stored by INSERT ... VALUES and UPDATE ... SET.
fn statement_targets(statement: &Statement, out: &mut HashMap<Location, ColumnRef>) {
    match statement {
        Statement::Insert(insert) => {
            let TableObject::TableName(table) = &insert.table else { return };
            let Some(table) = last_part(table) else { return };
            let Some(source) = &insert.source else { return };
            let SetExpr::Values(values) = source.body.as_ref() else { return };
            let named: Vec<ColumnRef> = insert.columns.iter().filter_map(column_of_name).collect();
            for row in &values.rows {
                for (i, e) in row.content.iter().enumerate() {
                    let Some(at) = marker(e) else { continue };
                    // Without a column list the i-th value goes to the i-th column.
                    let column = match named.get(i) {
                        Some(c) => c.column.clone(),
                        None if insert.columns.is_empty() => Column::Position(i),
                        None => continue,
                    };
                    out.insert(at, ColumnRef { qualifier: Some(table.clone()), column });
                }
            }
        }
        Statement::Update(update) => {
            for a in &update.assignments {
                if let (AssignmentTarget::ColumnName(name), Some(at)) = (&a.target, marker(&a.value)) {
                    if let Some(c) = column_of_name(name) {
                        out.insert(at, c);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Markers compared with a column: `c = ?`, `? < c`, `c BETWEEN ? AND ?`, `c IN (?)`,
/// `c LIKE ?`.
fn expression_targets(e: &Expr, out: &mut HashMap<Location, ColumnRef>) {
    let mut pair = |column: &Expr, value: &Expr| {
        if let (Some(c), Some(at)) = (column_of_expr(column), marker(value)) {
            out.entry(at).or_insert(c);
        }
    };
    match e {
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            pair(left, right);
            pair(right, left);
        }
        Expr::Between { expr, low, high, .. } => {
            pair(expr, low);
            pair(expr, high);
        }
        Expr::In { expr, target: InTarget::List(list), .. } => list.iter().for_each(|v| pair(expr, v)),
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => pair(expr, pattern),
        _ => {}
    }
}

fn is_comparison(op: &BinaryOperator) -> bool {
    use BinaryOperator as B;
    matches!(op, B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq | B::Spaceship)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(q: Option<&str>, c: &str) -> Option<ColumnRef> {
        Some(ColumnRef { qualifier: q.map(str::to_owned), column: Column::Named(c.to_owned()) })
    }

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE files (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, body BLOB, note TEXT, anything);
             CREATE TABLE tags (file_id INTEGER, tag CHAR(8));",
        )
        .unwrap();
        conn
    }

    fn types_of(conn: &Connection, sql: &str) -> Vec<(i16, u32)> {
        let n = conn.prepare(sql).unwrap().parameter_count();
        describe(conn, sql, n).iter().map(|p| (p.sql_type, p.column_size)).collect()
    }

    #[test]
    fn insert_values_markers_take_the_types_of_their_columns() {
        let conn = db();
        let long = 0;
        assert_eq!(
            types_of(&conn, "INSERT INTO files (name, body) VALUES (?, ?)"),
            vec![(sql_type::VARCHAR, 40), (sql_type::LONGVARBINARY, long)]
        );
        // Without a column list, by position; a column without a type stays unknown.
        assert_eq!(
            types_of(&conn, "insert into FILES values (?, ?, ?, ?, ?)"),
            vec![
                (sql_type::INTEGER, 10),
                (sql_type::VARCHAR, 40),
                (sql_type::LONGVARBINARY, long),
                (sql_type::LONGVARCHAR, long),
                (sql_type::VARCHAR, 255)
            ]
        );
    }

    #[test]
    fn update_set_and_where_markers_take_the_types_of_their_columns() {
        let conn = db();
        assert_eq!(
            types_of(&conn, "UPDATE files SET body = ? WHERE id = ? AND name LIKE ?"),
            vec![(sql_type::LONGVARBINARY, 0), (sql_type::INTEGER, 10), (sql_type::VARCHAR, 40)]
        );
        assert_eq!(
            types_of(
                &conn,
                "SELECT f.name FROM files f JOIN tags t ON t.file_id = f.id WHERE t.tag IN (?, ?) AND ? < f.id"
            ),
            vec![(sql_type::CHAR, 8), (sql_type::CHAR, 8), (sql_type::INTEGER, 10)]
        );
    }

    #[test]
    fn markers_without_a_column_are_described_as_unknown() {
        let conn = db();
        assert_eq!(types_of(&conn, "SELECT ? + 1, length(?)"), vec![(sql_type::VARCHAR, 255); 2]);
        assert_eq!(types_of(&conn, "SELECT * FROM files WHERE rowid = ?"), vec![(sql_type::VARCHAR, 255)]);
        // Numbered markers are not matched to text positions.
        assert_eq!(types_of(&conn, "SELECT * FROM files WHERE id = ?1"), vec![(sql_type::VARCHAR, 255)]);
    }

    #[test]
    fn nullability_comes_from_not_null() {
        let conn = db();
        let d = describe(&conn, "INSERT INTO files (name, body) VALUES (?, ?)", 2);
        assert_eq!(d[0].nullable, Nullability::NoNulls);
        assert_eq!(d[1].nullable, Nullability::Nullable);
    }

    #[test]
    fn analysis_orders_markers_by_their_place_in_the_text() {
        let a = analyse("UPDATE t SET a = ?, b = ? WHERE c = ?", 3).unwrap();
        assert_eq!(a.targets, vec![col(None, "a"), col(None, "b"), col(None, "c")]);
        assert_eq!(a.tables, vec!["t".to_owned()]);
        assert!(analyse("SELECT ?; SELECT ?", 2).is_none(), "two statements");
        assert!(analyse("not sql at all ?", 1).is_none());
        assert!(analyse("SELECT ?", 2).is_none(), "count differs from SQLite's");
    }
}
