//! SQLGetDiagRec, SQLGetDiagField and ODBC 2's SQLError. Reading diagnostics never
//! adds or clears records (SQLError consumes the one it returns, as ODBC 2 defines).

use std::ffi::c_void;

use odbc_sys::SqlReturn;

use super::guard;
use super::text::{write_fixed, write_opt, write_str, write_str_bytes, AppChar};
use crate::diag::{Diagnostics, OdbcError};
use crate::handles::{self, HandleKind, Object, RawHandle};

const SQL_DIAG_RETURNCODE: i16 = 1;
const SQL_DIAG_NUMBER: i16 = 2;
const SQL_DIAG_ROW_COUNT: i16 = 3;
const SQL_DIAG_SQLSTATE: i16 = 4;
const SQL_DIAG_NATIVE: i16 = 5;
const SQL_DIAG_MESSAGE_TEXT: i16 = 6;
const SQL_DIAG_DYNAMIC_FUNCTION: i16 = 7;
const SQL_DIAG_CLASS_ORIGIN: i16 = 8;
const SQL_DIAG_SUBCLASS_ORIGIN: i16 = 9;
const SQL_DIAG_CONNECTION_NAME: i16 = 10;
const SQL_DIAG_SERVER_NAME: i16 = 11;
const SQL_DIAG_DYNAMIC_FUNCTION_CODE: i16 = 12;
const SQL_DIAG_CURSOR_ROW_COUNT: i16 = -1249;
const SQL_DIAG_ROW_NUMBER: i16 = -1248;
const SQL_DIAG_COLUMN_NUMBER: i16 = -1247;
const SQL_NO_ROW_NUMBER: isize = -1;
const SQL_NO_COLUMN_NUMBER: i32 = -1;

fn kind_of(handle_type: i16) -> Option<HandleKind> {
    Some(match handle_type {
        1 => HandleKind::Environment,
        2 => HandleKind::Connection,
        3 => HandleKind::Statement,
        4 => HandleKind::Descriptor,
        _ => return None,
    })
}

fn lookup(handle_type: i16, handle: *mut c_void) -> Option<Object> {
    let kind = kind_of(handle_type)?;
    handles::lookup_any(handle as RawHandle).filter(|o| o.kind() == kind)
}

/// 2 when the application declared ODBC 2: its SQLSTATEs are the ODBC 2 ones.
fn odbc_version(object: &Object) -> u32 {
    match object {
        Object::Environment(e) => e.odbc_version(),
        Object::Connection(c) => c.odbc_version(),
        Object::Statement(s) => s.conn.odbc_version(),
        Object::Descriptor(d) => d.conn.odbc_version(),
    }
}

fn server_name(object: &Object) -> String {
    match object {
        Object::Connection(c) => c.info().map(|i| i.server_name).unwrap_or_default(),
        _ => String::new(),
    }
}

/// "ISO 9075" for classes and subclasses the SQL standard defines, "ODBC 3.0" for the
/// ones ODBC adds (class IM and HY, subclasses starting with S such as 08S01).
fn class_origin(state: &[u8; 5]) -> &'static str {
    if state.starts_with(b"IM") || state.starts_with(b"HY") {
        "ODBC 3.0"
    } else {
        "ISO 9075"
    }
}

fn subclass_origin(state: &[u8; 5]) -> &'static str {
    if state.starts_with(b"IM") || state.starts_with(b"HY") || state[2] == b'S' {
        "ODBC 3.0"
    } else {
        "ISO 9075"
    }
}

/// The output arguments SQLGetDiagRec and SQLError share.
struct RecordOut<C> {
    state: *mut C,
    native: *mut i32,
    msg: *mut C,
    buf_len: i16,
    text_len: *mut i16,
}

impl<C: AppChar> RecordOut<C> {
    unsafe fn write(&self, record: &OdbcError, version: u32) -> SqlReturn {
        let s = if version == 2 { record.state.odbc2() } else { record.state };
        if !self.state.is_null() {
            let _ = write_str::<C, i16>(s.as_str(), self.state, 6, std::ptr::null_mut(), "SQLState");
        }
        write_opt(self.native, record.native);
        match write_str::<C, i16>(&record.full_message(), self.msg, self.buf_len.into(), self.text_len, "MessageText") {
            Ok(true) if !self.msg.is_null() => SqlReturn::SUCCESS_WITH_INFO,
            Ok(_) => SqlReturn::SUCCESS,
            Err(_) => SqlReturn::ERROR,
        }
    }
}

