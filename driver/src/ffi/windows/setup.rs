//! The setup entry points the ODBC Data Source Administrator and `odbcconf` call:
//! `ConfigDSN` adds, changes or removes a DSN, `ConfigDriver` is told a driver was
//! installed or removed. Attributes arrive as `key=value` pairs, each NUL-terminated,
//! the list ended by an empty one (`"DSN=x\0Server=y\0\0"`).
//!
//! No dialog yet: with a window handle and a complete attribute list the DSN is written
//! all the same, and without a `DSN` attribute the call fails with an installer error
//! that says how to add one (docs/windows.md). Secrets are not expected here and are
//! refused: a `PWD` or `TwoFactorCode` in the registry would be readable by every
//! program of the user.

use std::ffi::{c_char, c_void, CStr, CString};

use super::installer::{
    SQLPostInstallerError, SQLRemoveDSNFromIni, SQLValidDSN, SQLWriteDSNToIni, SQLWritePrivateProfileString,
};

const ODBC_ADD_DSN: u16 = 1;
const ODBC_CONFIG_DSN: u16 = 2;
const ODBC_REMOVE_DSN: u16 = 3;
const ODBC_ADD_SYS_DSN: u16 = 4;
const ODBC_CONFIG_SYS_DSN: u16 = 5;
const ODBC_REMOVE_SYS_DSN: u16 = 6;
const ODBC_INSTALL_DRIVER: u16 = 1;
const ODBC_REMOVE_DRIVER: u16 = 2;
const ODBC_CONFIG_DRIVER: u16 = 3;

const ODBC_ERROR_GENERAL_ERR: u32 = 1;
const ODBC_ERROR_INVALID_REQUEST_TYPE: u32 = 5;
const ODBC_ERROR_INVALID_KEYWORD_VALUE: u32 = 8;
const ODBC_ERROR_INVALID_DSN: u32 = 9;
const ODBC_ERROR_REQUEST_FAILED: u32 = 11;
const ODBC_ERROR_REMOVE_DSN_FAILED: u32 = 20;

/// Keys that hold secrets: never stored in a DSN by this entry point.
const SECRET_KEYS: &[&str] = &["PWD", "PASSWORD", "TWOFACTORCODE", "TWOFACTORTOKEN"];

/// An installer error, posted for the caller's SQLInstallerError.
struct SetupError(u32, String);

/// The pairs of a double-NUL-terminated attribute list (`None` for a null pointer).
/// Reading stops at the empty entry; a pair without `=` is an error.
///
/// # Safety
/// `list` is null or a double-NUL-terminated list, as the ODBC installer API requires.
unsafe fn attribute_pairs(list: *const c_char) -> Result<Vec<(String, String)>, SetupError> {
    let mut pairs = Vec::new();
    if list.is_null() {
        return Ok(pairs);
    }
    let mut at = list;
    loop {
        // SAFETY: `at` points at the next NUL-terminated entry of the list (see above).
        let entry = unsafe { CStr::from_ptr(at) };
        let bytes = entry.to_bytes();
        if bytes.is_empty() {
            return Ok(pairs);
        }
        let text = String::from_utf8_lossy(bytes);
        let Some((key, value)) = text.split_once('=') else {
            return Err(SetupError(ODBC_ERROR_INVALID_KEYWORD_VALUE, format!("attribute {text:?} has no '='")));
        };
        pairs.push((key.trim().to_string(), value.trim().to_string()));
        // SAFETY: the entry's NUL is inside the list, so the byte after it is too.
        at = unsafe { at.add(bytes.len() + 1) };
    }
}

fn c_string(s: &str) -> Result<CString, SetupError> {
    CString::new(s).map_err(|_| SetupError(ODBC_ERROR_INVALID_KEYWORD_VALUE, format!("{s:?} contains a NUL")))
}

