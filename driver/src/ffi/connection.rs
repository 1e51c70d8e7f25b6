//! Connecting, disconnecting, connection attributes (including 1002), SQLNativeSql and
//! SQLGetFunctions.

use std::ffi::c_void;
use std::sync::Arc;

use odbc_sys::SqlReturn;

use super::text::{self, read_required, read_str, write_fixed, write_str, write_str_bytes, AppChar, SQL_NTS};
use super::token;
use super::{call, Warnings};
use crate::conn::attributes::{self, AttrIn, SQL_ATTR_TWO_FACTOR};
use crate::conn::config::Settings;
use crate::conn::dsn::add_dsn;
use crate::conn::{connection_string, AttrOut, Connection};
use crate::diag::{Completion, OdbcError, SqlState};
use crate::functions;

const SQL_DRIVER_NOPROMPT: u16 = 0;
const SQL_DRIVER_PROMPT: u16 = 2;
const SQL_DRIVER_COMPLETE_REQUIRED: u16 = 3;

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.is_empty())
}

unsafe fn connect<C: AppChar>(
    dbc: *mut c_void,
    dsn: *const C,
    dsn_len: i16,
    uid: *const C,
    uid_len: i16,
    pwd: *const C,
    pwd_len: i16,
) -> SqlReturn {
    call::<Connection, _>(dbc, |c, _| {
        let dsn = non_empty(read_str(dsn, dsn_len.into(), "ServerName")?);
        let uid = non_empty(read_str(uid, uid_len.into(), "UserName")?);
        let pwd = non_empty(read_str(pwd, pwd_len.into(), "Authentication")?);
        let mut settings = Settings::default();
        // Arguments first: they override the DSN's UID and PWD.
        if let Some(u) = &uid {
            settings.push("UID", u);
        }
        if let Some(p) = &pwd {
            settings.push("PWD", p);
        }
        if let Some(d) = &dsn {
            settings.push("DSN", d);
            add_dsn(&mut settings, d, false)?;
        }
        c.connect(&settings, false)?;
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLConnect(
    dbc: *mut c_void,
    dsn: *const u8,
    dsn_len: i16,
    uid: *const u8,
    uid_len: i16,
    pwd: *const u8,
    pwd_len: i16,
) -> SqlReturn {
    connect(dbc, dsn, dsn_len, uid, uid_len, pwd, pwd_len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLConnectW(
    dbc: *mut c_void,
    dsn: *const u16,
    dsn_len: i16,
    uid: *const u16,
    uid_len: i16,
    pwd: *const u16,
    pwd_len: i16,
) -> SqlReturn {
    connect(dbc, dsn, dsn_len, uid, uid_len, pwd, pwd_len)
}

/// The connection string handed back: the keys given (so it reconnects), without the
/// one-time code wherever it was (TwoFactorCode, a password suffix, DMConnAttr=[1002]).
fn out_connection_string(pairs: &[(String, String)]) -> String {
    let separator = pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("PasswordCodeSeparator"))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty());
    let kept: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, v)| {
            let one_time =
                k.eq_ignore_ascii_case("TwoFactorCode") || (k.eq_ignore_ascii_case("DMConnAttr") && v.contains("1002"));
            !one_time
        })
        .map(|(k, v)| {
            let is_password = k.eq_ignore_ascii_case("PWD") || k.eq_ignore_ascii_case("Password");
            match separator.and_then(|sep| v.rfind(sep)).filter(|_| is_password) {
                Some(i) => (k.clone(), v[..i].to_string()),
                None => (k.clone(), v.clone()),
            }
        })
        .collect();
    connection_string::build(kept.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[allow(clippy::too_many_arguments)]
unsafe fn driver_connect<C: AppChar>(
    dbc: *mut c_void,
    in_str: *const C,
    in_len: i16,
    out_str: *mut C,
    out_max: i16,
    out_len: *mut i16,
    completion: u16,
) -> SqlReturn {
    call::<Connection, _>(dbc, |c, warnings| {
        if completion > SQL_DRIVER_COMPLETE_REQUIRED {
            return Err(OdbcError::new(
                SqlState::INVALID_DRIVER_COMPLETION,
                format!("invalid driver completion {completion}"),
            ));
        }
        if out_max < 0 {
            return Err(OdbcError::buffer_length("BufferLength", out_max.into()));
        }
        let text = read_required(in_str, in_len.into(), "InConnectionString")?;
        let pairs = connection_string::parse(&text)?;
        let mut settings = Settings::default();
        settings.extend(pairs.iter().cloned());
        if let Some(d) = settings.get("DSN").filter(|d| !d.is_empty()).map(str::to_string) {
            let driver_given = settings.get("Driver").is_some();
            add_dsn(&mut settings, &d, driver_given)?;
        }
        if settings.get_any(&["UID", "User"]).is_none_or(|u| u.is_empty()) {
            // No dialog on this platform: with any completion, a missing user is an error.
            return Err(OdbcError::new(
                SqlState::INVALID_AUTHORIZATION,
                "no user name: set UID in the connection string or the DSN",
            ));
        }
        let prompting_allowed = completion != SQL_DRIVER_NOPROMPT;
        if completion == SQL_DRIVER_PROMPT {
            log::debug!("SQL_DRIVER_PROMPT: no dialog on this platform; connecting with the keys given");
        }
        c.connect(&settings, prompting_allowed)?;
        let out = out_connection_string(&pairs);
        if write_str::<C, i16>(&out, out_str, out_max.into(), out_len, "OutConnectionString")? && !out_str.is_null() {
            warnings.push(OdbcError::truncated("OutConnectionString"));
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLDriverConnect(
    dbc: *mut c_void,
    _hwnd: *mut c_void,
    in_str: *const u8,
    in_len: i16,
    out_str: *mut u8,
    out_max: i16,
    out_len: *mut i16,
    completion: u16,
) -> SqlReturn {
    driver_connect(dbc, in_str, in_len, out_str, out_max, out_len, completion)
}

#[no_mangle]
pub unsafe extern "system" fn SQLDriverConnectW(
    dbc: *mut c_void,
    _hwnd: *mut c_void,
    in_str: *const u16,
    in_len: i16,
    out_str: *mut u16,
    out_max: i16,
    out_len: *mut i16,
    completion: u16,
) -> SqlReturn {
    driver_connect(dbc, in_str, in_len, out_str, out_max, out_len, completion)
}

/// SQLBrowseConnect (`crate::conn::browse`): SQL_NEED_DATA with what is still missing,
/// or SQL_SUCCESS with the full connection string.
unsafe fn browse_connect<C: AppChar>(
    dbc: *mut c_void,
    in_str: *const C,
    in_len: i16,
    out_str: *mut C,
    out_max: i16,
    out_len: *mut i16,
) -> SqlReturn {
    call::<Connection, _>(dbc, |c, warnings| {
        if out_max < 0 {
            return Err(OdbcError::buffer_length("BufferLength", out_max.into()));
        }
        let text = read_required(in_str, in_len.into(), "InConnectionString")?;
        let (out, done) = match c.browse_connect(&text, add_dsn, &mut |w| warnings.push(w))? {
            crate::conn::browse::Step::NeedData(asked) => (asked, Completion::NeedData),
            crate::conn::browse::Step::Connected(pairs) => (out_connection_string(&pairs), Completion::Success),
        };
        if write_str::<C, i16>(&out, out_str, out_max.into(), out_len, "OutConnectionString")? && !out_str.is_null() {
            warnings.push(OdbcError::truncated("OutConnectionString"));
        }
        Ok(done)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLBrowseConnect(
    dbc: *mut c_void,
    in_str: *const u8,
    in_len: i16,
    out_str: *mut u8,
    out_max: i16,
    out_len: *mut i16,
) -> SqlReturn {
    browse_connect(dbc, in_str, in_len, out_str, out_max, out_len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLBrowseConnectW(
    dbc: *mut c_void,
    in_str: *const u16,
    in_len: i16,
    out_str: *mut u16,
    out_max: i16,
    out_len: *mut i16,
) -> SqlReturn {
    browse_connect(dbc, in_str, in_len, out_str, out_max, out_len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLDisconnect(dbc: *mut c_void) -> SqlReturn {
    call::<Connection, _>(dbc, |c, _| {
        c.disconnect()?;
        Ok(Completion::Success)
    })
}

unsafe fn set_connect_attr<C: AppChar>(dbc: *mut c_void, attr: i32, value: *mut c_void, len: i32) -> SqlReturn {
    call::<Connection, _>(dbc, |c, warnings: &mut Warnings| {
        let input = if attr == SQL_ATTR_TWO_FACTOR {
            // Also the ODBC 2 path below (SQL_NTS): a string pointer or an integer.
            AttrIn::Token(token::read_attr_token(value, len)?)
        } else if attr == text::SQL_ATTR_APP_WCHAR_TYPE {
            text::set_app_wchar_type(value as usize)?;
            return Ok(Completion::Success);
        } else if attributes::is_string_attr(attr) {
            // String attribute lengths are in bytes, also for the wide entry point.
            let units = if len >= 0 { len as isize / C::unit_size() as isize } else { len as isize };
            AttrIn::Text(read_required(value as *const C, units, "ValuePtr")?)
        } else {
            AttrIn::Integer(value as usize)
        };
        c.set_attr(attr, input, &mut |w| warnings.push(w))?;
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetConnectAttr(
    dbc: *mut c_void,
    attr: i32,
    value: *mut c_void,
    len: i32,
) -> SqlReturn {
    set_connect_attr::<u8>(dbc, attr, value, len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetConnectAttrW(
    dbc: *mut c_void,
    attr: i32,
    value: *mut c_void,
    len: i32,
) -> SqlReturn {
    set_connect_attr::<u16>(dbc, attr, value, len)
}

unsafe fn get_connect_attr<C: AppChar>(
    dbc: *mut c_void,
    attr: i32,
    value: *mut c_void,
    buf_len: i32,
    out_len: *mut i32,
) -> SqlReturn {
    call::<Connection, _>(dbc, |c, warnings| {
        match c.get_attr(attr)? {
            AttrOut::U32(_) | AttrOut::Usize(_) if value.is_null() => {
                return Err(OdbcError::null_pointer("ValuePtr"));
            }
            AttrOut::U32(v) => write_fixed(value, v, out_len),
            AttrOut::Usize(v) => write_fixed(value, v, out_len),
            AttrOut::Text(s) => {
                if write_str_bytes::<C, i32>(&s, value.cast(), buf_len as isize, out_len, "ValuePtr")?
                    && !value.is_null()
                {
                    warnings.push(OdbcError::truncated("attribute value"));
                }
            }
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetConnectAttr(
    dbc: *mut c_void,
    attr: i32,
    value: *mut c_void,
    buf_len: i32,
    out_len: *mut i32,
) -> SqlReturn {
    get_connect_attr::<u8>(dbc, attr, value, buf_len, out_len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetConnectAttrW(
    dbc: *mut c_void,
    attr: i32,
    value: *mut c_void,
    buf_len: i32,
    out_len: *mut i32,
) -> SqlReturn {
    get_connect_attr::<u16>(dbc, attr, value, buf_len, out_len)
}

// ODBC 2 connection options. unixODBC passes them through to drivers for ODBC 2
// applications, notably `DMConnAttr=[1002]=...` for isql and iusql, so attribute 1002
// must work here too. String options are NUL-terminated; integer options travel in
// the pointer-sized value itself.

/// ODBC 2 string option buffers are SQL_MAX_OPTION_STRING_LENGTH bytes.
const MAX_OPTION_STRING_LENGTH: i32 = 256;

fn option_is_string(option: i32) -> bool {
    option == SQL_ATTR_TWO_FACTOR || attributes::is_string_attr(option)
}

unsafe fn set_connect_option<C: AppChar>(dbc: *mut c_void, option: u16, value: usize) -> SqlReturn {
    let option = i32::from(option);
    let len = if option_is_string(option) { SQL_NTS as i32 } else { 0 };
    set_connect_attr::<C>(dbc, option, value as *mut c_void, len)
}

unsafe fn get_connect_option<C: AppChar>(dbc: *mut c_void, option: u16, value: *mut c_void) -> SqlReturn {
    let option = i32::from(option);
    let buf_len = if option_is_string(option) { MAX_OPTION_STRING_LENGTH } else { 0 };
    get_connect_attr::<C>(dbc, option, value, buf_len, std::ptr::null_mut())
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetConnectOption(dbc: *mut c_void, option: u16, value: usize) -> SqlReturn {
    set_connect_option::<u8>(dbc, option, value)
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetConnectOptionW(dbc: *mut c_void, option: u16, value: usize) -> SqlReturn {
    set_connect_option::<u16>(dbc, option, value)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetConnectOption(dbc: *mut c_void, option: u16, value: *mut c_void) -> SqlReturn {
    get_connect_option::<u8>(dbc, option, value)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetConnectOptionW(dbc: *mut c_void, option: u16, value: *mut c_void) -> SqlReturn {
    get_connect_option::<u16>(dbc, option, value)
}

unsafe fn native_sql<C: AppChar>(
    dbc: *mut c_void,
    in_sql: *const C,
    in_len: i32,
    out_sql: *mut C,
    out_max: i32,
    out_len: *mut i32,
) -> SqlReturn {
    call::<Connection, _>(dbc, |c, warnings| {
        if !c.is_open() {
            return Err(OdbcError::not_connected());
        }
        let sql = read_required(in_sql, in_len as isize, "InStatementText")?;
        if write_str::<C, i32>(&sql, out_sql, out_max as isize, out_len, "OutStatementText")? && !out_sql.is_null() {
            warnings.push(OdbcError::truncated("OutStatementText"));
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLNativeSql(
    dbc: *mut c_void,
    in_sql: *const u8,
    in_len: i32,
    out_sql: *mut u8,
    out_max: i32,
    out_len: *mut i32,
) -> SqlReturn {
    native_sql(dbc, in_sql, in_len, out_sql, out_max, out_len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLNativeSqlW(
    dbc: *mut c_void,
    in_sql: *const u16,
    in_len: i32,
    out_sql: *mut u16,
    out_max: i32,
    out_len: *mut i32,
) -> SqlReturn {
    native_sql(dbc, in_sql, in_len, out_sql, out_max, out_len)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetFunctions(dbc: *mut c_void, function_id: u16, supported: *mut u16) -> SqlReturn {
    call::<Connection, _>(dbc, |_: &Arc<Connection>, _| {
        if supported.is_null() {
            return Err(OdbcError::null_pointer("SupportedPtr"));
        }
        let write_all = |words: &[u16]| {
            for (i, w) in words.iter().enumerate() {
                supported.add(i).write_unaligned(*w);
            }
        };
        match function_id {
            functions::SQL_API_ODBC3_ALL_FUNCTIONS => write_all(&functions::odbc3_bitmap()),
            functions::SQL_API_ALL_FUNCTIONS => write_all(&functions::odbc2_array()),
            id => supported.write_unaligned(u16::from(functions::is_supported(id))),
        }
        Ok(Completion::Success)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_out_connection_string_keeps_the_keys_but_not_the_code() {
        let pairs = connection_string::parse("DSN=d;UID=u;PWD={a;b};TwoFactorCode=123456").unwrap();
        assert_eq!(out_connection_string(&pairs), "DSN=d;UID=u;PWD={a;b}");
        let pairs =
            connection_string::parse("UID=u;PWD=p:w:123456;PasswordCodeSeparator=:;DMConnAttr={[1002]=1}").unwrap();
        assert_eq!(out_connection_string(&pairs), "UID=u;PWD=p:w;PasswordCodeSeparator=:");
    }
}
