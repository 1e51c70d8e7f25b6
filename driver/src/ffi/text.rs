//! Strings crossing the boundary: narrow (UTF-8 bytes) and wide (UTF-16 units) input with
//! a length or SQL_NTS, and output that is always NUL-terminated, reports the full
//! length, and says when it had to truncate (the caller raises 01004).

use crate::diag::{OdbcError, OdbcResult, SqlState};

pub(crate) const SQL_NTS: isize = -3;
/// Longest NUL-terminated input we scan for its end; past it the string is refused.
const MAX_NTS_UNITS: usize = 256 * 1024 * 1024;

/// Integer types that out-length pointers point to (SQLSMALLINT, SQLINTEGER, SQLLEN).
pub(crate) trait OutLen: Copy {
    fn saturating_from(n: usize) -> Self;
}

impl OutLen for i16 {
    fn saturating_from(n: usize) -> Self {
        i16::try_from(n).unwrap_or(i16::MAX)
    }
}
impl OutLen for i32 {
    fn saturating_from(n: usize) -> Self {
        i32::try_from(n).unwrap_or(i32::MAX)
    }
}
impl OutLen for isize {
    fn saturating_from(n: usize) -> Self {
        isize::try_from(n).unwrap_or(isize::MAX)
    }
}

/// Writes `n` to an optional out-length pointer, tolerating misalignment.
///
/// # Safety
/// `out` is null or valid for a write of `L`.
pub(crate) unsafe fn write_len<L: OutLen>(out: *mut L, n: usize) {
    write_opt(out, L::saturating_from(n));
}

/// Writes `v` to an optional out pointer, tolerating misalignment.
///
/// # Safety
/// `out` is null or valid for a write of `T`.
pub(crate) unsafe fn write_opt<T>(out: *mut T, v: T) {
    if !out.is_null() {
        out.write_unaligned(v);
    }
}

/// Writes a fixed-size value to an optional buffer and its size in bytes to `out_len`,
/// which ODBC reports even when there is no buffer.
///
/// # Safety
/// `value` is null or valid for a write of `T`; `out_len` as for `write_len`.
pub(crate) unsafe fn write_fixed<T, L: OutLen>(value: *mut std::ffi::c_void, v: T, out_len: *mut L) {
    write_opt(value.cast::<T>(), v);
    write_len(out_len, std::mem::size_of::<T>());
}

/// Character units of the application's strings: `u8` for the ANSI entry points, `u16`
/// for the wide ones. One generic implementation serves both.
pub(crate) trait AppChar: Copy + Default + PartialEq + 'static {
    /// Bytes per unit.
    const SIZE: usize;
    fn decode(units: &[Self]) -> OdbcResult<String>;
    fn encode(s: &str) -> Vec<Self>;
    /// True for a unit that cannot start a character (UTF-8 continuation byte, low
    /// surrogate): output is never cut just before one.
    fn continues_character(unit: Self) -> bool;
}

impl AppChar for u8 {
    const SIZE: usize = 1;
    fn decode(units: &[u8]) -> OdbcResult<String> {
        String::from_utf8(units.to_vec()).map_err(|_| {
            OdbcError::new(
                SqlState::INVALID_CHARACTER_VALUE,
                "string is not valid UTF-8 (the driver expects a UTF-8 locale for ANSI calls)",
            )
        })
    }
    fn encode(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }
    fn continues_character(unit: u8) -> bool {
        unit & 0xC0 == 0x80
    }
}

impl AppChar for u16 {
    const SIZE: usize = 2;
    fn decode(units: &[u16]) -> OdbcResult<String> {
        String::from_utf16(units)
            .map_err(|_| OdbcError::new(SqlState::INVALID_CHARACTER_VALUE, "string is not valid UTF-16"))
    }
    fn encode(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }
    fn continues_character(unit: u16) -> bool {
        (0xDC00..0xE000).contains(&unit)
    }
}

/// Reads an input string of `len` units (or NUL-terminated with SQL_NTS). A null pointer
/// reads as `None`.
///
/// # Safety
/// `ptr` is null, or valid for `len` units, or NUL-terminated when `len` is SQL_NTS.
pub(crate) unsafe fn read_str<C: AppChar>(ptr: *const C, len: isize, what: &str) -> OdbcResult<Option<String>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let units = if len == SQL_NTS {
        let mut n = 0;
        while ptr.add(n).read_unaligned() != C::default() {
            n += 1;
            if n > MAX_NTS_UNITS {
                return Err(OdbcError::buffer_length(what, n as i64));
            }
        }
        n
    } else if len < 0 {
        return Err(OdbcError::buffer_length(what, len as i64));
    } else {
        len as usize
    };
    // Copy unit by unit: wide buffers from C need not be 2-byte aligned.
    let copy: Vec<C> = (0..units).map(|i| ptr.add(i).read_unaligned()).collect();
    C::decode(&copy).map(Some)
}

