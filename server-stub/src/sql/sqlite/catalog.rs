//! Catalog result sets in the ODBC 3 layouts (SQLTables, SQLColumns, SQLPrimaryKeys,
//! SQLForeignKeys, SQLStatistics, SQLSpecialColumns, SQLGetTypeInfo). SQLite has no
//! catalogs or schemas in ODBC's sense, so those columns are NULL.

use rusqlite::Connection;
use twofactor_protocol::{sql_type as st, CatalogRequest, ColumnDesc, Value};

use super::type_info::type_info;
use super::types::{self, TypeInfo, UnboundedSize};
use crate::sql::catalog_layout::{self as layout, matches, opt_int, small, text, Table};
pub(super) use crate::sql::catalog_layout::{is_char, radix, verbose_type};

/// (name, TABLE/VIEW/SYSTEM TABLE) of every table and view.
pub(super) fn all_tables(conn: &Connection) -> rusqlite::Result<Vec<(String, &'static str)>> {
    let mut stmt =
        conn.prepare("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        let name: String = r.get(0)?;
        let kind: String = r.get(1)?;
        let t = if kind == "view" {
            "VIEW"
        } else if name.to_ascii_lowercase().starts_with("sqlite_") {
            "SYSTEM TABLE"
        } else {
            "TABLE"
        };
        Ok((name, t))
    })?;
    rows.collect()
}

/// The real name of `table` (names match case-insensitively), if it exists.
pub(super) fn find_table(conn: &Connection, table: &str) -> rusqlite::Result<Option<String>> {
    Ok(all_tables(conn)?.into_iter().map(|(n, _)| n).find(|n| n.eq_ignore_ascii_case(table)))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) struct PragmaColumn {
    cid: i64,
    pub(super) name: String,
    decl: String,
    not_null: bool,
    default: Option<String>,
    pk: i64,
}

/// The rows of `PRAGMA pragma("name")`, each read by `row`.
fn pragma<T>(
    conn: &Connection,
    pragma: &str,
    name: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare(&format!("PRAGMA {pragma}({})", quote(name)))?;
    let rows = stmt.query_map([], row)?;
    rows.collect()
}

pub(super) fn table_info(conn: &Connection, table: &str) -> rusqlite::Result<Vec<PragmaColumn>> {
    pragma(conn, "table_info", table, |r| {
        Ok(PragmaColumn {
            cid: r.get(0)?,
            name: r.get(1)?,
            decl: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            not_null: r.get::<_, i64>(3)? != 0,
            default: r.get(4)?,
            pk: r.get(5)?,
        })
    })
}

/// The primary key's columns in key order.
fn primary_key(conn: &Connection, table: &str) -> rusqlite::Result<Vec<PragmaColumn>> {
    let mut pk: Vec<PragmaColumn> = table_info(conn, table)?.into_iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    Ok(pk)
}

/// The result of a catalog function on one named table: no rows when it does not exist.
fn for_table(
    conn: &Connection,
    table: &str,
    columns: Vec<ColumnDesc>,
    rows: impl FnOnce(String) -> rusqlite::Result<Vec<Vec<Value>>>,
) -> rusqlite::Result<Table> {
    let rows = match find_table(conn, table)? {
        Some(name) => rows(name)?,
        None => Vec::new(),
    };
    Ok((columns, rows))
}

/// The type of a column declared as `decl`, its size as reported, and its TYPE_NAME: the
/// bare name SQLGetTypeInfo lists for that type (`VARCHAR`, not `VARCHAR(40)`: the size
/// is COLUMN_SIZE's), so applications can match the two.
fn declared_type(decl: &str, unbounded: UnboundedSize) -> (TypeInfo, &'static str) {
    let mut t = if decl.is_empty() { types::from_value(None) } else { types::from_decl(decl) };
    t.size = unbounded.reported(t.size);
    (t, types::type_name(t.sql_type))
}

