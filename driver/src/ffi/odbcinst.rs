//! unixODBC's installer library (libodbcinst, not the driver manager libodbc): it reads
//! odbc.ini the way every unixODBC driver does, honouring ODBCINI and ODBCSYSINI and the
//! user/system DSN search order.

use std::ffi::{c_char, c_int, CString};

#[link(name = "odbcinst")]
extern "C" {
    fn SQLGetPrivateProfileString(
        section: *const c_char,
        entry: *const c_char,
        default: *const c_char,
        ret: *mut c_char,
        ret_len: c_int,
        filename: *const c_char,
    ) -> c_int;
}

/// Returned when a key is absent, so absent and empty differ.
const ABSENT: &[u8] = b"\x01\0";
const MAX_VALUE: usize = 1 << 20;

/// The raw bytes the installer returns for `entry` of `section` (all the section's key
/// names, NUL-separated, when `entry` is `None`). `None` when absent.
fn profile_bytes(section: &str, entry: Option<&str>, file: &str) -> Option<Vec<u8>> {
    let section = CString::new(section).ok()?;
    let entry = match entry {
        Some(e) => Some(CString::new(e).ok()?),
        None => None,
    };
    let file = CString::new(file).ok()?;
    let mut size = 4096usize;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: every pointer is a valid NUL-terminated string or null (entry), and buf
        // holds `size` writable bytes, which is the length we pass.
        let n = unsafe {
            SQLGetPrivateProfileString(
                section.as_ptr(),
                entry.as_ref().map_or(std::ptr::null(), |e| e.as_ptr()),
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
        if buf == b"\x01" || (entry.is_none() && buf.is_empty()) {
            return None;
        }
        return Some(buf);
    }
}

/// The value of one key of a DSN in odbc.ini.
pub(crate) fn dsn_value(dsn: &str, key: &str) -> Option<String> {
    profile_bytes(dsn, Some(key), "odbc.ini").map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The key names of a DSN in odbc.ini; `None` when there is no such DSN.
pub(crate) fn dsn_keys(dsn: &str) -> Option<Vec<String>> {
    let raw = profile_bytes(dsn, None, "odbc.ini")?;
    Some(raw.split(|&b| b == 0).filter(|k| !k.is_empty()).map(|k| String::from_utf8_lossy(k).into_owned()).collect())
}
