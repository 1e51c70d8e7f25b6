//! SQLProcedures and SQLProcedureColumns from pg_proc (protocol version 3): functions and
//! procedures outside the system schemas, their arguments from proargnames/proargmodes
//! and their result as a SQL_RETURN_VALUE column.

use postgres::types::Type;
use twofactor_protocol::Value;

use super::catalog::{buffer_length, column_type, Result};
use super::statement::Target;
use crate::sql::catalog_layout::{self as layout, is_char, opt_int, radix, small, text, verbose_type, Table};
use crate::sql::column_size::UnboundedSize;

/// `$1` schema pattern, `$2` name pattern; not aggregates or window functions.
const PROCS: &str = "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     WHERE p.prokind IN ('f', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg\\_toast%' \
       AND ($1::text IS NULL OR n.nspname LIKE $1) AND ($2::text IS NULL OR p.proname LIKE $2)";

pub fn procedures(target: &mut Target<'_, '_>, schema: Option<String>, name: Option<String>) -> Result<Table> {
    // PROCEDURE_TYPE: SQL_PT_FUNCTION (2) for functions, SQL_PT_PROCEDURE (1).
    let sql = format!(
        "SELECT current_database()::text, n.nspname::text, p.proname::text, p.pronargs::int4, \
           (SELECT count(*) FROM unnest(p.proargmodes) m WHERE m IN ('o', 'b', 't'))::int4, \
           (CASE WHEN p.proretset THEN 1 ELSE 0 END)::int4, \
           pg_catalog.obj_description(p.oid, 'pg_proc')::text, \
           (CASE p.prokind WHEN 'p' THEN 1 ELSE 2 END)::int2 \
         {PROCS} ORDER BY 2, 3"
    );
    Ok((layout::procedures(), super::catalog::rows(target, &sql, &[&schema, &name])?))
}

/// ODBC's COLUMN_TYPE for an argument mode.
fn column_type_of(mode: &str) -> i64 {
    match mode {
        "o" | "t" => 4, // SQL_PARAM_OUTPUT (table columns are results: 3 would be SQL_RESULT_COL)
        "b" => 2,       // SQL_PARAM_INPUT_OUTPUT
        _ => 1,         // SQL_PARAM_INPUT ("i", "v")
    }
}

pub fn procedure_columns(
    target: &mut Target<'_, '_>,
    schema: Option<String>,
    name: Option<String>,
    column: Option<String>,
    unbounded: UnboundedSize,
) -> Result<Table> {
    // One row per argument (all argument types, modes and names), then the return value.
    let sql = format!(
        "SELECT n.nspname::text, p.proname::text, \
           COALESCE(p.proallargtypes, p.proargtypes::oid[]) AS types, \
           COALESCE(p.proargmodes, array_fill('i'::\"char\", ARRAY[p.pronargs::int]))::text[] AS modes, \
           COALESCE(p.proargnames, '{{}}'::text[]) AS names, p.prorettype, p.prokind::text, p.proretset \
         {PROCS} ORDER BY 1, 2, p.oid"
    );
    let mut out = Vec::new();
    let db: String = target.query("SELECT current_database()::text", &[])?[0].get(0);
    for r in target.query(&sql, &[&schema, &name])? {
        let (nsp, proc_name): (String, String) = (r.get(0), r.get(1));
        let types: Vec<u32> = r.get(2);
        let modes: Vec<String> = r.get(3);
        let names: Vec<String> = r.get(4);
        let ret: u32 = r.get(5);
        let kind: String = r.get(6);
        let mut entries: Vec<(String, i64, u32)> = Vec::new();
        let has_return =
            kind == "f" && ret != Type::VOID.oid() && !modes.iter().any(|m| m == "t" || m == "o" || m == "b");
        if has_return {
            // SQL_RETURN_VALUE (5), named as psqlODBC names it.
            entries.push(("returnValue".into(), 5, ret));
        }
        for (i, oid) in types.iter().enumerate() {
            let mode = modes.get(i).map_or("i", String::as_str);
            let arg = names.get(i).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| format!("${}", i + 1));
            entries.push((arg, column_type_of(mode), *oid));
        }
        for (position, (arg, col_type, oid)) in entries.into_iter().enumerate() {
            if column.as_deref().is_some_and(|p| !crate::sql::catalog_layout::like(p, &arg)) {
                continue;
            }
            let (info, known) = column_type(oid, -1, "", "");
            let type_name = if known.is_empty() { "unknown".to_owned() } else { known };
            let size = unbounded.reported(info.size);
            let (sql_data_type, sub) = verbose_type(info.sql_type);
            out.push(vec![
                text(&db),
                text(&nsp),
                text(&proc_name),
                text(&arg),
                small(col_type),
                small(info.sql_type.into()),
                text(&type_name),
                Value::Int(size.into()),
                Value::Int(buffer_length(info.sql_type, size)),
                opt_int(radix(info.sql_type).map(|_| i64::from(info.digits))),
                opt_int(radix(info.sql_type)),
                small(2),
                Value::Null,
                Value::Null,
                small(sql_data_type),
                opt_int(sub),
                opt_int(is_char(info.sql_type).then_some(i64::from(size))),
                // The return value is 0, arguments count from 1.
                Value::Int(position as i64 + i64::from(!has_return)),
                text(""),
            ]);
        }
    }
    Ok((layout::procedure_columns(), out))
}
