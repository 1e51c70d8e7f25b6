//! SQLAllocHandle / SQLFreeHandle and their ODBC 2 forms.

use std::ffi::c_void;
use std::sync::Arc;

use odbc_sys::SqlReturn;

use super::{call, guard};
use crate::conn::Connection;
use crate::diag::{Completion, OdbcError, OdbcResult, SqlState};
use crate::env::Environment;
use crate::handles::{self, RawHandle};
use crate::stmt::Statement;

const SQL_HANDLE_ENV: i16 = 1;
const SQL_HANDLE_DBC: i16 = 2;
const SQL_HANDLE_STMT: i16 = 3;
const SQL_HANDLE_DESC: i16 = 4;

/// # Safety
/// `output` is null or valid for writing a handle.
unsafe fn write_handle(output: *mut *mut c_void, raw: RawHandle) {
    output.write_unaligned(raw as *mut c_void);
}

fn full() -> OdbcError {
    OdbcError::new(SqlState::MEMORY_ALLOCATION, "too many handles")
}

unsafe fn alloc_env(output: *mut *mut c_void) -> SqlReturn {
    guard(|| {
        if output.is_null() {
            return SqlReturn::ERROR;
        }
        match handles::register(Arc::new(Environment::new())) {
            Some(raw) => {
                write_handle(output, raw);
                SqlReturn::SUCCESS
            }
            None => {
                write_handle(output, 0);
                SqlReturn::ERROR
            }
        }
    })
}

unsafe fn alloc_dbc(env: *mut c_void, output: *mut *mut c_void) -> SqlReturn {
    call::<Environment, _>(env, |e, _| {
        if output.is_null() {
            return Err(OdbcError::null_pointer("OutputHandlePtr"));
        }
        let conn = Arc::new(Connection::new(Arc::clone(e), env as RawHandle));
        let raw = handles::register(conn).ok_or_else(full)?;
        e.connections.lock().unwrap_or_else(|p| p.into_inner()).push(raw);
        write_handle(output, raw);
        Ok(Completion::Success)
    })
}

unsafe fn alloc_child(kind: i16, dbc: *mut c_void, output: *mut *mut c_void) -> SqlReturn {
    call::<Connection, _>(dbc, |c, _| {
        if output.is_null() {
            return Err(OdbcError::null_pointer("OutputHandlePtr"));
        }
        write_handle(output, 0);
        if !c.is_open() {
            return Err(OdbcError::not_connected());
        }
        let raw = if kind == SQL_HANDLE_STMT { allocate_statement(c)? } else { allocate_descriptor(c)? };
        write_handle(output, raw);
        Ok(Completion::Success)
    })
}

fn allocate_statement(conn: &Arc<Connection>) -> OdbcResult<RawHandle> {
    crate::stmt::allocate(conn)
}

fn allocate_descriptor(conn: &Arc<Connection>) -> OdbcResult<RawHandle> {
    // Registers the descriptor in the connection's list itself.
    crate::desc::allocate_explicit(conn)
}

#[no_mangle]
pub unsafe extern "system" fn SQLAllocHandle(
    handle_type: i16,
    input: *mut c_void,
    output: *mut *mut c_void,
) -> SqlReturn {
    match handle_type {
        SQL_HANDLE_ENV => alloc_env(output),
        SQL_HANDLE_DBC => alloc_dbc(input, output),
        SQL_HANDLE_STMT | SQL_HANDLE_DESC => alloc_child(handle_type, input, output),
        _ => match handles::lookup_any(input as RawHandle) {
            // HY092 goes on the input handle when there is one.
            Some(_) => call_any(input, |_| {
                Err(OdbcError::new(SqlState::INVALID_ATTRIBUTE, format!("invalid handle type {handle_type}")))
            }),
            None => SqlReturn::ERROR,
        },
    }
}

