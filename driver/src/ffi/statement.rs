//! Statement exports: execution, result description, attributes, cursor names.

use std::ffi::c_void;

use odbc_sys::SqlReturn;

use super::params::{build_params, report_params, Params};
use super::text::{read_required, read_str, write_fixed, write_opt, write_str, write_str_bytes, AppChar};
use super::{call, Warnings};
use crate::desc::FieldValue;
use crate::diag::{Completion, OdbcError, OdbcResult, SqlState};
use crate::stmt::dae::{DaeExec, DataAtExec};
use crate::stmt::{attrs, columns, exec, Inner, Phase, Statement};

const SQL_CLOSE: u16 = 0;
const SQL_DROP: u16 = 1;
const SQL_UNBIND: u16 = 2;
const SQL_RESET_PARAMS: u16 = 3;

#[no_mangle]
pub unsafe extern "system" fn SQLFreeStmt(stmt: *mut c_void, option: u16) -> SqlReturn {
    if option == SQL_DROP {
        return super::guard(|| {
            if crate::stmt::free(stmt as usize) {
                SqlReturn::SUCCESS
            } else {
                SqlReturn::INVALID_HANDLE
            }
        });
    }
    call::<Statement, _>(stmt, |s, _| {
        let mut inner = s.lock();
        // Closing or resetting a statement that awaits data-at-execution values ends
        // that sequence: nothing of it was sent.
        inner.dae = None;
        match option {
            SQL_CLOSE => s.close_cursor(&mut inner)?,
            SQL_UNBIND => s.unbind_columns(&inner),
            SQL_RESET_PARAMS => s.reset_params(&inner),
            other => {
                return Err(OdbcError::new(SqlState::INVALID_ATTRIBUTE, format!("option type out of range: {other}")))
            }
        }
        Ok(Completion::Success)
    })
}

/// Statement text: SQL_NTS or a positive length in characters.
unsafe fn statement_text<C: AppChar>(text: *const C, len: i32) -> OdbcResult<String> {
    if len == 0 || (len < 0 && len as isize != super::text::SQL_NTS) {
        return Err(OdbcError::buffer_length("TextLength", len.into()));
    }
    read_required(text, len as isize, "StatementText")
}

/// Runs an execution with the bound parameters. With data-at-execution parameters it
/// answers SQL_NEED_DATA and the last SQLParamData runs it (`run_execution`).
unsafe fn execute_with_params(s: &Statement, inner: &mut Inner, how: DaeExec) -> OdbcResult<Completion> {
    if inner.cursor.is_some() {
        return Err(OdbcError::new(
            SqlState::INVALID_CURSOR_STATE,
            "invalid cursor state: a result set is open; close the cursor first",
        ));
    }
    match build_params(s, inner, how == DaeExec::Prepared, None)? {
        Params::NeedData(pending) => {
            inner.dae = Some(DataAtExec::new(how, pending));
            Ok(Completion::NeedData)
        }
        Params::Ready(params, sent) => run_execution(s, inner, how, params, &sent),
    }
}

/// Sends the execution and reports the parameter statuses.
pub(super) unsafe fn run_execution(
    s: &Statement,
    inner: &mut Inner,
    how: DaeExec,
    params: twofactor_protocol::RowBatch,
    sent: &[bool],
) -> OdbcResult<Completion> {
    let result = match how {
        DaeExec::Direct(sql) => exec::exec_direct(s, inner, sql, params),
        DaeExec::Prepared => exec::execute(s, inner, params),
    };
    report_params(s, sent, result.is_ok());
    result?;
    if let Ok(mut d) = s.diagnostics().lock() {
        d.row_count = inner.row_count;
    }
    Ok(Completion::Success)
}

