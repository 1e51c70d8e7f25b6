//! Strings crossing the boundary: narrow (UTF-8 bytes) and wide (SQLWCHAR: UTF-16, or
//! UTF-32 where the driver manager's SQLWCHAR is a 4-byte `wchar_t`) input with
//! a length or SQL_NTS, and output that is always NUL-terminated, reports the full
//! length, and says when it had to truncate (the caller raises 01004).

use super::sqlwchar::wide_encoding_of_input;
pub(crate) use super::sqlwchar::{set_app_wchar_type, wide_encoding, wide_unit_size, SQL_ATTR_APP_WCHAR_TYPE};
use crate::diag::{OdbcError, OdbcResult, SqlState};

pub(crate) const SQL_NTS: isize = -3;
const NOT_UTF8: &str = "string is not valid UTF-8 (the driver expects a UTF-8 locale for ANSI calls)";
/// Longest input string, in units: a NUL-terminated one is scanned no further, a longer
/// explicit length is refused before anything is copied. Above the largest frame the
/// driver may send (64 MiB), so nothing that could be sent is refused here.
const MAX_NTS_UNITS: usize = 64 * 1024 * 1024 + 1;

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

/// How an application's string is laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// The ANSI entry points: UTF-8 bytes.
    Utf8,
    /// SQLWCHAR of 2 bytes (unixODBC, Windows): UTF-16 in native byte order.
    Utf16,
    /// SQLWCHAR of 4 bytes (iODBC's `wchar_t` on Linux and macOS): UTF-32.
    Utf32,
}

impl Encoding {
    /// Bytes per unit.
    pub(crate) fn unit_size(self) -> usize {
        match self {
            Encoding::Utf8 => 1,
            Encoding::Utf16 => 2,
            Encoding::Utf32 => 4,
        }
    }

    /// Unit `i` of the string at `p`, which need not be aligned.
    ///
    /// # Safety
    /// `p` is valid for reading unit `i`.
    unsafe fn load(self, p: *const u8, i: usize) -> u32 {
        match self {
            Encoding::Utf8 => u32::from(p.add(i).read()),
            Encoding::Utf16 => u32::from(p.add(2 * i).cast::<u16>().read_unaligned()),
            Encoding::Utf32 => p.add(4 * i).cast::<u32>().read_unaligned(),
        }
    }

    /// # Safety
    /// `p` is valid for writing unit `i`.
    unsafe fn store(self, p: *mut u8, i: usize, unit: u32) {
        match self {
            Encoding::Utf8 => p.add(i).write(unit as u8),
            Encoding::Utf16 => p.add(2 * i).cast::<u16>().write_unaligned(unit as u16),
            Encoding::Utf32 => p.add(4 * i).cast::<u32>().write_unaligned(unit),
        }
    }

    pub(crate) fn decode(self, units: &[u32]) -> OdbcResult<String> {
        let invalid = |what: &str| OdbcError::new(SqlState::INVALID_CHARACTER_VALUE, what.to_string());
        match self {
            Encoding::Utf8 => {
                String::from_utf8(units.iter().map(|&u| u as u8).collect()).map_err(|_| invalid(NOT_UTF8))
            }
            Encoding::Utf16 => char::decode_utf16(units.iter().map(|&u| u as u16))
                .collect::<Result<String, _>>()
                .map_err(|_| invalid("string is not valid UTF-16")),
            // A surrogate or a value past U+10FFFF is no character: refused, not guessed.
            Encoding::Utf32 => units
                .iter()
                .map(|&u| char::from_u32(u))
                .collect::<Option<String>>()
                .ok_or_else(|| invalid("string is not valid UTF-32 (4-byte SQLWCHAR)")),
        }
    }

    pub(crate) fn encode(self, s: &str) -> Vec<u32> {
        match self {
            Encoding::Utf8 => s.bytes().map(u32::from).collect(),
            Encoding::Utf16 => s.encode_utf16().map(u32::from).collect(),
            Encoding::Utf32 => s.chars().map(u32::from).collect(),
        }
    }

    /// True for a unit that cannot start a character (UTF-8 continuation byte, low
    /// surrogate): output is never cut just before one.
    fn continues_character(self, unit: u32) -> bool {
        match self {
            Encoding::Utf8 => unit & 0xC0 == 0x80,
            Encoding::Utf16 => (0xDC00..0xE000).contains(&unit),
            Encoding::Utf32 => false,
        }
    }
}

