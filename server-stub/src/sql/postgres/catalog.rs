//! Catalog result sets from pg_catalog, in the ODBC 3 layouts the SQLite backend answers
//! with (`catalog_layout.rs`). TABLE_CAT is the database, TABLE_SCHEM the schema; search
//! patterns are PostgreSQL LIKE patterns (ODBC's `%`, `_` and `\` mean the same there) and,
//! as names in PostgreSQL, case-sensitive.

use postgres::types::{ToSql, Type};
use twofactor_protocol::{sql_type as st, CatalogRequest, Value};

use super::cursor::row_values;
use super::statement::Target;
use super::types::{self, Decode, PgTypeInfo};
use crate::sql::catalog_layout::{self as layout, is_char, opt_int, radix, small, text, verbose_type, Table};
use crate::sql::column_size::UnboundedSize;

pub type Result<T> = std::result::Result<T, postgres::Error>;

/// A pattern argument: None and "" match everything.
pub fn pattern(p: &Option<String>) -> Option<String> {
    p.as_ref().filter(|s| !s.is_empty()).cloned()
}

pub fn rows(target: &mut Target<'_, '_>, sql: &str, args: &[&(dyn ToSql + Sync)]) -> Result<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    for row in target.query(sql, args)? {
        // Catalog queries select text and integers only, which always decode.
        if let Ok(v) = row_values(&row) {
            out.push(v);
        }
    }
    Ok(out)
}

pub fn run(target: &mut Target<'_, '_>, req: &CatalogRequest, unbounded: UnboundedSize) -> Result<Table> {
    match req {
        CatalogRequest::Tables { catalog, schema, table, table_types } => {
            tables(target, catalog.as_deref(), schema.as_deref(), table.as_deref(), table_types.as_deref())
        }
        CatalogRequest::Columns { schema, table, column, .. } => {
            columns(target, pattern(schema), pattern(table), pattern(column), unbounded)
        }
        CatalogRequest::PrimaryKeys { schema, table, .. } => {
            super::catalog_keys::primary_keys(target, pattern(schema), table)
        }
        CatalogRequest::ForeignKeys { pk_table, fk_table } => {
            super::catalog_keys::foreign_keys(target, pattern(pk_table), pattern(fk_table))
        }
        CatalogRequest::Statistics { table, unique_only } => {
            super::catalog_keys::statistics(target, table, *unique_only)
        }
        CatalogRequest::SpecialColumns { table } => super::catalog_keys::special_columns(target, table, unbounded),
        CatalogRequest::TypeInfo { data_type } => Ok(super::type_info::type_info(*data_type)),
        CatalogRequest::TablePrivileges { table } => super::catalog_keys::table_privileges(target, pattern(table)),
        CatalogRequest::ColumnPrivileges { table, column } => {
            super::catalog_keys::column_privileges(target, table, pattern(column))
        }
        CatalogRequest::Procedures { schema, procedure } => {
            super::catalog_procs::procedures(target, pattern(schema), pattern(procedure))
        }
        CatalogRequest::ProcedureColumns { schema, procedure, column } => super::catalog_procs::procedure_columns(
            target,
            pattern(schema),
            pattern(procedure),
            pattern(column),
            unbounded,
        ),
    }
}

/// Schemas shown as system ones.
const SYSTEM_SCHEMA: &str = "(n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname LIKE 'pg\\_toast%')";

