//! Environment attributes and transactions (SQLEndTran on a connection or a whole
//! environment, and ODBC 2's SQLTransact).

use std::ffi::c_void;

use odbc_sys::SqlReturn;

use super::call;
use crate::conn::Connection;
use crate::diag::{Completion, OdbcError, OdbcResult};
use crate::env::Environment;
use crate::handles;

const SQL_HANDLE_ENV: i16 = 1;
const SQL_HANDLE_DBC: i16 = 2;
const SQL_COMMIT: i16 = 0;
const SQL_ROLLBACK: i16 = 1;

#[no_mangle]
pub unsafe extern "system" fn SQLSetEnvAttr(env: *mut c_void, attr: i32, value: *mut c_void, _len: i32) -> SqlReturn {
    call::<Environment, _>(env, |e, _| {
        // Every environment attribute is an integer passed in the pointer itself.
        e.set_attr(attr, value as usize)?;
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetEnvAttr(
    env: *mut c_void,
    attr: i32,
    value: *mut c_void,
    _buf_len: i32,
    out_len: *mut i32,
) -> SqlReturn {
    call::<Environment, _>(env, |e, _| {
        let v: u32 = match attr {
            super::sqlwchar::SQL_ATTR_DRIVER_UNICODE_TYPE => super::sqlwchar::driver_unicode_type(),
            _ => e.get_attr(attr)?,
        };
        super::text::write_fixed(value, v, out_len);
        Ok(Completion::Success)
    })
}

fn completion_commit(completion: i16) -> OdbcResult<bool> {
    match completion {
        SQL_COMMIT => Ok(true),
        SQL_ROLLBACK => Ok(false),
        other => Err(OdbcError::new(
            crate::diag::SqlState::INVALID_TRANSACTION_OPCODE,
            format!("invalid transaction operation code {other}"),
        )),
    }
}

fn end_tran_dbc(dbc: *mut c_void, completion: i16) -> SqlReturn {
    call::<Connection, _>(dbc, |c, _| {
        c.end_transaction(completion_commit(completion)?)?;
        Ok(Completion::Success)
    })
}

fn end_tran_env(env: *mut c_void, completion: i16) -> SqlReturn {
    call::<Environment, _>(env, |e, _| {
        let commit = completion_commit(completion)?;
        // Every open connection of the environment; the first failure is reported.
        let mut first_error = None;
        for raw in e.connection_handles() {
            if let Some(c) = handles::lookup::<Connection>(raw).filter(|c| c.is_open()) {
                if let Err(err) = c.end_transaction(commit) {
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(Completion::Success), Err)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLEndTran(handle_type: i16, handle: *mut c_void, completion: i16) -> SqlReturn {
    match handle_type {
        SQL_HANDLE_DBC => end_tran_dbc(handle, completion),
        SQL_HANDLE_ENV => end_tran_env(handle, completion),
        _ => SqlReturn::INVALID_HANDLE,
    }
}

#[no_mangle]
pub unsafe extern "system" fn SQLTransact(env: *mut c_void, dbc: *mut c_void, completion: u16) -> SqlReturn {
    let completion = i16::try_from(completion).unwrap_or(-1);
    if dbc.is_null() {
        end_tran_env(env, completion)
    } else {
        end_tran_dbc(dbc, completion)
    }
}