unsafe fn exec_direct<C: AppChar>(stmt: *mut c_void, text: *const C, len: i32) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let sql = statement_text(text, len)?;
        let mut inner = s.lock_idle()?;
        execute_with_params(s, &mut inner, DaeExec::Direct(sql))
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLExecDirect(stmt: *mut c_void, text: *const u8, len: i32) -> SqlReturn {
    exec_direct(stmt, text, len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLExecDirectW(stmt: *mut c_void, text: *const u16, len: i32) -> SqlReturn {
    exec_direct(stmt, text, len)
}

unsafe fn prepare<C: AppChar>(stmt: *mut c_void, text: *const C, len: i32) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let sql = statement_text(text, len)?;
        let mut inner = s.lock_idle()?;
        exec::prepare(s, &mut inner, sql)?;
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLPrepare(stmt: *mut c_void, text: *const u8, len: i32) -> SqlReturn {
    prepare(stmt, text, len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLPrepareW(stmt: *mut c_void, text: *const u16, len: i32) -> SqlReturn {
    prepare(stmt, text, len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLExecute(stmt: *mut c_void) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let mut inner = s.lock_idle()?;
        if inner.prepared_id.is_none() {
            return Err(OdbcError::sequence("SQLExecute called before SQLPrepare"));
        }
        execute_with_params(s, &mut inner, DaeExec::Prepared)
    })
}

fn require_description(inner: &Inner) -> OdbcResult<()> {
    match inner.phase {
        Phase::Allocated if inner.cursor.is_none() => {
            Err(OdbcError::sequence("the statement is neither prepared nor executed"))
        }
        _ => Ok(()),
    }
}

#[no_mangle]
pub unsafe extern "system" fn SQLNumResultCols(stmt: *mut c_void, count: *mut i16) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        if count.is_null() {
            return Err(OdbcError::null_pointer("ColumnCountPtr"));
        }
        let inner = s.lock_idle()?;
        require_description(&inner)?;
        let n = s.ird().lock().columns.len();
        count.write_unaligned(n.min(i16::MAX as usize) as i16);
        Ok(Completion::Success)
    })
}