fn tables(
    target: &mut Target<'_, '_>,
    catalog: Option<&str>,
    schema: Option<&str>,
    table: Option<&str>,
    types: Option<&str>,
) -> Result<Table> {
    let columns = layout::tables();
    let empty = |s: Option<&str>| s.is_none_or(str::is_empty);
    // ODBC's special enumerations: catalogs, schemas, table types.
    if catalog == Some("%") && empty(schema) && empty(table) {
        let rows =
            rows(target, "SELECT current_database()::text, NULL::text, NULL::text, NULL::text, NULL::text", &[])?;
        return Ok((columns, rows));
    }
    if schema == Some("%") && empty(catalog) && empty(table) {
        let sql = "SELECT current_database()::text, nspname::text, NULL::text, NULL::text, NULL::text \
                   FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg\\_t%' ORDER BY 2";
        return Ok((columns, rows(target, sql, &[])?));
    }
    if types == Some("%") && empty(catalog) && empty(schema) && empty(table) {
        let rows = ["SYSTEM TABLE", "SYSTEM VIEW", "TABLE", "VIEW"]
            .iter()
            .map(|t| vec![Value::Null, Value::Null, Value::Null, text(t), Value::Null])
            .collect();
        return Ok((columns, rows));
    }
    let wanted: Option<Vec<String>> = types.filter(|t| !t.trim().is_empty() && t.trim() != "%").map(|t| {
        t.split(',')
            .map(|s| s.trim().trim_matches('\'').trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let sql = format!(
        "SELECT current_database()::text, n.nspname::text, c.relname::text, \
           CASE WHEN {SYSTEM_SCHEMA} THEN CASE WHEN c.relkind IN ('v', 'm') THEN 'SYSTEM VIEW' ELSE 'SYSTEM TABLE' END \
                WHEN c.relkind IN ('v', 'm') THEN 'VIEW' ELSE 'TABLE' END, \
           pg_catalog.obj_description(c.oid, 'pg_class')::text \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
           AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%' \
           AND ($1::text IS NULL OR n.nspname LIKE $1) AND ($2::text IS NULL OR c.relname LIKE $2) \
           AND ($3::text IS NULL OR $3 = current_database()) \
         ORDER BY 4, 1, 2, 3"
    );
    let catalog = catalog.filter(|c| !c.is_empty() && *c != "%");
    let schema = schema.filter(|s| !s.is_empty());
    let table = table.filter(|s| !s.is_empty());
    let mut list = rows(target, &sql, &[&schema, &table, &catalog])?;
    if let Some(w) = wanted {
        list.retain(|r| matches!(&r[3], Value::Text(t) if w.iter().any(|x| x == t)));
    }
    Ok((columns, list))
}

/// The ODBC type of a column from pg_type facts: its type (a domain's base type) and
/// modifier, its typtype and typcategory for types the `postgres` crate does not know.
pub fn column_type(oid: u32, typmod: i32, typtype: &str, category: &str) -> (PgTypeInfo, String) {
    match Type::from_oid(oid) {
        Some(ty) => (types::info(&ty, typmod), ty.name().to_owned()),
        None => {
            let info = match (typtype, category) {
                ("e", _) => PgTypeInfo { sql_type: st::VARCHAR, size: 255, digits: 0, decode: Decode::Text },
                (_, "A") => types::info(&Type::TEXT_ARRAY, -1),
                _ => types::info(&Type::TEXT, -1),
            };
            (info, String::new())
        }
    }
}

/// BUFFER_LENGTH: bytes of the default C type.
pub fn buffer_length(sql_type: i16, size: u32) -> i64 {
    match sql_type {
        st::INTEGER | st::REAL => 4,
        st::BIGINT | st::DOUBLE => 8,
        st::SMALLINT => 2,
        st::TINYINT | st::BIT => 1,
        st::TYPE_DATE | st::TYPE_TIME => 6,
        st::TYPE_TIMESTAMP => 16,
        st::DECIMAL | st::NUMERIC => i64::from(size) + 2,
        _ => i64::from(size),
    }
}

/// One SQLColumns row.
#[allow(clippy::too_many_arguments)]
pub fn column_row(
    schema: &str,
    table: &str,
    column: &str,
    info: &PgTypeInfo,
    type_name: &str,
    not_null: bool,
    default: Option<&str>,
    position: i64,
    unbounded: UnboundedSize,
) -> Vec<Value> {
    let size = unbounded.reported(info.size);
    let (sql_data_type, sub) = verbose_type(info.sql_type);
    let digits = matches!(
        info.sql_type,
        st::DECIMAL | st::NUMERIC | st::TYPE_TIMESTAMP | st::TYPE_TIME | st::INTEGER | st::BIGINT | st::SMALLINT
    )
    .then_some(i64::from(info.digits));
    vec![
        Value::Null,
        text(schema),
        text(table),
        text(column),
        small(info.sql_type.into()),
        text(type_name),
        Value::Int(size.into()),
        Value::Int(buffer_length(info.sql_type, size)),
        opt_int(digits),
        opt_int(radix(info.sql_type)),
        small(if not_null { 0 } else { 1 }),
        Value::Null,
        default.map_or(Value::Null, text),
        small(sql_data_type),
        opt_int(sub),
        opt_int(is_char(info.sql_type).then_some(i64::from(size))),
        Value::Int(position),
        text(if not_null { "NO" } else { "YES" }),
    ]
}

/// The query behind SQLColumns and SQLSpecialColumns: one row per column with its type's
/// facts. `$1` schema pattern, `$2` table pattern, `$3` column pattern.
pub const COLUMNS_SQL: &str = "SELECT current_database()::text, n.nspname::text, c.relname::text, a.attname::text, \
       (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END)::oid, \
       (CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)::int4, \
       t.typtype::text, t.typcategory::text, pg_catalog.format_type(a.atttypid, NULL)::text, \
       (a.attnotnull OR t.typnotnull)::bool, pg_catalog.pg_get_expr(d.adbin, d.adrelid)::text, a.attnum::int8, \
       pg_catalog.col_description(c.oid, a.attnum)::text \
     FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
       AND ($1::text IS NULL OR n.nspname LIKE $1) AND ($2::text IS NULL OR c.relname LIKE $2) \
       AND ($3::text IS NULL OR a.attname LIKE $3) \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' \
     ORDER BY 2, 3, a.attnum";

fn columns(
    target: &mut Target<'_, '_>,
    schema: Option<String>,
    table: Option<String>,
    column: Option<String>,
    unbounded: UnboundedSize,
) -> Result<Table> {
    let mut out = Vec::new();
    for r in target.query(COLUMNS_SQL, &[&schema, &table, &column])? {
        let (info, known) = column_type(r.get(4), r.get(5), r.get::<_, &str>(6), r.get::<_, &str>(7));
        let shown: String = r.get(8);
        let type_name = if known.is_empty() { shown } else { known };
        let mut row = column_row(
            r.get(1),
            r.get(2),
            r.get(3),
            &info,
            &type_name,
            r.get(9),
            r.get::<_, Option<&str>>(10),
            r.get(11),
            unbounded,
        );
        row[0] = text(r.get(0));
        row[11] = r.get::<_, Option<&str>>(12).map_or(Value::Null, text);
        out.push(row);
    }
    Ok((layout::columns(), out))
}