/// Records an error on a handle of any kind.
fn call_any(raw: *mut c_void, body: impl FnOnce(&handles::Object) -> OdbcResult<Completion>) -> SqlReturn {
    guard(|| {
        let Some(object) = handles::lookup_any(raw as RawHandle) else {
            return SqlReturn::INVALID_HANDLE;
        };
        let result = body(&object);
        let mut diag = object.diagnostics().lock().unwrap_or_else(|p| p.into_inner());
        diag.clear();
        match result {
            Ok(_) => SqlReturn::SUCCESS,
            Err(e) => {
                diag.push(e);
                SqlReturn::ERROR
            }
        }
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLAllocEnv(output: *mut *mut c_void) -> SqlReturn {
    alloc_env(output)
}

#[no_mangle]
pub unsafe extern "system" fn SQLAllocConnect(env: *mut c_void, output: *mut *mut c_void) -> SqlReturn {
    alloc_dbc(env, output)
}

#[no_mangle]
pub unsafe extern "system" fn SQLAllocStmt(dbc: *mut c_void, output: *mut *mut c_void) -> SqlReturn {
    alloc_child(SQL_HANDLE_STMT, dbc, output)
}

fn free_env(raw: *mut c_void) -> SqlReturn {
    let ret = call::<Environment, _>(raw, |e, _| {
        if !e.connection_handles().is_empty() {
            return Err(OdbcError::sequence("free the connections of this environment first"));
        }
        Ok(Completion::Success)
    });
    if ret == SqlReturn::SUCCESS && handles::unregister::<Environment>(raw as RawHandle).is_none() {
        return SqlReturn::INVALID_HANDLE;
    }
    ret
}

fn free_dbc(raw: *mut c_void) -> SqlReturn {
    let ret = call::<Connection, _>(raw, |c, _| {
        if c.is_open() {
            return Err(OdbcError::sequence("disconnect before freeing the connection"));
        }
        c.free_children();
        Ok(Completion::Success)
    });
    if ret != SqlReturn::SUCCESS {
        return ret;
    }
    match handles::unregister::<Connection>(raw as RawHandle) {
        Some(c) => {
            if let Some(env) = handles::lookup::<Environment>(c.env_handle) {
                env.connections.lock().unwrap_or_else(|p| p.into_inner()).retain(|&h| h != raw as RawHandle);
            }
            SqlReturn::SUCCESS
        }
        None => SqlReturn::INVALID_HANDLE,
    }
}

fn free_stmt(raw: *mut c_void) -> SqlReturn {
    guard(|| {
        if handles::lookup::<Statement>(raw as RawHandle).is_none() {
            return SqlReturn::INVALID_HANDLE;
        }
        if crate::stmt::free(raw as RawHandle) {
            SqlReturn::SUCCESS
        } else {
            SqlReturn::INVALID_HANDLE
        }
    })
}

fn free_desc(raw: *mut c_void) -> SqlReturn {
    guard(|| {
        if crate::desc::free_explicit(raw as RawHandle) {
            // Its connection's list may still name it; freeing a stale handle there is a
            // refused lookup, nothing more.
            SqlReturn::SUCCESS
        } else {
            // An implicit descriptor or no descriptor at all: the DM reports HY017 for
            // implicit ones; we refuse the handle.
            SqlReturn::INVALID_HANDLE
        }
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLFreeHandle(handle_type: i16, handle: *mut c_void) -> SqlReturn {
    match handle_type {
        SQL_HANDLE_ENV => free_env(handle),
        SQL_HANDLE_DBC => free_dbc(handle),
        SQL_HANDLE_STMT => free_stmt(handle),
        SQL_HANDLE_DESC => free_desc(handle),
        _ => SqlReturn::INVALID_HANDLE,
    }
}

#[no_mangle]
pub unsafe extern "system" fn SQLFreeEnv(env: *mut c_void) -> SqlReturn {
    free_env(env)
}

#[no_mangle]
pub unsafe extern "system" fn SQLFreeConnect(dbc: *mut c_void) -> SqlReturn {
    free_dbc(dbc)
}
