//! Catalog exports: read the arguments, build the request (`crate::catalog`), run it.

use std::ffi::c_void;

use odbc_sys::SqlReturn;

use super::call;
use super::text::{read_str, AppChar};
use crate::catalog::{self, Query};
use crate::diag::{Completion, OdbcResult};
use crate::stmt::{exec, Statement};

/// Runs the query `build` makes from the statement's SQL_ATTR_METADATA_ID.
pub(super) fn run(stmt: *mut c_void, build: impl FnOnce(bool) -> OdbcResult<Query>) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let mut inner = s.lock_idle()?;
        match build(inner.attrs.metadata_id)? {
            // A request newer than the server's protocol version is never sent to it.
            Query::Server(request) if request.since_version() > s.conn.protocol_version() => {
                let function = catalog::Function::of(&request);
                exec::local_empty_result(s, &mut inner, catalog::empty_layout(function), function)?
            }
            Query::Server(request) => exec::catalog(s, &mut inner, request)?,
            Query::Empty(function) => {
                exec::local_empty_result(s, &mut inner, catalog::empty_layout(function), function)?
            }
        }
        Ok(Completion::Success)
    })
}

pub(super) unsafe fn arg<C: AppChar>(p: *const C, len: i16, what: &str) -> OdbcResult<Option<String>> {
    read_str(p, len.into(), what)
}