/// Character units of the application's strings: `u8` for the ANSI entry points, `u16`
/// (SQLWCHAR, whatever its real size) for the wide ones. One generic implementation
/// serves both; the wide entry points' unit size is decided at run time.
pub(crate) trait AppChar: Copy + 'static {
    fn encoding() -> Encoding;
    /// The encoding of the input string at `ptr` (the width may still be undecided).
    fn input_encoding(_ptr: *const u8) -> Encoding {
        Self::encoding()
    }
    /// Bytes per unit (string lengths some functions take in bytes are divided by it).
    fn unit_size() -> usize {
        Self::encoding().unit_size()
    }
}

impl AppChar for u8 {
    fn encoding() -> Encoding {
        Encoding::Utf8
    }
}

impl AppChar for u16 {
    fn encoding() -> Encoding {
        wide_encoding()
    }
    fn input_encoding(ptr: *const u8) -> Encoding {
        wide_encoding_of_input(ptr)
    }
}

/// Reads an input string of `len` units (or NUL-terminated with SQL_NTS). A null pointer
/// reads as `None`.
///
/// # Safety
/// `ptr` is null, or valid for `len` units, or NUL-terminated when `len` is SQL_NTS.
pub(crate) unsafe fn read_str<C: AppChar>(ptr: *const C, len: isize, what: &str) -> OdbcResult<Option<String>> {
    read_encoded(C::input_encoding(ptr.cast()), ptr.cast(), len, what)
}

/// The units before the first NUL unit of the string at `ptr`, scanning at most `limit`.
///
/// # Safety
/// `ptr` is valid up to its NUL unit or for `limit` units.
pub(crate) unsafe fn nts_units(encoding: Encoding, ptr: *const u8, limit: usize) -> usize {
    (0..limit).find(|&i| encoding.load(ptr, i) == 0).unwrap_or(limit)
}

/// `read_str` for a given encoding.
///
/// # Safety
/// As `read_str`, in units of `encoding`.
pub(crate) unsafe fn read_encoded(
    encoding: Encoding,
    ptr: *const u8,
    len: isize,
    what: &str,
) -> OdbcResult<Option<String>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let units = if len == SQL_NTS {
        let n = nts_units(encoding, ptr, MAX_NTS_UNITS + 1);
        if n > MAX_NTS_UNITS {
            return Err(too_long(what, n));
        }
        n
    } else if len < 0 {
        return Err(OdbcError::buffer_length(what, len as i64));
    } else if len as usize > MAX_NTS_UNITS {
        // Checked before anything is copied: no string the driver sends may be this long
        // (the largest frame is 64 MiB), and copying it could exhaust the host's memory.
        return Err(too_long(what, len as usize));
    } else {
        len as usize
    };
    if encoding == Encoding::Utf8 {
        // The hot path (statement text): one copy, one check.
        return Encoding::Utf8.decode_bytes(std::slice::from_raw_parts(ptr, units)).map(Some);
    }
    // Unit by unit: wide buffers from C need not be aligned.
    let copy: Vec<u32> = (0..units).map(|i| encoding.load(ptr, i)).collect();
    encoding.decode(&copy).map(Some)
}

/// HY090 for an input string longer than any request the server accepts.
fn too_long(what: &str, units: usize) -> OdbcError {
    OdbcError::new(
        SqlState::INVALID_BUFFER_LENGTH,
        format!("{what} of {units} characters is longer than any request the server accepts; nothing was sent"),
    )
}

impl Encoding {
    /// Decodes a string held as bytes (a parameter buffer, a token), in native order.
    pub(crate) fn decode_bytes(self, bytes: &[u8]) -> OdbcResult<String> {
        let mut out = String::new();
        self.decode_into(bytes, &mut out)?;
        Ok(out)
    }

