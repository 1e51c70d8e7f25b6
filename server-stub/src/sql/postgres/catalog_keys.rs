//! SQLPrimaryKeys, SQLForeignKeys, SQLStatistics, SQLSpecialColumns and the privilege
//! catalogs from pg_constraint, pg_index and information_schema. A table named without a
//! schema is the one the session's search_path finds (`pg_table_is_visible`).

use twofactor_protocol::Value;

use super::catalog::{buffer_length, column_type, rows, Result, COLUMNS_SQL};
use super::statement::Target;
use crate::sql::catalog_layout::{self as layout, opt_int, small, text, Table};
use crate::sql::column_size::UnboundedSize;

/// `$1` schema (or NULL: visible), `$2` table name, for a table aliased `c` in schema `n`.
const ONE_TABLE: &str =
    "c.relname = $2 AND (($1::text IS NULL AND pg_catalog.pg_table_is_visible(c.oid)) OR n.nspname = $1)";

pub fn primary_keys(target: &mut Target<'_, '_>, schema: Option<String>, table: &str) -> Result<Table> {
    let sql = format!(
        "SELECT current_database()::text, n.nspname::text, c.relname::text, a.attname::text, k.n::int2, con.conname::text \
         FROM pg_catalog.pg_constraint con \
         JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
         WHERE con.contype = 'p' AND {ONE_TABLE} ORDER BY 2, 3, 5"
    );
    Ok((layout::primary_keys(), rows(target, &sql, &[&schema, &table])?))
}

pub fn foreign_keys(target: &mut Target<'_, '_>, pk_table: Option<String>, fk_table: Option<String>) -> Result<Table> {
    // Rules: CASCADE 0, RESTRICT 1, SET NULL 2, NO ACTION 3, SET DEFAULT 4; deferrability:
    // INITIALLY DEFERRED 5, INITIALLY IMMEDIATE 6, NOT DEFERRABLE 7.
    let rule = |col: &str| {
        format!(
            "(CASE {col} WHEN 'c' THEN 0 WHEN 'r' THEN 1 WHEN 'n' THEN 2 WHEN 'a' THEN 3 WHEN 'd' THEN 4 END)::int2"
        )
    };
    let sql = format!(
        "SELECT current_database()::text, pn.nspname::text, pc.relname::text, pa.attname::text, \
           current_database()::text, fn.nspname::text, fc.relname::text, fa.attname::text, k.n::int2, \
           {}, {}, con.conname::text, pk.conname::text, \
           (CASE WHEN con.condeferred THEN 5 WHEN con.condeferrable THEN 6 ELSE 7 END)::int2 \
         FROM pg_catalog.pg_constraint con \
         JOIN pg_catalog.pg_class fc ON fc.oid = con.conrelid \
         JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace \
         JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid \
         JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace \
         CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(fk_att, pk_att, n) \
         JOIN pg_catalog.pg_attribute fa ON fa.attrelid = fc.oid AND fa.attnum = k.fk_att \
         JOIN pg_catalog.pg_attribute pa ON pa.attrelid = pc.oid AND pa.attnum = k.pk_att \
         LEFT JOIN pg_catalog.pg_constraint pk ON pk.conindid = con.conindid AND pk.contype IN ('p', 'u') \
           AND pk.conrelid = con.confrelid \
         WHERE con.contype = 'f' \
           AND ($1::text IS NULL OR (pc.relname = $1 AND pg_catalog.pg_table_is_visible(pc.oid))) \
           AND ($2::text IS NULL OR (fc.relname = $2 AND pg_catalog.pg_table_is_visible(fc.oid))) \
         ORDER BY {} , k.n",
        rule("con.confupdtype"),
        rule("con.confdeltype"),
        // ODBC orders by the foreign key's table when the primary key's is given, and
        // by the primary key's table otherwise.
        if pk_table.is_some() { "6, 7, 12" } else { "2, 3, 12" }
    );
    Ok((layout::foreign_keys(), rows(target, &sql, &[&pk_table, &fk_table])?))
}