#[allow(clippy::too_many_arguments)]
unsafe fn tables<C: AppChar>(
    stmt: *mut c_void,
    c: *const C,
    cl: i16,
    s: *const C,
    sl: i16,
    t: *const C,
    tl: i16,
    ty: *const C,
    tyl: i16,
) -> SqlReturn {
    run(stmt, |m| {
        catalog::tables(
            arg(c, cl, "CatalogName")?,
            arg(s, sl, "SchemaName")?,
            arg(t, tl, "TableName")?,
            arg(ty, tyl, "TableType")?,
            m,
        )
        .map(Query::Server)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLTables(
    stmt: *mut c_void,
    c: *const u8,
    cl: i16,
    s: *const u8,
    sl: i16,
    t: *const u8,
    tl: i16,
    ty: *const u8,
    tyl: i16,
) -> SqlReturn {
    tables(stmt, c, cl, s, sl, t, tl, ty, tyl)
}

#[no_mangle]
pub unsafe extern "system" fn SQLTablesW(
    stmt: *mut c_void,
    c: *const u16,
    cl: i16,
    s: *const u16,
    sl: i16,
    t: *const u16,
    tl: i16,
    ty: *const u16,
    tyl: i16,
) -> SqlReturn {
    tables(stmt, c, cl, s, sl, t, tl, ty, tyl)
}

#[allow(clippy::too_many_arguments)]
unsafe fn columns<C: AppChar>(
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
        catalog::columns(
            arg(c, cl, "CatalogName")?,
            arg(s, sl, "SchemaName")?,
            arg(t, tl, "TableName")?,
            arg(col, coll, "ColumnName")?,
            m,
        )
        .map(Query::Server)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLColumns(
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
    columns(stmt, c, cl, s, sl, t, tl, col, coll)
}

#[no_mangle]
pub unsafe extern "system" fn SQLColumnsW(
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
    columns(stmt, c, cl, s, sl, t, tl, col, coll)
}

unsafe fn primary_keys<C: AppChar>(
    stmt: *mut c_void,
    c: *const C,
    cl: i16,
    s: *const C,
    sl: i16,
    t: *const C,
    tl: i16,
) -> SqlReturn {
    run(stmt, |m| {
        catalog::primary_keys(arg(c, cl, "CatalogName")?, arg(s, sl, "SchemaName")?, arg(t, tl, "TableName")?, m)
            .map(Query::Server)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLPrimaryKeys(
    stmt: *mut c_void,
    c: *const u8,
    cl: i16,
    s: *const u8,
    sl: i16,
    t: *const u8,
    tl: i16,
) -> SqlReturn {
    primary_keys(stmt, c, cl, s, sl, t, tl)
}

#[no_mangle]
pub unsafe extern "system" fn SQLPrimaryKeysW(
    stmt: *mut c_void,
    c: *const u16,
    cl: i16,
    s: *const u16,
    sl: i16,
    t: *const u16,
    tl: i16,
) -> SqlReturn {
    primary_keys(stmt, c, cl, s, sl, t, tl)
}

#[allow(clippy::too_many_arguments)]
unsafe fn statistics<C: AppChar>(
    stmt: *mut c_void,
    c: *const C,
    cl: i16,
    s: *const C,
    sl: i16,
    t: *const C,
    tl: i16,
    unique: u16,
    reserved: u16,
) -> SqlReturn {
    run(stmt, |m| {
        arg(c, cl, "CatalogName")?;
        arg(s, sl, "SchemaName")?;
        catalog::statistics(arg(t, tl, "TableName")?, unique, reserved, m).map(Query::Server)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLStatistics(
    stmt: *mut c_void,
    c: *const u8,
    cl: i16,
    s: *const u8,
    sl: i16,
    t: *const u8,
    tl: i16,
    unique: u16,
    reserved: u16,
) -> SqlReturn {
    statistics(stmt, c, cl, s, sl, t, tl, unique, reserved)
}

#[no_mangle]
pub unsafe extern "system" fn SQLStatisticsW(
    stmt: *mut c_void,
    c: *const u16,
    cl: i16,
    s: *const u16,
    sl: i16,
    t: *const u16,
    tl: i16,
    unique: u16,
    reserved: u16,
) -> SqlReturn {
    statistics(stmt, c, cl, s, sl, t, tl, unique, reserved)
}

#[allow(clippy::too_many_arguments)]
unsafe fn special_columns<C: AppChar>(
    stmt: *mut c_void,
    kind: u16,
    c: *const C,
    cl: i16,
    s: *const C,
    sl: i16,
    t: *const C,
    tl: i16,
    scope: u16,
    nullable: u16,
) -> SqlReturn {
    run(stmt, |m| {
        arg(c, cl, "CatalogName")?;
        arg(s, sl, "SchemaName")?;
        catalog::special_columns(kind as i16, arg(t, tl, "TableName")?, scope as i16, nullable as i16, m)
    })
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLSpecialColumns(
    stmt: *mut c_void,
    kind: u16,
    c: *const u8,
    cl: i16,
    s: *const u8,
    sl: i16,
    t: *const u8,
    tl: i16,
    scope: u16,
    nullable: u16,
) -> SqlReturn {
    special_columns(stmt, kind, c, cl, s, sl, t, tl, scope, nullable)
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLSpecialColumnsW(
    stmt: *mut c_void,
    kind: u16,
    c: *const u16,
    cl: i16,
    s: *const u16,
    sl: i16,
    t: *const u16,
    tl: i16,
    scope: u16,
    nullable: u16,
) -> SqlReturn {
    special_columns(stmt, kind, c, cl, s, sl, t, tl, scope, nullable)
}

#[allow(clippy::too_many_arguments)]
unsafe fn foreign_keys<C: AppChar>(
    stmt: *mut c_void,
    pc: *const C,
    pcl: i16,
    ps: *const C,
    psl: i16,
    pt: *const C,
    ptl: i16,
    fc: *const C,
    fcl: i16,
    fs: *const C,
    fsl: i16,
    ft: *const C,
    ftl: i16,
) -> SqlReturn {
    run(stmt, |m| {
        for (p, l, what) in [
            (pc, pcl, "PKCatalogName"),
            (ps, psl, "PKSchemaName"),
            (fc, fcl, "FKCatalogName"),
            (fs, fsl, "FKSchemaName"),
        ] {
            arg(p, l, what)?;
        }
        catalog::foreign_keys(arg(pt, ptl, "PKTableName")?, arg(ft, ftl, "FKTableName")?, m).map(Query::Server)
    })
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLForeignKeys(
    stmt: *mut c_void,
    pc: *const u8,
    pcl: i16,
    ps: *const u8,
    psl: i16,
    pt: *const u8,
    ptl: i16,
    fc: *const u8,
    fcl: i16,
    fs: *const u8,
    fsl: i16,
    ft: *const u8,
    ftl: i16,
) -> SqlReturn {
    foreign_keys(stmt, pc, pcl, ps, psl, pt, ptl, fc, fcl, fs, fsl, ft, ftl)
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLForeignKeysW(
    stmt: *mut c_void,
    pc: *const u16,
    pcl: i16,
    ps: *const u16,
    psl: i16,
    pt: *const u16,
    ptl: i16,
    fc: *const u16,
    fcl: i16,
    fs: *const u16,
    fsl: i16,
    ft: *const u16,
    ftl: i16,
) -> SqlReturn {
    foreign_keys(stmt, pc, pcl, ps, psl, pt, ptl, fc, fcl, fs, fsl, ft, ftl)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetTypeInfo(stmt: *mut c_void, data_type: i16) -> SqlReturn {
    run(stmt, |_| catalog::type_info(data_type).map(Query::Server))
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetTypeInfoW(stmt: *mut c_void, data_type: i16) -> SqlReturn {
    run(stmt, |_| catalog::type_info(data_type).map(Query::Server))
}