    /// `decode_bytes` appending to `out` (parameter arrays reuse one buffer). A trailing
    /// part of a unit is ignored.
    pub(crate) fn decode_into(self, bytes: &[u8], out: &mut String) -> OdbcResult<()> {
        let invalid = |what: &str| OdbcError::new(SqlState::INVALID_CHARACTER_VALUE, what.to_string());
        match self {
            Encoding::Utf8 => out.push_str(std::str::from_utf8(bytes).map_err(|_| invalid(NOT_UTF8))?),
            Encoding::Utf16 => {
                let units = bytes.chunks_exact(2).map(|u| u16::from_ne_bytes([u[0], u[1]]));
                for c in char::decode_utf16(units) {
                    out.push(c.map_err(|_| invalid("string is not valid UTF-16"))?);
                }
            }
            Encoding::Utf32 => {
                for u in bytes.chunks_exact(4) {
                    let c = char::from_u32(u32::from_ne_bytes([u[0], u[1], u[2], u[3]]));
                    out.push(c.ok_or_else(|| invalid("string is not valid UTF-32 (4-byte SQLWCHAR)"))?);
                }
            }
        }
        Ok(())
    }
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
    let encoding = C::encoding();
    let units = encoding.encode(s);
    write_len(out_len, units.len());
    Ok(copy_terminated(encoding, &units, buf.cast(), capacity as usize))
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
    write_bytes_encoded(C::encoding(), s, buf.cast(), capacity_bytes, out_len, what)
}

/// `write_str_bytes` for a given encoding.
///
/// # Safety
/// As `write_str_bytes`.
pub(crate) unsafe fn write_bytes_encoded<L: OutLen>(
    encoding: Encoding,
    s: &str,
    buf: *mut u8,
    capacity_bytes: isize,
    out_len: *mut L,
    what: &str,
) -> OdbcResult<bool> {
    if capacity_bytes < 0 {
        return Err(OdbcError::buffer_length(what, capacity_bytes as i64));
    }
    let size = encoding.unit_size();
    let units = encoding.encode(s);
    write_len(out_len, units.len() * size);
    Ok(copy_terminated(encoding, &units, buf, capacity_bytes as usize / size))
}

/// Copies as many whole characters as fit before the terminating NUL.
unsafe fn copy_terminated(encoding: Encoding, units: &[u32], buf: *mut u8, capacity: usize) -> bool {
    if buf.is_null() || capacity == 0 {
        return !units.is_empty();
    }
    let mut n = units.len().min(capacity - 1);
    while n > 0 && n < units.len() && encoding.continues_character(units[n]) {
        n -= 1;
    }
    for (i, u) in units[..n].iter().enumerate() {
        encoding.store(buf, i, *u);
    }
    encoding.store(buf, n, 0);
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

    fn utf32(s: &str) -> Vec<u8> {
        s.chars().flat_map(|c| u32::from(c).to_ne_bytes()).collect()
    }

    #[test]
    fn four_byte_sqlwchar_input_is_utf32_counted_in_characters() {
        let mut raw = vec![0u8; 3];
        raw.extend(utf32("DSN=é😀\0"));
        // Unaligned, as a C buffer may be.
        let ptr = raw[3..].as_ptr();
        let read = |len| unsafe { read_encoded(Encoding::Utf32, ptr, len, "t") };
        assert_eq!(read(SQL_NTS).unwrap().as_deref(), Some("DSN=é😀"));
        assert_eq!(read(1).unwrap().as_deref(), Some("D"), "lengths count 4-byte characters");
        let surrogate = 0xD800u32.to_ne_bytes();
        let err = unsafe { read_encoded(Encoding::Utf32, surrogate.as_ptr(), 1, "t") }.unwrap_err();
        assert_eq!(err.state, SqlState::INVALID_CHARACTER_VALUE);
    }

    #[test]
    fn four_byte_sqlwchar_output_reports_bytes_and_is_terminated() {
        let mut buf = [0xFFu8; 12];
        let mut len = 0i32;
        let cut = unsafe { write_bytes_encoded(Encoding::Utf32, "ab😀", buf.as_mut_ptr(), 12, &mut len, "t") };
        assert!(cut.unwrap(), "three characters and a NUL need 16 bytes");
        assert_eq!(len, 12);
        assert_eq!(buf.to_vec(), utf32("ab\0"));
        assert_eq!(Encoding::Utf32.decode_bytes(&utf32("x😀")).unwrap(), "x😀");
    }

    #[test]
    fn a_length_past_any_frame_is_refused_before_anything_is_read() {
        // The buffer is 3 bytes; the length claims 2 GiB. Nothing past the buffer may be
        // touched, and nothing that size may be allocated (it aborted the host).
        let text = b"abc";
        for encoding in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
            let err = unsafe { read_encoded(encoding, text.as_ptr(), i32::MAX as isize, "StatementText") }.unwrap_err();
            assert_eq!(err.state, SqlState::INVALID_BUFFER_LENGTH, "{encoding:?}");
        }
    }
}