pub fn run(conn: &Connection, req: &CatalogRequest, unbounded: UnboundedSize) -> rusqlite::Result<Table> {
    match req {
        CatalogRequest::Tables { catalog, schema, table, table_types } => {
            tables(conn, catalog.as_deref(), schema.as_deref(), table.as_deref(), table_types.as_deref())
        }
        CatalogRequest::Columns { table, column, .. } => columns(conn, table.as_deref(), column.as_deref(), unbounded),
        CatalogRequest::PrimaryKeys { table, .. } => primary_keys(conn, table),
        CatalogRequest::ForeignKeys { pk_table, fk_table } => {
            foreign_keys(conn, pk_table.as_deref(), fk_table.as_deref())
        }
        CatalogRequest::Statistics { table, unique_only } => statistics(conn, table, *unique_only),
        CatalogRequest::SpecialColumns { table } => special_columns(conn, table, unbounded),
        CatalogRequest::TypeInfo { data_type } => Ok(type_info(*data_type)),
        CatalogRequest::TablePrivileges { table } => super::catalog_privileges::tables(conn, table.as_deref()),
        CatalogRequest::ColumnPrivileges { table, column } => {
            super::catalog_privileges::columns(conn, table, column.as_deref())
        }
        // SQLite has no stored procedures.
        CatalogRequest::Procedures { .. } => Ok((layout::procedures(), Vec::new())),
        CatalogRequest::ProcedureColumns { .. } => Ok((layout::procedure_columns(), Vec::new())),
    }
}

fn tables(
    conn: &Connection,
    catalog: Option<&str>,
    schema: Option<&str>,
    table: Option<&str>,
    types: Option<&str>,
) -> rusqlite::Result<Table> {
    let columns = layout::tables();
    let empty = |s: Option<&str>| s == Some("");
    let row = |name: Option<&str>, kind: &str| {
        vec![Value::Null, Value::Null, name.map_or(Value::Null, text), text(kind), Value::Null]
    };
    // ODBC's special enumerations: catalogs, schemas, table types.
    if catalog == Some("%") && empty(schema) && empty(table) {
        return Ok((columns, Vec::new()));
    }
    if schema == Some("%") && empty(catalog) && empty(table) {
        return Ok((columns, Vec::new()));
    }
    if types == Some("%") && empty(catalog) && empty(schema) && empty(table) {
        let rows = ["SYSTEM TABLE", "TABLE", "VIEW"].iter().map(|t| row(None, t)).collect();
        return Ok((columns, rows));
    }
    let wanted: Option<Vec<String>> = types.filter(|t| !t.trim().is_empty() && t.trim() != "%").map(|t| {
        t.split(',')
            .map(|s| s.trim().trim_matches('\'').trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let mut list: Vec<(String, &str)> = all_tables(conn)?
        .into_iter()
        .filter(|(name, kind)| matches(table, name) && wanted.as_ref().is_none_or(|w| w.iter().any(|t| t == kind)))
        .collect();
    list.sort_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(&b.0)));
    Ok((columns, list.iter().map(|(n, k)| row(Some(n), k)).collect()))
}

/// BUFFER_LENGTH: bytes of the default C type.
fn buffer_length(t: &TypeInfo) -> Option<i64> {
    Some(match t.sql_type {
        st::INTEGER | st::REAL => 4,
        st::BIGINT | st::DOUBLE => 8,
        st::SMALLINT => 2,
        st::TINYINT | st::BIT => 1,
        st::TYPE_DATE | st::TYPE_TIME => 6,
        st::TYPE_TIMESTAMP => 16,
        st::DECIMAL | st::NUMERIC => t.size as i64 + 2,
        _ => t.size as i64,
    })
}

fn columns(
    conn: &Connection,
    table: Option<&str>,
    column: Option<&str>,
    unbounded: UnboundedSize,
) -> rusqlite::Result<Table> {
    let columns = layout::columns();
    let mut rows = Vec::new();
    for (name, kind) in all_tables(conn)? {
        if kind == "SYSTEM TABLE" || !matches(table, &name) {
            continue;
        }
        for c in table_info(conn, &name)? {
            if !matches(column, &c.name) {
                continue;
            }
            let (t, type_name) = declared_type(&c.decl, unbounded);
            let (sql_data_type, sub) = verbose_type(t.sql_type);
            let digits = matches!(
                t.sql_type,
                st::DECIMAL | st::NUMERIC | st::TYPE_TIMESTAMP | st::INTEGER | st::BIGINT | st::SMALLINT | st::TINYINT
            )
            .then_some(t.digits as i64);
            rows.push(vec![
                Value::Null,
                Value::Null,
                text(&name),
                text(&c.name),
                small(t.sql_type as i64),
                text(type_name),
                Value::Int(t.size as i64),
                opt_int(buffer_length(&t)),
                opt_int(digits),
                opt_int(radix(t.sql_type)),
                small(if c.not_null { 0 } else { 1 }),
                Value::Null,
                c.default.as_deref().map_or(Value::Null, text),
                small(sql_data_type),
                opt_int(sub),
                opt_int(is_char(t.sql_type).then_some(t.size as i64)),
                Value::Int(c.cid + 1),
                text(if c.not_null { "NO" } else { "YES" }),
            ]);
        }
    }
    Ok((columns, rows))
}

fn primary_keys(conn: &Connection, table: &str) -> rusqlite::Result<Table> {
    let columns = layout::primary_keys();
    for_table(conn, table, columns, |name| {
        let rows = primary_key(conn, &name)?
            .iter()
            .map(|c| vec![Value::Null, Value::Null, text(&name), text(&c.name), small(c.pk), Value::Null])
            .collect();
        Ok(rows)
    })
}

fn rule(action: &str) -> i64 {
    match action.to_ascii_uppercase().as_str() {
        "CASCADE" => 0,
        "RESTRICT" => 1,
        "SET NULL" => 2,
        "SET DEFAULT" => 4,
        _ => 3, // NO ACTION
    }
}

fn foreign_keys(conn: &Connection, pk_table: Option<&str>, fk_table: Option<&str>) -> rusqlite::Result<Table> {
    let columns = layout::foreign_keys();
    let mut rows = Vec::new();
    for (fk_name, kind) in all_tables(conn)? {
        if kind != "TABLE" || fk_table.is_some_and(|f| !f.is_empty() && !f.eq_ignore_ascii_case(&fk_name)) {
            continue;
        }
        let list = pragma(conn, "foreign_key_list", &fk_name, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        for (id, seq, parent, from, to, on_update, on_delete) in list {
            if pk_table.is_some_and(|p| !p.is_empty() && !p.eq_ignore_ascii_case(&parent)) {
                continue;
            }
            // A reference without columns means the parent's primary key.
            let to = match to {
                Some(t) => t,
                None => primary_key(conn, &parent)?.into_iter().nth(seq as usize).map(|c| c.name).unwrap_or_default(),
            };
            rows.push(vec![
                Value::Null,
                Value::Null,
                text(&parent),
                text(&to),
                Value::Null,
                Value::Null,
                text(&fk_name),
                text(&from),
                small(seq + 1),
                small(rule(&on_update)),
                small(rule(&on_delete)),
                text(&format!("fk_{fk_name}_{id}")),
                Value::Null,
                small(7),
            ]);
        }
    }
    Ok((columns, rows))
}

fn statistics(conn: &Connection, table: &str, unique_only: bool) -> rusqlite::Result<Table> {
    let columns = layout::statistics();
    for_table(conn, table, columns, |name| {
        // SQL_TABLE_STAT row first, as ODBC orders the result.
        let mut rows = vec![vec![
            Value::Null,
            Value::Null,
            text(&name),
            Value::Null,
            Value::Null,
            Value::Null,
            small(0),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ]];
        let mut indexes =
            pragma(conn, "index_list", &name, |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(2)? != 0)))?;
        indexes.sort_by(|a, b| a.1.cmp(&b.1).reverse().then_with(|| a.0.cmp(&b.0)));
        for (index, unique) in indexes {
            if unique_only && !unique {
                continue;
            }
            let cols =
                pragma(conn, "index_info", &index, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(2)?)))?;
            for (seqno, column) in cols {
                rows.push(vec![
                    Value::Null,
                    Value::Null,
                    text(&name),
                    small(i64::from(!unique)),
                    Value::Null,
                    text(&index),
                    small(3),
                    small(seqno + 1),
                    column.as_deref().map_or(Value::Null, text),
                    text("A"),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ]);
            }
        }
        Ok(rows)
    })
}

