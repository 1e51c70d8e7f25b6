//! SQLProcedures, SQLProcedureColumns, SQLTablePrivileges, SQLColumnPrivileges: ANSI and
//! wide exports of the rarer catalog functions (`crate::catalog` builds each query).

use std::ffi::c_void;

use odbc_sys::SqlReturn;

use super::catalog::{arg, run};
use super::text::AppChar;
use crate::catalog;

#[allow(clippy::too_many_arguments)]
unsafe fn procedures<C: AppChar>(
    stmt: *mut c_void,
    c: *const C,
    cl: i16,
    s: *const C,
    sl: i16,
    p: *const C,
    pl: i16,
) -> SqlReturn {
    run(stmt, |m| {
        arg(c, cl, "CatalogName")?;
        let schema = arg(s, sl, "SchemaName")?;
        catalog::procedures(&schema, &arg(p, pl, "ProcName")?, None, m)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLProcedures(
    stmt: *mut c_void,
    c: *const u8,
    cl: i16,
    s: *const u8,
    sl: i16,
    p: *const u8,
    pl: i16,
) -> SqlReturn {
    procedures(stmt, c, cl, s, sl, p, pl)
}

#[no_mangle]
pub unsafe extern "system" fn SQLProceduresW(
    stmt: *mut c_void,
    c: *const u16,
    cl: i16,
    s: *const u16,
    sl: i16,
    p: *const u16,
    pl: i16,
) -> SqlReturn {
    procedures(stmt, c, cl, s, sl, p, pl)
}

#[allow(clippy::too_many_arguments)]
unsafe fn procedure_columns<C: AppChar>(
    stmt: *mut c_void,
    c: *const C,
    cl: i16,
    s: *const C,
    sl: i16,
    p: *const C,
    pl: i16,
    col: *const C,
    coll: i16,
) -> SqlReturn {
    run(stmt, |m| {
        arg(c, cl, "CatalogName")?;
        let schema = arg(s, sl, "SchemaName")?;
        let procedure = arg(p, pl, "ProcName")?;
        catalog::procedures(&schema, &procedure, Some(&arg(col, coll, "ColumnName")?), m)
    })
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLProcedureColumns(
    stmt: *mut c_void,
    c: *const u8,
    cl: i16,
    s: *const u8,
    sl: i16,
    p: *const u8,
    pl: i16,
    col: *const u8,
    coll: i16,
) -> SqlReturn {
    procedure_columns(stmt, c, cl, s, sl, p, pl, col, coll)
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLProcedureColumnsW(
    stmt: *mut c_void,
    c: *const u16,
    cl: i16,
    s: *const u16,
    sl: i16,
    p: *const u16,
    pl: i16,
    col: *const u16,
    coll: i16,
) -> SqlReturn {
    procedure_columns(stmt, c, cl, s, sl, p, pl, col, coll)
}

unsafe fn table_privileges<C: AppChar>(
    stmt: *mut c_void,
    c: *const C,
    cl: i16,
    s: *const C,
    sl: i16,
    t: *const C,
    tl: i16,
) -> SqlReturn {
    run(stmt, |m| {
        arg(c, cl, "CatalogName")?;
        arg(s, sl, "SchemaName")?;
        catalog::table_privileges(arg(t, tl, "TableName")?, m)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLTablePrivileges(
    stmt: *mut c_void,
    c: *const u8,
    cl: i16,
    s: *const u8,
    sl: i16,
    t: *const u8,
    tl: i16,
) -> SqlReturn {
    table_privileges(stmt, c, cl, s, sl, t, tl)
}

#[no_mangle]
pub unsafe extern "system" fn SQLTablePrivilegesW(
    stmt: *mut c_void,
    c: *const u16,
    cl: i16,
    s: *const u16,
    sl: i16,
    t: *const u16,
    tl: i16,
) -> SqlReturn {
    table_privileges(stmt, c, cl, s, sl, t, tl)
}

#[allow(clippy::too_many_arguments)]
unsafe fn column_privileges<C: AppChar>(
    stmt: *mut c_void,
    c: *const C,
    cl: i16,
    s: *const C,
    sl: i16,
    t: *const C,
    tl: i16,
    col: *const C,
    coll: i16,
) -> SqlReturn {
    run(stmt, |m| {
        arg(c, cl, "CatalogName")?;
        arg(s, sl, "SchemaName")?;
        catalog::column_privileges(arg(t, tl, "TableName")?, arg(col, coll, "ColumnName")?, m)
    })
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLColumnPrivileges(
    stmt: *mut c_void,
    c: *const u8,
    cl: i16,
    s: *const u8,
    sl: i16,
    t: *const u8,
    tl: i16,
    col: *const u8,
    coll: i16,
) -> SqlReturn {
    column_privileges(stmt, c, cl, s, sl, t, tl, col, coll)
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLColumnPrivilegesW(
    stmt: *mut c_void,
    c: *const u16,
    cl: i16,
    s: *const u16,
    sl: i16,
    t: *const u16,
    tl: i16,
    col: *const u16,
    coll: i16,
) -> SqlReturn {
    column_privileges(stmt, c, cl, s, sl, t, tl, col, coll)
}
