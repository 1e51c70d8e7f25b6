//! The size of SQLWCHAR in this process: 2 bytes (UTF-16: unixODBC, Windows) or 4 (UTF-32:
//! iODBC's `wchar_t` on Linux and macOS). Decided once per process, since a process has
//! one driver manager; see docs/iodbc.md for the rules.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use super::text::Encoding;
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// Bytes per SQLWCHAR in this process: 2 or 4 once decided; 0 before the first look;
/// `SNIFFING` when neither the configuration nor the loaded libraries told (a program
/// with iODBC linked in statically, as Debian's iodbctest is): UTF-16 until the first
/// wide input string shows its width.
static WIDE_UNIT: AtomicU8 = AtomicU8::new(0);
const SNIFFING: u8 = 1;
/// Set when `WideCharSize` in odbcinst.ini decided the width: the driver manager may
/// not change it then.
static WIDE_UNIT_CONFIGURED: AtomicBool = AtomicBool::new(false);
/// iODBC's connection attribute naming the encoding of the wide strings it passes.
pub(crate) const SQL_ATTR_APP_WCHAR_TYPE: i32 = 1061;
/// iODBC's environment attribute asking the driver which encoding it expects.
pub(crate) const SQL_ATTR_DRIVER_UNICODE_TYPE: i32 = 1065;
const SQL_DM_CP_UTF16: usize = 1;
const SQL_DM_CP_UCS4: usize = 3;
/// The driver's odbcinst.ini key that overrides the detected SQLWCHAR size.
pub(crate) const WIDE_CHAR_SIZE_KEY: &str = "WideCharSize";

/// The encoding of the wide (`...W`) entry points' strings. Decided at first use: the
/// driver's `WideCharSize` in odbcinst.ini if set, else from the driver manager that
/// loaded the driver (iODBC: `wchar_t`, 4 bytes on Linux and macOS; unixODBC: 2). iODBC
/// 3.52.14 and later then say what they pass with SQL_ATTR_APP_WCHAR_TYPE
/// (`set_app_wchar_type`).
pub(crate) fn wide_encoding() -> Encoding {
    let size = match WIDE_UNIT.load(Ordering::Acquire) {
        0 => decide_wide_unit(),
        n => n,
    };
    if size == 4 {
        Encoding::Utf32
    } else {
        Encoding::Utf16
    }
}

/// Bytes per SQLWCHAR (C_WCHAR data, wide buffer lengths): 2 or 4.
pub(crate) fn wide_unit_size() -> usize {
    wide_encoding().unit_size()
}

fn decide_wide_unit() -> u8 {
    let configured = super::odbcinst::own_driver_value(WIDE_CHAR_SIZE_KEY).and_then(|v| match v.as_str() {
        "2" => Some(2u8),
        "4" => Some(4u8),
        other => {
            log::warn!("{WIDE_CHAR_SIZE_KEY}={other:?} in odbcinst.ini ignored: 2 or 4");
            None
        }
    });
    // Windows has one driver manager, odbc32.dll, and its SQLWCHAR is UTF-16.
    #[cfg(windows)]
    let size = configured.unwrap_or(2);
    #[cfg(unix)]
    let size = configured.unwrap_or_else(|| match super::host::driver_manager() {
        super::host::DriverManager::Iodbc => std::mem::size_of::<libc::wchar_t>() as u8,
        super::host::DriverManager::UnixOdbc => 2,
        super::host::DriverManager::Unknown => SNIFFING,
    });
    match WIDE_UNIT.compare_exchange(0, size, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            WIDE_UNIT_CONFIGURED.store(configured.is_some(), Ordering::Release);
            match (size, configured.is_some()) {
                (SNIFFING, _) => log::debug!("wide strings: no driver manager library loaded; the first one decides"),
                (_, true) => log::debug!("wide strings: {size}-byte SQLWCHAR ({WIDE_CHAR_SIZE_KEY})"),
                (_, false) => log::debug!("wide strings: {size}-byte SQLWCHAR (driver manager)"),
            }
            size
        }
        Err(decided) => decided,
    }
}

