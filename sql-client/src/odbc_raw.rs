//! The calls odbc-api has no safe method for, on its raw handles: attribute 1002 and the
//! two-factor state attributes (0x4000-0x4004), SQLGetInfo, SQLCancel from another thread,
//! and running a statement (or a catalog function) on a statement handle of our own. The
//! only `unsafe` code of the crate.

use std::ptr::null_mut;

use odbc_api::handles::{Connection, Diagnostics, SqlResult, SqlText, Statement, StatementImpl, StatementRef};
use odbc_api::sys::{self, ConnectionAttribute, HStmt, InfoType, Pointer, SqlReturn};
use odbc_api::CursorImpl;

use crate::error::SqlError;

/// Attribute 1002: the second factor (Set: the code; Get: 1 while pending).
pub const SQL_ATTR_TWO_FACTOR: i32 = 1002;
pub const SQL_ATTR_TWO_FACTOR_STATE: i32 = 0x4000;
pub const SQL_ATTR_TWO_FACTOR_METHOD: i32 = 0x4001;
pub const SQL_ATTR_TWO_FACTOR_DESTINATION: i32 = 0x4002;
pub const SQL_ATTR_TWO_FACTOR_SECONDS_LEFT: i32 = 0x4003;
pub const SQL_ATTR_TWO_FACTOR_DESCRIPTION: i32 = 0x4004;

const SQL_NTS: i32 = -3;
/// Enough for any text attribute or SQLGetInfo string of the driver (bytes).
const TEXT_BUFFER_BYTES: usize = 2048;

fn succeeded(rc: SqlReturn) -> bool {
    rc == SqlReturn::SUCCESS || rc == SqlReturn::SUCCESS_WITH_INFO
}

fn check(rc: SqlReturn, handle: &(impl Diagnostics + ?Sized), function: &str) -> Result<(), SqlError> {
    if succeeded(rc) {
        Ok(())
    } else {
        Err(SqlError::from_handle(handle, function))
    }
}