/// Like `read_str`, but a null pointer is HY009.
///
/// # Safety
/// As `read_str`.
pub(crate) unsafe fn read_required<C: AppChar>(ptr: *const C, len: isize, what: &str) -> OdbcResult<String> {
    read_str(ptr, len, what)?.ok_or_else(|| OdbcError::null_pointer(what))
}

/// Writes `s` into a buffer of `capacity` units, NUL-terminated, and its full length in
/// units to `out_len`. Returns true when it had to truncate. A null buffer only reports
/// the length.
///
/// # Safety
/// `buf` is null or valid for `capacity` units; `out_len` is null or valid for a write.
pub(crate) unsafe fn write_str<C: AppChar, L: OutLen>(
    s: &str,
    buf: *mut C,
    capacity: isize,
    out_len: *mut L,
    what: &str,
) -> OdbcResult<bool> {
    if capacity < 0 {
        return Err(OdbcError::buffer_length(what, capacity as i64));
    }
    let units = C::encode(s);
    write_len(out_len, units.len());
    Ok(copy_terminated(&units, buf, capacity as usize))
}

/// `write_str` for the functions whose buffer length and out-length are in bytes even
/// in their wide form (SQLGetInfoW, SQLGetConnectAttrW, SQLColAttributeW, ...).
///
/// # Safety
/// `buf` is null or valid for `capacity_bytes` bytes; `out_len` null or valid.
pub(crate) unsafe fn write_str_bytes<C: AppChar, L: OutLen>(
    s: &str,
    buf: *mut C,
    capacity_bytes: isize,
    out_len: *mut L,
    what: &str,
) -> OdbcResult<bool> {
    if capacity_bytes < 0 {
        return Err(OdbcError::buffer_length(what, capacity_bytes as i64));
    }
    let units = C::encode(s);
    write_len(out_len, units.len() * C::SIZE);
    Ok(copy_terminated(&units, buf, capacity_bytes as usize / C::SIZE))
}

/// Copies as many whole characters as fit before the terminating NUL.
unsafe fn copy_terminated<C: AppChar>(units: &[C], buf: *mut C, capacity: usize) -> bool {
    if buf.is_null() || capacity == 0 {
        return !units.is_empty();
    }
    let mut n = units.len().min(capacity - 1);
    while n > 0 && n < units.len() && C::continues_character(units[n]) {
        n -= 1;
    }
    for (i, u) in units[..n].iter().enumerate() {
        buf.add(i).write_unaligned(*u);
    }
    buf.add(n).write_unaligned(C::default());
    n < units.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_output_is_terminated_truncated_at_a_char_boundary_and_reports_full_length() {
        let mut buf = [0xFFu8; 4];
        let mut len = 0i16;
        let t = unsafe { write_str::<u8, i16>("aé€x", buf.as_mut_ptr(), 4, &mut len, "t") }.unwrap();
        assert!(t);
        assert_eq!(len, 7);
        assert_eq!(&buf[..4], b"a\xc3\xa9\0");
    }

    #[test]
    fn wide_input_may_be_unaligned_and_nul_terminated() {
        let mut raw = vec![0u8; 1];
        for u in "hé".encode_utf16().chain([0]) {
            raw.extend_from_slice(&u.to_ne_bytes());
        }
        let ptr = unsafe { raw.as_ptr().add(1) } as *const u16;
        assert_eq!(unsafe { read_str(ptr, SQL_NTS, "t") }.unwrap().as_deref(), Some("hé"));
        assert_eq!(unsafe { read_str(ptr, 1, "t") }.unwrap().as_deref(), Some("h"));
    }

    #[test]
    fn negative_lengths_other_than_nts_are_refused() {
        let s = b"abc";
        assert_eq!(unsafe { read_str(s.as_ptr(), -5, "t") }.unwrap_err().state, SqlState::INVALID_BUFFER_LENGTH);
        assert!(unsafe { read_str::<u8>(std::ptr::null(), 3, "t") }.unwrap().is_none());
    }

    #[test]
    fn wide_byte_lengths_count_bytes() {
        let mut buf = [0u16; 3];
        let mut len = 0i32;
        let t = unsafe { write_str_bytes::<u16, i32>("abcd", buf.as_mut_ptr(), 6, &mut len, "t") }.unwrap();
        assert!(t);
        assert_eq!(len, 8);
        assert_eq!(buf, [b'a' as u16, b'b' as u16, 0]);
    }
}