/// SQLGetDiagRec and SQLError differ only in the handle and which record `pick` takes.
unsafe fn write_picked<C: AppChar>(
    handle_type: i16,
    handle: *mut c_void,
    rec_valid: bool,
    pick: impl FnOnce(&mut Diagnostics) -> Option<OdbcError>,
    out: RecordOut<C>,
) -> SqlReturn {
    guard(|| {
        let Some(object) = lookup(handle_type, handle) else {
            return SqlReturn::INVALID_HANDLE;
        };
        if !rec_valid || out.buf_len < 0 {
            return SqlReturn::ERROR;
        }
        let version = odbc_version(&object);
        let record = pick(&mut object.diagnostics().lock().unwrap_or_else(|e| e.into_inner()));
        match record {
            Some(r) => out.write(&r, version),
            None => SqlReturn::NO_DATA,
        }
    })
}

unsafe fn get_diag_rec<C: AppChar>(handle_type: i16, handle: *mut c_void, rec: i16, out: RecordOut<C>) -> SqlReturn {
    let pick = |d: &mut Diagnostics| d.record(rec as usize).cloned();
    write_picked(handle_type, handle, rec >= 1, pick, out)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetDiagRec(
    handle_type: i16,
    handle: *mut c_void,
    rec: i16,
    state: *mut u8,
    native: *mut i32,
    msg: *mut u8,
    buf_len: i16,
    text_len: *mut i16,
) -> SqlReturn {
    get_diag_rec(handle_type, handle, rec, RecordOut { state, native, msg, buf_len, text_len })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetDiagRecW(
    handle_type: i16,
    handle: *mut c_void,
    rec: i16,
    state: *mut u16,
    native: *mut i32,
    msg: *mut u16,
    buf_len: i16,
    text_len: *mut i16,
) -> SqlReturn {
    get_diag_rec(handle_type, handle, rec, RecordOut { state, native, msg, buf_len, text_len })
}

/// ODBC 2 names all three handles; the most specific one given is the one read.
unsafe fn error<C: AppChar>(env: *mut c_void, dbc: *mut c_void, stmt: *mut c_void, out: RecordOut<C>) -> SqlReturn {
    let (handle_type, handle) = if !stmt.is_null() {
        (3, stmt)
    } else if !dbc.is_null() {
        (2, dbc)
    } else {
        (1, env)
    };
    write_picked(handle_type, handle, true, Diagnostics::take_first, out)
}

#[no_mangle]
pub unsafe extern "system" fn SQLError(
    env: *mut c_void,
    dbc: *mut c_void,
    stmt: *mut c_void,
    state: *mut u8,
    native: *mut i32,
    msg: *mut u8,
    buf_len: i16,
    text_len: *mut i16,
) -> SqlReturn {
    error(env, dbc, stmt, RecordOut { state, native, msg, buf_len, text_len })
}

#[no_mangle]
pub unsafe extern "system" fn SQLErrorW(
    env: *mut c_void,
    dbc: *mut c_void,
    stmt: *mut c_void,
    state: *mut u16,
    native: *mut i32,
    msg: *mut u16,
    buf_len: i16,
    text_len: *mut i16,
) -> SqlReturn {
    error(env, dbc, stmt, RecordOut { state, native, msg, buf_len, text_len })
}

enum Field {
    Str(String),
    I16(i16),
    I32(i32),
    Len(isize),
}

#[allow(clippy::too_many_arguments)]
unsafe fn get_diag_field<C: AppChar>(
    handle_type: i16,
    handle: *mut c_void,
    rec: i16,
    diag_id: i16,
    info: *mut c_void,
    buf_len: i16,
    out_len: *mut i16,
) -> SqlReturn {
    guard(|| {
        let Some(object) = lookup(handle_type, handle) else {
            return SqlReturn::INVALID_HANDLE;
        };
        let version = odbc_version(&object);
        let field = {
            let diag = object.diagnostics().lock().unwrap_or_else(|e| e.into_inner());
            let is_stmt = object.kind() == HandleKind::Statement;
            match diag_id {
                SQL_DIAG_NUMBER => Field::I32(diag.len() as i32),
                SQL_DIAG_RETURNCODE => Field::I16(object.diagnostics().return_code()),
                SQL_DIAG_ROW_COUNT if is_stmt => Field::Len(diag.row_count as isize),
                SQL_DIAG_CURSOR_ROW_COUNT if is_stmt => Field::Len(-1),
                SQL_DIAG_DYNAMIC_FUNCTION if is_stmt => Field::Str(diag.dynamic_function.map_or("", |d| d.0).into()),
                SQL_DIAG_DYNAMIC_FUNCTION_CODE if is_stmt => Field::I32(diag.dynamic_function.map_or(0, |d| d.1)),
                SQL_DIAG_ROW_COUNT
                | SQL_DIAG_CURSOR_ROW_COUNT
                | SQL_DIAG_DYNAMIC_FUNCTION
                | SQL_DIAG_DYNAMIC_FUNCTION_CODE => return SqlReturn::ERROR,
                SQL_DIAG_SQLSTATE
                | SQL_DIAG_NATIVE
                | SQL_DIAG_MESSAGE_TEXT
                | SQL_DIAG_CLASS_ORIGIN
                | SQL_DIAG_SUBCLASS_ORIGIN
                | SQL_DIAG_CONNECTION_NAME
                | SQL_DIAG_SERVER_NAME
                | SQL_DIAG_ROW_NUMBER
                | SQL_DIAG_COLUMN_NUMBER => {
                    if rec < 1 {
                        return SqlReturn::ERROR;
                    }
                    let Some(r) = diag.record(rec as usize) else {
                        return SqlReturn::NO_DATA;
                    };
                    let state = if version == 2 { r.state.odbc2() } else { r.state };
                    match diag_id {
                        SQL_DIAG_SQLSTATE => Field::Str(state.as_str().into()),
                        SQL_DIAG_NATIVE => Field::I32(r.native),
                        SQL_DIAG_MESSAGE_TEXT => Field::Str(r.full_message()),
                        SQL_DIAG_CLASS_ORIGIN => Field::Str(class_origin(&state.0).into()),
                        SQL_DIAG_SUBCLASS_ORIGIN => Field::Str(subclass_origin(&state.0).into()),
                        SQL_DIAG_CONNECTION_NAME => Field::Str(String::new()),
                        SQL_DIAG_SERVER_NAME => Field::Str(server_name(&object)),
                        SQL_DIAG_ROW_NUMBER => Field::Len(r.row.map_or(SQL_NO_ROW_NUMBER, |n| n as isize)),
                        _ => Field::I32(r.column.map_or(SQL_NO_COLUMN_NUMBER, |n| n as i32)),
                    }
                }
                _ => return SqlReturn::ERROR,
            }
        };
        if info.is_null() && !matches!(field, Field::Str(_)) {
            return SqlReturn::ERROR;
        }
        match field {
            Field::Str(s) => {
                return match write_str_bytes::<C, i16>(&s, info.cast(), buf_len.into(), out_len, "DiagInfoPtr") {
                    Ok(true) if !info.is_null() => SqlReturn::SUCCESS_WITH_INFO,
                    Ok(_) => SqlReturn::SUCCESS,
                    Err(_) => SqlReturn::ERROR,
                }
            }
            Field::I16(v) => write_fixed(info, v, out_len),
            Field::I32(v) => write_fixed(info, v, out_len),
            Field::Len(v) => write_fixed(info, v, out_len),
        }
        SqlReturn::SUCCESS
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetDiagField(
    handle_type: i16,
    handle: *mut c_void,
    rec: i16,
    diag_id: i16,
    info: *mut c_void,
    buf_len: i16,
    out_len: *mut i16,
) -> SqlReturn {
    get_diag_field::<u8>(handle_type, handle, rec, diag_id, info, buf_len, out_len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetDiagFieldW(
    handle_type: i16,
    handle: *mut c_void,
    rec: i16,
    diag_id: i16,
    info: *mut c_void,
    buf_len: i16,
    out_len: *mut i16,
) -> SqlReturn {
    get_diag_field::<u16>(handle_type, handle, rec, diag_id, info, buf_len, out_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_and_subclass_origins_follow_the_odbc_rules() {
        assert_eq!(class_origin(b"28000"), "ISO 9075");
        assert_eq!(class_origin(b"HY009"), "ODBC 3.0");
        assert_eq!(subclass_origin(b"08S01"), "ODBC 3.0");
        assert_eq!(subclass_origin(b"08001"), "ISO 9075");
    }
}