/// Runs `f` on the column `n` (1-based) of the current result or prepared statement and
/// the number of columns, under the IRD's lock: the column's names are not copied (pyodbc
/// describes every column of every result).
fn with_column<R>(
    s: &Statement,
    inner: &Inner,
    n: u16,
    f: impl FnOnce(&twofactor_protocol::ColumnDesc, usize) -> OdbcResult<R>,
) -> OdbcResult<R> {
    require_description(inner)?;
    let ird = s.ird().lock();
    if ird.columns.is_empty() {
        return Err(OdbcError::new(SqlState(*b"07005"), "prepared statement not a cursor-specification"));
    }
    let count = ird.columns.len();
    match usize::from(n).checked_sub(1).and_then(|i| ird.columns.get(i)) {
        Some(c) => f(c, count),
        None => Err(OdbcError::new(
            SqlState::INVALID_DESCRIPTOR_INDEX,
            format!("invalid descriptor index {n}: the result has {count} columns"),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn describe_col<C: AppChar>(
    stmt: *mut c_void,
    n: u16,
    name: *mut C,
    buffer_length: i16,
    name_length: *mut i16,
    data_type: *mut i16,
    size: *mut usize,
    digits: *mut i16,
    nullable: *mut i16,
) -> SqlReturn {
    call::<Statement, _>(stmt, |s, w| {
        let inner = s.lock_idle()?;
        let version = s.conn.odbc_version();
        with_column(s, &inner, n, |c, _| {
            if write_str(&c.name, name, buffer_length.into(), name_length, "ColumnName")? {
                w.push(OdbcError::truncated("column name"));
            }
            write_opt(data_type, columns::app_sql_type(c.sql_type, version));
            write_opt(size, columns::column_size(c) as usize);
            write_opt(digits, c.decimal_digits);
            write_opt(nullable, c.nullable.odbc_code());
            Ok(Completion::Success)
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLDescribeCol(
    stmt: *mut c_void,
    n: u16,
    name: *mut u8,
    buffer_length: i16,
    name_length: *mut i16,
    data_type: *mut i16,
    size: *mut usize,
    digits: *mut i16,
    nullable: *mut i16,
) -> SqlReturn {
    describe_col(stmt, n, name, buffer_length, name_length, data_type, size, digits, nullable)
}

#[no_mangle]
pub unsafe extern "system" fn SQLDescribeColW(
    stmt: *mut c_void,
    n: u16,
    name: *mut u16,
    buffer_length: i16,
    name_length: *mut i16,
    data_type: *mut i16,
    size: *mut usize,
    digits: *mut i16,
    nullable: *mut i16,
) -> SqlReturn {
    describe_col(stmt, n, name, buffer_length, name_length, data_type, size, digits, nullable)
}

/// SQLColAttribute: character attributes in bytes, in both entry points.
unsafe fn col_attribute<C: AppChar>(
    stmt: *mut c_void,
    n: u16,
    field: u16,
    text: *mut c_void,
    buffer_length: i16,
    text_length: *mut i16,
    number: *mut isize,
) -> SqlReturn {
    call::<Statement, _>(stmt, |s, w| {
        let inner = s.lock_idle()?;
        let value = if field == columns::field::COUNT || field == columns::field::COLUMN_COUNT {
            require_description(&inner)?;
            FieldValue::Int(s.ird().lock().columns.len() as i64)
        } else {
            let version = s.conn.odbc_version();
            with_column(s, &inner, n, |c, count| columns::attribute(c, field, count, version))?
        };
        match value {
            FieldValue::Str(v) => {
                if write_str_bytes(&v, text as *mut C, buffer_length.into(), text_length, "CharacterAttributePtr")? {
                    w.push(OdbcError::truncated("column attribute"));
                }
            }
            FieldValue::Int(v) => write_opt(number, v as isize),
            FieldValue::Ptr(p) => write_opt(number, p as isize),
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLColAttribute(
    stmt: *mut c_void,
    n: u16,
    field: u16,
    text: *mut c_void,
    buffer_length: i16,
    text_length: *mut i16,
    number: *mut isize,
) -> SqlReturn {
    col_attribute::<u8>(stmt, n, field, text, buffer_length, text_length, number)
}

#[no_mangle]
pub unsafe extern "system" fn SQLColAttributeW(
    stmt: *mut c_void,
    n: u16,
    field: u16,
    text: *mut c_void,
    buffer_length: i16,
    text_length: *mut i16,
    number: *mut isize,
) -> SqlReturn {
    col_attribute::<u16>(stmt, n, field, text, buffer_length, text_length, number)
}

#[no_mangle]
pub unsafe extern "system" fn SQLRowCount(stmt: *mut c_void, count: *mut isize) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        if count.is_null() {
            return Err(OdbcError::null_pointer("RowCountPtr"));
        }
        let inner = s.lock_idle()?;
        if inner.phase == Phase::Allocated && inner.cursor.is_none() && inner.sql.is_none() {
            return Err(OdbcError::sequence("the statement has not been executed"));
        }
        count.write_unaligned(inner.row_count as isize);
        Ok(Completion::Success)
    })
}

/// One result per statement: the next one never exists, and the current one closes.
#[no_mangle]
pub unsafe extern "system" fn SQLMoreResults(stmt: *mut c_void) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let mut inner = s.lock_idle()?;
        s.close_cursor(&mut inner)?;
        Ok(Completion::NoData)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLCloseCursor(stmt: *mut c_void) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let mut inner = s.lock_idle()?;
        if inner.cursor.is_none() {
            return Err(OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: no cursor is open"));
        }
        s.close_cursor(&mut inner)?;
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLCancel(stmt: *mut c_void) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| exec::cancel(s).map(|_| Completion::Success))
}

unsafe fn get_stmt_attr(stmt: *mut c_void, attr: i32, value: *mut c_void, length: *mut i32, narrow: bool) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        if value.is_null() {
            return Err(OdbcError::null_pointer("ValuePtr"));
        }
        let inner = s.lock_idle()?;
        let v = attrs::get(s, &inner, attr)?;
        if narrow && !attrs::is_pointer(attr) {
            write_fixed(value, v.min(u32::MAX as usize) as u32, length);
        } else {
            write_fixed(value, v, length);
        }
        Ok(Completion::Success)
    })
}

unsafe fn set_stmt_attr(stmt: *mut c_void, attr: i32, value: *mut c_void) -> SqlReturn {
    call::<Statement, _>(stmt, |s, w: &mut Warnings| {
        let mut inner = s.lock_idle()?;
        if let Some(warning) = attrs::set(s, &mut inner, attr, value as usize)? {
            w.push(warning);
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetStmtAttr(
    stmt: *mut c_void,
    attr: i32,
    value: *mut c_void,
    _len: i32,
    length: *mut i32,
) -> SqlReturn {
    get_stmt_attr(stmt, attr, value, length, false)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetStmtAttrW(
    stmt: *mut c_void,
    attr: i32,
    value: *mut c_void,
    _len: i32,
    length: *mut i32,
) -> SqlReturn {
    get_stmt_attr(stmt, attr, value, length, false)
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetStmtAttr(stmt: *mut c_void, attr: i32, value: *mut c_void, _len: i32) -> SqlReturn {
    set_stmt_attr(stmt, attr, value)
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetStmtAttrW(
    stmt: *mut c_void,
    attr: i32,
    value: *mut c_void,
    _len: i32,
) -> SqlReturn {
    set_stmt_attr(stmt, attr, value)
}

/// ODBC 2: 32-bit option values.
#[no_mangle]
pub unsafe extern "system" fn SQLGetStmtOption(stmt: *mut c_void, option: u16, value: *mut c_void) -> SqlReturn {
    get_stmt_attr(stmt, option.into(), value, std::ptr::null_mut(), true)
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetStmtOption(stmt: *mut c_void, option: u16, value: usize) -> SqlReturn {
    set_stmt_attr(stmt, option.into(), value as *mut c_void)
}

unsafe fn get_cursor_name<C: AppChar>(
    stmt: *mut c_void,
    name: *mut C,
    buffer_length: i16,
    length: *mut i16,
) -> SqlReturn {
    call::<Statement, _>(stmt, |s, w| {
        let inner = s.lock_idle()?;
        let generated;
        let n = match &inner.cursor_name {
            Some(n) => n.as_str(),
            None => {
                generated = format!("SQL_CUR{}", s.serial);
                generated.as_str()
            }
        };
        if write_str(n, name, buffer_length.into(), length, "CursorName")? {
            w.push(OdbcError::truncated("cursor name"));
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetCursorName(
    stmt: *mut c_void,
    name: *mut u8,
    buffer_length: i16,
    length: *mut i16,
) -> SqlReturn {
    get_cursor_name(stmt, name, buffer_length, length)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetCursorNameW(
    stmt: *mut c_void,
    name: *mut u16,
    buffer_length: i16,
    length: *mut i16,
) -> SqlReturn {
    get_cursor_name(stmt, name, buffer_length, length)
}

unsafe fn set_cursor_name<C: AppChar>(stmt: *mut c_void, name: *const C, len: i16) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let n = read_str(name, len.into(), "CursorName")?.ok_or_else(|| OdbcError::null_pointer("CursorName"))?;
        let upper = n.to_ascii_uppercase();
        if n.is_empty() || n.len() > 128 || upper.starts_with("SQLCUR") || upper.starts_with("SQL_CUR") {
            return Err(OdbcError::new(SqlState::INVALID_CURSOR_NAME, format!("invalid cursor name {n:?}")));
        }
        let mut inner = s.lock_idle()?;
        if inner.cursor.is_some() {
            return Err(OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: a cursor is open"));
        }
        inner.cursor_name = Some(n);
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetCursorName(stmt: *mut c_void, name: *const u8, len: i16) -> SqlReturn {
    set_cursor_name(stmt, name, len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetCursorNameW(stmt: *mut c_void, name: *const u16, len: i16) -> SqlReturn {
    set_cursor_name(stmt, name, len)
}