/// Writes the DSN and each of its keys (`DSN` itself excepted) under ODBC.INI.
fn write_dsn(driver: &str, pairs: &[(String, String)]) -> Result<(), SetupError> {
    let dsn = pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case("DSN")).map(|(_, v)| v.as_str());
    let Some(dsn) = dsn.filter(|d| !d.is_empty()) else {
        return Err(SetupError(
            ODBC_ERROR_INVALID_DSN,
            "no DSN attribute: this driver has no setup dialog yet; add the DSN with odbcconf \
             (CONFIGDSN \"TwoFactor\" \"DSN=name|Server=host|Port=7443\") or a .reg file (docs/windows.md)"
                .into(),
        ));
    };
    if let Some((key, _)) = pairs.iter().find(|(k, _)| SECRET_KEYS.contains(&k.to_ascii_uppercase().as_str())) {
        return Err(SetupError(
            ODBC_ERROR_INVALID_KEYWORD_VALUE,
            format!("{key} is a secret and is not stored in a DSN (the registry is readable by the user's programs)"),
        ));
    }
    let dsn_c = c_string(dsn)?;
    let driver_c = c_string(driver)?;
    let odbc_ini = c"odbc.ini";
    // SAFETY: both are NUL-terminated strings that outlive the calls.
    if unsafe { SQLValidDSN(dsn_c.as_ptr()) } == 0 {
        return Err(SetupError(ODBC_ERROR_INVALID_DSN, format!("{dsn:?} is not a valid DSN name")));
    }
    // SAFETY: as above.
    if unsafe { SQLWriteDSNToIni(dsn_c.as_ptr(), driver_c.as_ptr()) } == 0 {
        return Err(SetupError(ODBC_ERROR_REQUEST_FAILED, format!("the DSN {dsn:?} could not be written")));
    }
    // SQLWriteDSNToIni lists the DSN under "ODBC Data Sources" on Windows; Wine 8's does
    // not, and writing the same value again is harmless.
    // SAFETY: four NUL-terminated strings that outlive the call.
    unsafe {
        SQLWritePrivateProfileString(
            c"ODBC Data Sources".as_ptr(),
            dsn_c.as_ptr(),
            driver_c.as_ptr(),
            odbc_ini.as_ptr(),
        )
    };
    for (key, value) in pairs.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("DSN")) {
        let (key_c, value_c) = (c_string(key)?, c_string(value)?);
        // SAFETY: four NUL-terminated strings that outlive the call.
        let ok = unsafe {
            SQLWritePrivateProfileString(dsn_c.as_ptr(), key_c.as_ptr(), value_c.as_ptr(), odbc_ini.as_ptr())
        };
        if ok == 0 {
            return Err(SetupError(
                ODBC_ERROR_REQUEST_FAILED,
                format!("{key} of the DSN {dsn:?} could not be written"),
            ));
        }
    }
    log::info!("DSN {dsn} written ({} keys)", pairs.len() - 1);
    Ok(())
}

fn remove_dsn(pairs: &[(String, String)]) -> Result<(), SetupError> {
    let Some((_, dsn)) = pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case("DSN")) else {
        return Err(SetupError(ODBC_ERROR_INVALID_DSN, "no DSN attribute to remove".into()));
    };
    let dsn_c = c_string(dsn)?;
    // SAFETY: a NUL-terminated string that outlives the call.
    if unsafe { SQLRemoveDSNFromIni(dsn_c.as_ptr()) } == 0 {
        return Err(SetupError(ODBC_ERROR_REMOVE_DSN_FAILED, format!("the DSN {dsn:?} could not be removed")));
    }
    Ok(())
}

fn post(result: Result<(), SetupError>) -> i32 {
    match result {
        Ok(()) => 1,
        Err(SetupError(code, message)) => {
            log::warn!("setup: {message}");
            let message = CString::new(message).unwrap_or_default();
            // SAFETY: a NUL-terminated message that outlives the call.
            unsafe { SQLPostInstallerError(code, message.as_ptr()) };
            0
        }
    }
}

/// Adds, changes or removes a DSN (user or system, as the installer's config mode says:
/// odbccp32 picks the registry hive).
///
/// # Safety
/// `driver` is null or a NUL-terminated string; `attributes` is null or a
/// double-NUL-terminated list.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ConfigDSN(
    _window: *mut c_void,
    request: u16,
    driver: *const c_char,
    attributes: *const c_char,
) -> i32 {
    let run = || -> Result<(), SetupError> {
        // SAFETY: the caller's contract, above.
        let pairs = unsafe { attribute_pairs(attributes)? };
        let driver = if driver.is_null() {
            String::new()
        } else {
            // SAFETY: NUL-terminated by the caller's contract.
            unsafe { CStr::from_ptr(driver) }.to_string_lossy().into_owned()
        };
        match request {
            ODBC_ADD_DSN | ODBC_CONFIG_DSN | ODBC_ADD_SYS_DSN | ODBC_CONFIG_SYS_DSN => write_dsn(&driver, &pairs),
            ODBC_REMOVE_DSN | ODBC_REMOVE_SYS_DSN => remove_dsn(&pairs),
            other => Err(SetupError(ODBC_ERROR_INVALID_REQUEST_TYPE, format!("ConfigDSN request {other} is unknown"))),
        }
    };
    let result = std::panic::catch_unwind(run)
        .unwrap_or_else(|_| Err(SetupError(ODBC_ERROR_GENERAL_ERR, "ConfigDSN failed unexpectedly".into())));
    post(result)
}

/// Told that the driver was installed, removed or is to be configured: the driver keeps
/// no state of its own beyond the registry entries the installer writes, so there is
/// nothing to do but say so.
///
/// # Safety
/// `message` is null or has room for `message_max` bytes; `message_out` is null or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ConfigDriver(
    _window: *mut c_void,
    request: u16,
    _driver: *const c_char,
    _args: *const c_char,
    message: *mut c_char,
    message_max: u16,
    message_out: *mut u16,
) -> i32 {
    if !message.is_null() && message_max > 0 {
        // SAFETY: room for at least one byte, by the caller's contract.
        unsafe { *message = 0 };
    }
    if !message_out.is_null() {
        // SAFETY: writable, by the caller's contract.
        unsafe { *message_out = 0 };
    }
    match request {
        ODBC_INSTALL_DRIVER | ODBC_REMOVE_DRIVER | ODBC_CONFIG_DRIVER => 1,
        other => {
            post(Err(SetupError(ODBC_ERROR_INVALID_REQUEST_TYPE, format!("ConfigDriver request {other} is unknown"))))
        }
    }
}
