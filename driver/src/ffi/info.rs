//! SQLGetInfo(W). String lengths are in bytes, also for the wide form.

use std::ffi::c_void;

use odbc_sys::SqlReturn;

use super::call;
use super::text::{write_fixed, write_str_bytes, AppChar};
use crate::conn::Connection;
use crate::diag::{Completion, OdbcError, SqlState};
use crate::info::{self, InfoValue};

unsafe fn get_info<C: AppChar>(
    dbc: *mut c_void,
    info_type: u16,
    value: *mut c_void,
    buf_len: i16,
    out_len: *mut i16,
) -> SqlReturn {
    call::<Connection, _>(dbc, |c, warnings| {
        if info::is_dm_only(info_type) {
            return Err(OdbcError::new(
                SqlState::INVALID_INFO_TYPE,
                format!("information type {info_type} is answered by the driver manager"),
            ));
        }
        match info::get_info(c, info_type)? {
            InfoValue::Str(s) => {
                if write_str_bytes::<C, i16>(&s, value.cast(), buf_len.into(), out_len, "InfoValuePtr")?
                    && !value.is_null()
                {
                    warnings.push(OdbcError::truncated("InfoValuePtr"));
                }
            }
            InfoValue::U16(v) => write_fixed(value, v, out_len),
            InfoValue::U32(v) => write_fixed(value, v, out_len),
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetInfo(
    dbc: *mut c_void,
    info_type: u16,
    value: *mut c_void,
    buf_len: i16,
    out_len: *mut i16,
) -> SqlReturn {
    get_info::<u8>(dbc, info_type, value, buf_len, out_len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetInfoW(
    dbc: *mut c_void,
    info_type: u16,
    value: *mut c_void,
    buf_len: i16,
    out_len: *mut i16,
) -> SqlReturn {
    get_info::<u16>(dbc, info_type, value, buf_len, out_len)
}