fn utf16z(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// SQLGetConnectAttrW into a 32-bit unsigned integer.
pub fn connect_attr_u32(conn: &Connection<'_>, attr: i32) -> Result<u32, SqlError> {
    let mut value: u32 = 0;
    // Safety: the driver writes at most 4 bytes into `value`, which outlives the call.
    let rc = unsafe {
        sys::SQLGetConnectAttrW(
            conn.as_sys(),
            ConnectionAttribute(attr),
            &mut value as *mut u32 as Pointer,
            4,
            null_mut(),
        )
    };
    check(rc, conn, "SQLGetConnectAttrW")?;
    Ok(value)
}

/// SQLGetConnectAttrW of a text attribute (UTF-16, lengths in bytes).
pub fn connect_attr_text(conn: &Connection<'_>, attr: i32) -> Result<String, SqlError> {
    let mut buf = vec![0u16; TEXT_BUFFER_BYTES / 2];
    let mut len_bytes: i32 = 0;
    // Safety: the buffer holds TEXT_BUFFER_BYTES bytes; the driver NUL-terminates within it.
    let rc = unsafe {
        sys::SQLGetConnectAttrW(
            conn.as_sys(),
            ConnectionAttribute(attr),
            buf.as_mut_ptr() as Pointer,
            TEXT_BUFFER_BYTES as i32,
            &mut len_bytes,
        )
    };
    check(rc, conn, "SQLGetConnectAttrW")?;
    let end = buf.iter().position(|&u| u == 0).unwrap_or(buf.len());
    Ok(String::from_utf16_lossy(&buf[..end]))
}

/// SQLSetConnectAttrW(1002, code, SQL_NTS): submits the second factor.
pub fn submit_code(conn: &Connection<'_>, code: &str) -> Result<(), SqlError> {
    let token = utf16z(code);
    // Safety: a NUL-terminated UTF-16 string that outlives the call; the driver copies it.
    let rc = unsafe {
        sys::SQLSetConnectAttrW(
            conn.as_sys(),
            ConnectionAttribute(SQL_ATTR_TWO_FACTOR),
            token.as_ptr() as Pointer,
            SQL_NTS,
        )
    };
    check(rc, conn, "SQLSetConnectAttrW(1002)")
}

/// SQLGetInfoW of a string-valued information type.
pub fn info_text(conn: &Connection<'_>, info: InfoType) -> Result<String, SqlError> {
    let mut buf = vec![0u16; TEXT_BUFFER_BYTES / 2];
    let mut len_bytes: i16 = 0;
    // Safety: as for connect_attr_text.
    let rc = unsafe {
        sys::SQLGetInfoW(conn.as_sys(), info, buf.as_mut_ptr() as Pointer, TEXT_BUFFER_BYTES as i16, &mut len_bytes)
    };
    check(rc, conn, "SQLGetInfoW")?;
    let end = buf.iter().position(|&u| u == 0).unwrap_or(buf.len());
    Ok(String::from_utf16_lossy(&buf[..end]))
}

/// The raw statement handle as a number (what [`cancel`] takes from another thread).
pub fn statement_id(stmt: &StatementImpl<'_>) -> usize {
    stmt.as_sys().0 as usize
}

/// SQLCancel on the statement `id` from [`statement_id`], called from the Ctrl-C thread
/// while the main thread runs or fetches it. The caller guarantees the handle is still
/// allocated (see cancel.rs); ODBC allows SQLCancel concurrently with the running call.
pub fn cancel(id: usize) -> bool {
    // Safety: `id` is a live statement handle (the registry in cancel.rs frees nothing
    // while a cancel holds it).
    let rc = unsafe { sys::SQLCancel(HStmt(id as *mut std::ffi::c_void)) };
    succeeded(rc)
}

/// What a statement gave: a result set, or the number of rows it changed.
pub enum Outcome<'s> {
    Rows(CursorImpl<StatementRef<'s>>),
    Count(Option<usize>),
}

/// The statement after SQLExecDirect or a catalog function: a cursor when it has columns.
fn outcome<'s>(stmt: &'s mut StatementImpl<'_>) -> Result<Outcome<'s>, SqlError> {
    let cols = stmt.num_result_cols().into_result(stmt).map_err(SqlError::from)?;
    if cols > 0 {
        // Safety: the statement has just been executed and has a result set; the cursor
        // borrows the handle, which the caller frees after it.
        Ok(Outcome::Rows(unsafe { CursorImpl::new(stmt.as_stmt_ref()) }))
    } else {
        let count = stmt.row_count().into_result(stmt).map_err(SqlError::from)?;
        Ok(Outcome::Count(usize::try_from(count).ok()))
    }
}

/// A fresh statement handle on `conn`.
pub fn allocate<'c>(conn: &'c Connection<'_>) -> Result<StatementImpl<'c>, SqlError> {
    conn.allocate_statement().into_result(conn).map_err(SqlError::from)
}

fn failed(stmt: &StatementImpl<'_>, rc: &SqlResult<()>) -> Option<SqlError> {
    match rc {
        SqlResult::Error { function } => Some(SqlError::from_handle(stmt, function)),
        _ => None,
    }
}

/// SQLExecDirectW of `sql` on `stmt`.
pub fn exec_direct<'s>(stmt: &'s mut StatementImpl<'_>, sql: &str) -> Result<Outcome<'s>, SqlError> {
    let text = SqlText::new(sql);
    // Safety: no parameters or buffers are bound to this fresh statement.
    let rc = unsafe { stmt.exec_direct(&text) };
    if let Some(e) = failed(stmt, &rc) {
        return Err(e);
    }
    if matches!(rc, SqlResult::NoData) {
        return Ok(Outcome::Count(Some(0)));
    }
    outcome(stmt)
}

/// SQLTablesW(catalog "", schema "%", `table`, `types`).
pub fn tables<'s>(stmt: &'s mut StatementImpl<'_>, table: &str, types: &str) -> Result<Outcome<'s>, SqlError> {
    let (empty, schema, table, types) = (SqlText::new(""), SqlText::new("%"), SqlText::new(table), SqlText::new(types));
    let rc = stmt.tables(&empty, &schema, &table, &types);
    if let Some(e) = failed(stmt, &rc) {
        return Err(e);
    }
    outcome(stmt)
}

/// SQLColumnsW(catalog "", schema "%", `table`, column "%").
pub fn columns<'s>(stmt: &'s mut StatementImpl<'_>, table: &str) -> Result<Outcome<'s>, SqlError> {
    let (empty, schema, table, column) = (SqlText::new(""), SqlText::new("%"), SqlText::new(table), SqlText::new("%"));
    let rc = stmt.columns(&empty, &schema, &table, &column);
    if let Some(e) = failed(stmt, &rc) {
        return Err(e);
    }
    outcome(stmt)
}