pub fn statistics(target: &mut Target<'_, '_>, table: &str, unique_only: bool) -> Result<Table> {
    let none: Option<String> = None;
    // SQL_TABLE_STAT (0) first, then each index column; SQL_INDEX_OTHER (3).
    let sql = format!(
        "SELECT current_database()::text, n.nspname::text, c.relname::text, NULL::int2, NULL::text, NULL::text, \
           0::int2, NULL::int2, NULL::text, NULL::text, c.reltuples::int4, c.relpages::int4, NULL::text, 0 AS o1, 0 AS o2, ''::text AS o3 \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {ONE_TABLE} \
         UNION ALL \
         SELECT current_database()::text, n.nspname::text, c.relname::text, (NOT i.indisunique)::int::int2, n.nspname::text, \
           ic.relname::text, 3::int2, k.n::int2, \
           COALESCE(a.attname::text, pg_catalog.pg_get_indexdef(i.indexrelid, k.n::int4, true)), \
           (CASE WHEN i.indoption[k.n - 1] & 1 = 1 THEN 'D' ELSE 'A' END)::text, \
           ic.reltuples::int4, ic.relpages::int4, pg_catalog.pg_get_expr(i.indpred, i.indrelid)::text, \
           1, (NOT i.indisunique)::int, ic.relname::text \
         FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum AND k.attnum > 0 \
         WHERE {ONE_TABLE} AND k.n <= i.indnkeyatts AND ($3 = false OR i.indisunique) \
         ORDER BY 14, 15, 16, 8"
    );
    let mut list = rows(target, &sql, &[&none, &table, &unique_only])?;
    for r in &mut list {
        r.truncate(13);
    }
    Ok((layout::statistics(), list))
}

/// SQLSpecialColumns (SQL_BEST_ROWID): the primary key's columns, or those of a unique
/// index on NOT NULL columns; SCOPE session (2), PSEUDO_COLUMN not pseudo (1).
pub fn special_columns(target: &mut Target<'_, '_>, table: &str, unbounded: UnboundedSize) -> Result<Table> {
    let none: Option<String> = None;
    let key_sql = format!(
        "SELECT array_agg(a.attname::text ORDER BY k.n) FROM ( \
           SELECT i.indrelid, i.indkey, i.indisprimary FROM pg_catalog.pg_index i \
           JOIN pg_catalog.pg_class c ON c.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE {ONE_TABLE} AND i.indisunique AND i.indpred IS NULL AND 0 <> ALL (i.indkey::int2[]) \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute x WHERE x.attrelid = i.indrelid \
               AND x.attnum = ANY (i.indkey::int2[]) AND NOT x.attnotnull) \
           ORDER BY i.indisprimary DESC, i.indexrelid LIMIT 1) best \
         CROSS JOIN LATERAL unnest(best.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = best.indrelid AND a.attnum = k.attnum"
    );
    let key: Option<Vec<String>> = target.query(&key_sql, &[&none, &table])?.first().and_then(|r| r.get(0));
    let mut out = Vec::new();
    if let Some(key) = key {
        let table_pattern = table.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        for r in target.query(COLUMNS_SQL, &[&none, &table_pattern, &none])? {
            let name: &str = r.get(3);
            if !key.iter().any(|k| k == name) {
                continue;
            }
            let (info, known) = column_type(r.get(4), r.get(5), r.get::<_, &str>(6), r.get::<_, &str>(7));
            let size = unbounded.reported(info.size);
            out.push(vec![
                small(2),
                text(name),
                small(info.sql_type.into()),
                text(if known.is_empty() { r.get::<_, &str>(8) } else { &known }),
                Value::Int(size.into()),
                Value::Int(buffer_length(info.sql_type, size)),
                opt_int(Some(i64::from(info.digits))),
                small(1),
            ]);
        }
    }
    Ok((layout::special_columns(), out))
}

pub fn table_privileges(target: &mut Target<'_, '_>, table: Option<String>) -> Result<Table> {
    let sql = "SELECT table_catalog::text, table_schema::text, table_name::text, grantor::text, grantee::text, \
                 privilege_type::text, is_grantable::text \
               FROM information_schema.table_privileges \
               WHERE ($1::text IS NULL OR table_name::text LIKE $1) \
                 AND table_schema NOT IN ('pg_catalog', 'information_schema') \
               ORDER BY 2, 3, 6, 5";
    Ok((layout::table_privileges(), rows(target, sql, &[&table])?))
}

pub fn column_privileges(target: &mut Target<'_, '_>, table: &str, column: Option<String>) -> Result<Table> {
    let sql = "SELECT table_catalog::text, table_schema::text, table_name::text, column_name::text, grantor::text, \
                 grantee::text, privilege_type::text, is_grantable::text \
               FROM information_schema.column_privileges \
               WHERE table_name::text = $1 AND ($2::text IS NULL OR column_name::text LIKE $2) \
               ORDER BY 2, 3, 4, 7, 6";
    Ok((layout::column_privileges(), rows(target, sql, &[&table, &column])?))
}