fn special_columns(conn: &Connection, table: &str, unbounded: UnboundedSize) -> rusqlite::Result<Table> {
    let columns = layout::special_columns();
    let row = |col: &str, decl: &str, pseudo: i64| {
        let (t, type_name) = declared_type(decl, unbounded);
        vec![
            small(2),
            text(col),
            small(t.sql_type as i64),
            text(type_name),
            Value::Int(t.size as i64),
            opt_int(buffer_length(&t)),
            small(t.digits as i64),
            small(pseudo),
        ]
    };
    for_table(conn, table, columns, |name| {
        let pk = primary_key(conn, &name)?;
        Ok(if pk.is_empty() {
            // The best row identifier of a table without a primary key is its rowid.
            vec![row("rowid", "BIGINT", 2)]
        } else {
            pk.iter().map(|c| row(&c.name, &c.decl, 1)).collect()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_report_the_bare_type_name_and_the_size_apart() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a VARCHAR(40), b DECIMAL(10,2), c TEXT, d BLOB, e INT, f)").unwrap();
        let (_, rows) = columns(&c, Some("t"), None, UnboundedSize(4000)).unwrap();
        let got: Vec<_> = rows.iter().map(|r| (r[5].clone(), r[6].clone(), r[15].clone())).collect();
        assert_eq!(
            got,
            vec![
                (text("VARCHAR"), Value::Int(40), Value::Int(40)),
                (text("DECIMAL"), Value::Int(10), Value::Null),
                (text("TEXT"), Value::Int(4000), Value::Int(4000)),
                (text("BLOB"), Value::Int(4000), Value::Int(4000)),
                (text("INTEGER"), Value::Int(10), Value::Null),
                (text("VARCHAR"), Value::Int(4000), Value::Int(4000)),
            ]
        );
        // Every TYPE_NAME is one SQLGetTypeInfo lists.
        let listed: Vec<Value> = type_info(0).1.iter().map(|r| r[0].clone()).collect();
        assert!(rows.iter().all(|r| listed.contains(&r[5])), "{rows:?}");
    }

    #[test]
    fn catalog_result_sets_have_the_odbc_layouts() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE, at TIMESTAMP);
             CREATE UNIQUE INDEX child_at ON child(at);
             CREATE VIEW v AS SELECT * FROM parent;",
        )
        .unwrap();
        let (cols, rows) = tables(&c, None, None, None, None).unwrap();
        assert_eq!(cols.len(), 5);
        let names: Vec<_> = rows.iter().map(|r| (r[2].clone(), r[3].clone())).collect();
        assert_eq!(
            names,
            vec![(text("child"), text("TABLE")), (text("parent"), text("TABLE")), (text("v"), text("VIEW"))]
        );
        let (_, rows) = tables(&c, None, None, Some("p%"), Some("'TABLE'")).unwrap();
        assert_eq!(rows.len(), 1);
        let (_, rows) = tables(&c, Some(""), Some(""), Some(""), Some("%")).unwrap();
        assert_eq!(rows.len(), 3);
        let (cols, rows) = columns(&c, Some("parent"), None, UnboundedSize::default()).unwrap();
        assert_eq!(cols.len(), 18);
        assert_eq!(rows[1][3], text("name"));
        assert_eq!(rows[1][4], Value::Int(st::VARCHAR as i64));
        assert_eq!(rows[1][6], Value::Int(20));
        assert_eq!(rows[1][10], Value::Int(0));
        assert_eq!(primary_keys(&c, "PARENT").unwrap().1.len(), 1);
        let (cols, rows) = foreign_keys(&c, Some("parent"), None).unwrap();
        assert_eq!(cols.len(), 14);
        assert_eq!(rows[0][7], text("parent_id"));
        assert_eq!(rows[0][10], Value::Int(0));
        let (cols, rows) = statistics(&c, "child", true).unwrap();
        assert_eq!(cols.len(), 13);
        assert_eq!(rows.len(), 2);
        assert_eq!(special_columns(&c, "child", UnboundedSize::default()).unwrap().0.len(), 8);
        let (cols, rows) = type_info(0);
        assert_eq!(cols.len(), 19);
        let codes: Vec<_> = rows.iter().map(|r| r[1].clone()).collect();
        let mut sorted = codes.clone();
        sorted.sort_by_key(|v| if let Value::Int(i) = v { *i } else { 0 });
        assert_eq!(codes, sorted);
        assert_eq!(type_info(st::INTEGER).1.len(), 1);
        // Every row has one value per column (the batch builder panics otherwise).
        let requests = [
            CatalogRequest::Tables { catalog: None, schema: None, table: None, table_types: None },
            CatalogRequest::Columns { catalog: None, schema: None, table: None, column: None },
            CatalogRequest::PrimaryKeys { catalog: None, schema: None, table: "child".into() },
            CatalogRequest::ForeignKeys { pk_table: None, fk_table: Some("child".into()) },
            CatalogRequest::Statistics { table: "child".into(), unique_only: false },
            CatalogRequest::SpecialColumns { table: "v".into() },
            CatalogRequest::TypeInfo { data_type: 0 },
        ];
        for r in &requests {
            let (cols, rows) = run(&c, r, UnboundedSize::default()).unwrap();
            assert!(!rows.is_empty(), "{r:?}");
            let mut b = twofactor_protocol::RowBatchBuilder::new(cols.len() as u16);
            for row in &rows {
                row.iter().for_each(|v| b.push(v.as_ref()));
                b.end_row();
            }
        }
    }
}
