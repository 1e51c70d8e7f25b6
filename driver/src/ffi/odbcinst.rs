//! The driver manager's installer library (unixODBC's libodbcinst or iODBC's
//! libiodbcinst, never the manager libodbc itself): it reads odbc.ini and odbcinst.ini
//! the way every driver of that manager does, honouring ODBCINI, ODBCSYSINI,
//! ODBCINSTINI and the user/system search order.
//!
//! `SQLGetPrivateProfileString` is looked up at run time (`host::installer_symbol`), not
//! linked: the driver builds without any ODBC development package, and on an iODBC host
//! it reads iODBC's files, not unixODBC's.
//!
//! On Windows the same function is odbccp32.dll's (linked: every Windows has it), which
//! reads the registry's ODBC.INI and ODBCINST.INI keys for the file names "odbc.ini" and
//! "odbcinst.ini".

use std::ffi::{c_char, c_int, CString};
#[cfg(unix)]
use std::sync::OnceLock;

#[cfg(unix)]
use super::host;

type GetPrivateProfileString = unsafe extern "system" fn(
    section: *const c_char,
    entry: *const c_char,
    default: *const c_char,
    ret: *mut c_char,
    ret_len: c_int,
    filename: *const c_char,
) -> c_int;

/// odbccp32's function (Windows).
#[cfg(windows)]
fn installer() -> Option<GetPrivateProfileString> {
    Some(super::windows::installer::SQLGetPrivateProfileString)
}

/// The installer's function, resolved once (`None`: no installer library at all).
#[cfg(unix)]
fn installer() -> Option<GetPrivateProfileString> {
    static FUNCTION: OnceLock<Option<GetPrivateProfileString>> = OnceLock::new();
    *FUNCTION.get_or_init(|| {
        let address = host::installer_symbol(c"SQLGetPrivateProfileString");
        if address.is_none() {
            log::warn!("no ODBC installer library (libodbcinst.so.2 or libiodbcinst.so.2): DSNs cannot be read");
        }
        // SAFETY: both installers define SQLGetPrivateProfileString with this C
        // signature (odbcinst.h, iodbcinst.h); the library is never unloaded.
        address.map(|a| unsafe { std::mem::transmute::<*mut std::ffi::c_void, GetPrivateProfileString>(a) })
    })
}

/// Returned when a key is absent, so absent and empty differ.
const ABSENT: &[u8] = b"\x01\0";
const MAX_VALUE: usize = 1 << 20;

/// The raw bytes the installer returns for `entry` of `section` of `file` (with `entry`
/// `None`, the section's key names; with `section` `None` too, the file's section
/// names; NUL-separated). `None` when absent.
fn profile_bytes(section: Option<&str>, entry: Option<&str>, file: &str) -> Option<Vec<u8>> {
    let get = installer()?;
    let optional = |s: Option<&str>| s.map(CString::new).transpose().ok();
    let section = optional(section)?;
    let entry = optional(entry)?;
    let listing = entry.is_none();
    let file = CString::new(file).ok()?;
    let ptr_of = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    let mut size = 4096usize;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: every pointer is a valid NUL-terminated string or null (section and
        // entry, for listings), and buf holds `size` writable bytes, the length we pass.
        let n = unsafe {
            get(
                ptr_of(&section),
                ptr_of(&entry),
                ABSENT.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                size as c_int,
                file.as_ptr(),
            )
        };
        let n = usize::try_from(n).unwrap_or(0).min(size);
        // A result that fills the buffer may have been cut: ask again with more room.
        if n + 2 >= size && size < MAX_VALUE {
            size *= 4;
            continue;
        }
        buf.truncate(n);
        if buf == b"\x01" || (listing && buf.is_empty()) {
            return None;
        }
        return Some(buf);
    }
}

fn names(raw: &[u8]) -> Vec<String> {
    raw.split(|&b| b == 0).filter(|k| !k.is_empty()).map(|k| String::from_utf8_lossy(k).into_owned()).collect()
}

/// The value of one key of a DSN in odbc.ini.
pub(crate) fn dsn_value(dsn: &str, key: &str) -> Option<String> {
    profile_bytes(Some(dsn), Some(key), "odbc.ini").map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The key names of a DSN in odbc.ini; `None` when there is no such DSN.
pub(crate) fn dsn_keys(dsn: &str) -> Option<Vec<String>> {
    Some(names(&profile_bytes(Some(dsn), None, "odbc.ini")?))
}

/// The value of `key` in the odbcinst.ini section that registers this driver's file
/// (its `Driver` or `Driver64` line names the library the process loaded).
pub(crate) fn own_driver_value(key: &str) -> Option<String> {
    #[cfg(unix)]
    let own = host::own_path()?;
    #[cfg(windows)]
    let own = super::windows::host::own_path()?;
    let own = std::fs::canonicalize(&own).unwrap_or(own);
    let sections = names(&profile_bytes(None, None, "odbcinst.ini")?);
    let registers_us = |section: &str| {
        ["Driver", "Driver64"].iter().any(|entry| {
            profile_bytes(Some(section), Some(entry), "odbcinst.ini")
                .and_then(|p| std::fs::canonicalize(String::from_utf8_lossy(&p).trim()).ok())
                .is_some_and(|p| p == own)
        })
    };
    let section = sections.iter().find(|s| registers_us(s))?;
    profile_bytes(Some(section), Some(key), "odbcinst.ini").map(|b| String::from_utf8_lossy(&b).trim().to_string())
}