/// The encoding of the wide input string at `ptr`. While the width is undecided
/// (`SNIFFING`), the string's first two characters decide it: printable ASCII in 2-byte
/// units (`a 0 b 0`) is UTF-16, in 4-byte units (`a 0 0 0 b 0 0 0`) UTF-32. A UTF-16
/// string never has a zero unit before its end, and no UTF-32 character has a printable
/// ASCII third byte, so the two never look alike; anything else decides nothing. The
/// bytes are copied through `token::readable_copy`, so a short string is not overrun.
pub(super) fn wide_encoding_of_input(ptr: *const u8) -> Encoding {
    let encoding = wide_encoding();
    if WIDE_UNIT.load(Ordering::Acquire) != SNIFFING || ptr.is_null() {
        return encoding;
    }
    let Some(size) = sniff_wide_unit(&super::token::readable_copy(ptr as usize, 8)) else {
        return encoding;
    };
    if WIDE_UNIT.compare_exchange(SNIFFING, size, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        log::debug!("wide strings: {size}-byte SQLWCHAR (seen in the first wide string)");
    }
    wide_encoding()
}

/// The unit size the first bytes of a wide string show, if they show one.
fn sniff_wide_unit(bytes: &[u8]) -> Option<u8> {
    let printable = |b: u8| (0x20..0x7F).contains(&b);
    match *bytes {
        [a, 0, b, 0, ..] if printable(a) && printable(b) => Some(2),
        [a, 0, 0, 0, b, 0, 0, 0] if printable(a) && printable(b) => Some(4),
        _ => None,
    }
}

/// iODBC's connection attribute SQL_ATTR_APP_WCHAR_TYPE: the encoding of the wide strings
/// it will pass (1 UTF-16, 3 UCS-4; 2, UTF-8, is refused and iODBC then converts to what
/// the driver expects). iODBC sets it on every connection it loads the driver for; the
/// width is the process's (one driver manager per process).
pub(crate) fn set_app_wchar_type(value: usize) -> OdbcResult<()> {
    let size = match value {
        SQL_DM_CP_UTF16 => 2,
        SQL_DM_CP_UCS4 => 4,
        other => return Err(OdbcError::invalid_value("SQL_ATTR_APP_WCHAR_TYPE", other as i64)),
    };
    let current = wide_encoding().unit_size() as u8;
    if size != current && WIDE_UNIT_CONFIGURED.load(Ordering::Acquire) {
        return Err(OdbcError::new(
            SqlState::INVALID_ATTRIBUTE_VALUE,
            format!("SQL_ATTR_APP_WCHAR_TYPE: {WIDE_CHAR_SIZE_KEY}={current} in odbcinst.ini fixes the SQLWCHAR size"),
        ));
    }
    WIDE_UNIT.store(size, Ordering::Release);
    Ok(())
}

/// The answer to iODBC's SQL_ATTR_DRIVER_UNICODE_TYPE (3.52.14 and later ask right after
/// SQLAllocHandle(ENV)): the width decided for this process, so that iODBC converts to it
/// when it later finds SQL_ATTR_APP_WCHAR_TYPE refused (`WideCharSize` disagreeing).
pub(crate) fn driver_unicode_type() -> u32 {
    let cp = if wide_encoding() == Encoding::Utf32 { SQL_DM_CP_UCS4 } else { SQL_DM_CP_UTF16 };
    cp as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf32(s: &str) -> Vec<u8> {
        s.chars().flat_map(|c| u32::from(c).to_ne_bytes()).collect()
    }

    #[test]
    fn the_first_two_ascii_characters_tell_utf16_from_utf32() {
        let utf16: Vec<u8> = "DSN=x".encode_utf16().flat_map(u16::to_ne_bytes).collect();
        assert_eq!(sniff_wide_unit(&utf16[..8]), Some(2));
        assert_eq!(sniff_wide_unit(&utf32("DSN=x")[..8]), Some(4));
        // One character and its NUL, or a non-ASCII start: no decision.
        assert_eq!(sniff_wide_unit(&utf32("D\0")[..8]), None);
        assert_eq!(sniff_wide_unit(&utf32("é😀")[..8]), None);
        assert_eq!(sniff_wide_unit(b"DS"), None);
    }

    #[test]
    fn only_utf16_and_ucs4_are_accepted_as_iodbc_wchar_types() {
        // 2 is iODBC's SQL_DM_CP_UTF8: refused, so iODBC converts to what we expect.
        assert_eq!(set_app_wchar_type(2).unwrap_err().state, SqlState::INVALID_ATTRIBUTE_VALUE);
        assert_eq!(set_app_wchar_type(0).unwrap_err().state, SqlState::INVALID_ATTRIBUTE_VALUE);
    }
}
