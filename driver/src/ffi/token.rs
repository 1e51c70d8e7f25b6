//! Attribute 1002's value, the second-factor code, as it reaches the driver.
//!
//! Driver managers and applications hand it over in every shape: a narrow, UTF-16 or
//! UTF-32 (iODBC's 4-byte `wchar_t`) string on either entry point, whatever SQLWCHAR is
//! (unixODBC and iODBC pass an unknown attribute through unconverted), NUL-terminated
//! or with a byte length; or an integer, when `ValuePtr` is the value itself:
//! `SQL_IS_INTEGER`/`SQL_IS_UINTEGER`, StringLength 0 (unixODBC's ODBC 2 mapping of
//! `SQLSetConnectOption` onto `SQLSetConnectAttr`), or the ODBC 2 `SQLSetConnectOption`
//! itself (PHP's `odbc_setoption($c, 1, 1002, 123456)`). An ODBC 2 value may also be a
//! string pointer (iODBC replays a 1002 set before connecting that way).
//!
//! Nothing is dereferenced unless it is known to be readable: strings are copied through
//! `readable_copy`, which asks the kernel to read the bytes and stops at the first one
//! that is not mapped, so a wrong pointer becomes HY024, never SIGSEGV in the host.

use std::ffi::c_void;
#[cfg(unix)]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[cfg(windows)]
pub(super) use super::windows::memory::readable_copy;

use super::text::Encoding;
use crate::conn::attributes::check_token;
use crate::diag::{OdbcError, OdbcResult, SqlState};

const SQL_NTS: i32 = super::text::SQL_NTS as i32;
const SQL_IS_UINTEGER: i32 = -5;
const SQL_IS_INTEGER: i32 = -6;
/// Longest token read, in bytes (64 characters of 4 bytes; `check_token` allows 64).
const MAX_TOKEN_BYTES: usize = 256;
/// Codes that may travel as integers: 6 to 8 digits. Fewer digits would be a code with
/// a leading zero, which an integer cannot carry: refused rather than guessed at.
const INTEGER_CODES: std::ops::RangeInclusive<usize> = 100_000..=99_999_999;

/// `SQLSetConnectAttr(W)(dbc, 1002, value, len)`.
///
/// # Safety
/// None beyond the ODBC contract: `value` is only read through `readable_copy`.
pub(crate) unsafe fn read_attr_token(value: *const c_void, len: i32) -> OdbcResult<String> {
    let addr = value as usize;
    match len {
        // The application says ValuePtr is the integer.
        SQL_IS_INTEGER | SQL_IS_UINTEGER => integer_code(addr),
        // StringLength 0 is no string (an empty code); it is how unixODBC forwards an
        // integer given to SQLSetConnectOption or DMConnAttr=[1002]=\123456.
        0 if addr != 0 && !is_readable(addr) => integer_code(addr),
        _ if addr == 0 => Err(OdbcError::null_pointer("ValuePtr (two-factor code)")),
        0 => Err(not_a_code("StringLength 0 with a string pointer is an empty code")),
        // iODBC maps an ODBC 3 application's SQLSetConnectOption(1002, 123456) onto
        // SQLSetConnectAttrW(1002, 123456, SQL_NTS): an integer may come this way too.
        SQL_NTS => read_string_or_integer(addr),
        n if n > 0 => {
            let n = n as usize;
            if n > MAX_TOKEN_BYTES {
                return Err(OdbcError::buffer_length("StringLength", n as i64));
            }
            let bytes = readable_copy(addr, n);
            if bytes.len() < n {
                return Err(not_a_code("ValuePtr is not readable for StringLength bytes"));
            }
            check_token(&sized_encoding(&bytes).decode_bytes(&bytes).map_err(|_| undecodable())?)
        }
        other => Err(OdbcError::buffer_length("StringLength", other.into())),
    }
}

/// A value with `SQL_NTS`, as also ODBC 2 `SQLSetConnectOption(W)(dbc, 1002, value)` is
/// read: an integer, or a pointer to a NUL-terminated string. A 6-8 digit value that is
/// not readable memory is the code; readable memory is a string; anything else is refused.
fn read_string_or_integer(value: usize) -> OdbcResult<String> {
    if value == 0 {
        return Err(OdbcError::null_pointer("vParam (two-factor code)"));
    }
    if is_readable(value) {
        return nts_token(value);
    }
    integer_code(value)
}

fn integer_code(value: usize) -> OdbcResult<String> {
    if INTEGER_CODES.contains(&value) {
        return Ok(value.to_string());
    }
    Err(not_a_code(
        "a code given as an integer must have 6 to 8 digits; pass a code with a leading zero as a string \
         (or TwoFactorCode in the connection string)",
    ))
}

fn not_a_code(why: &str) -> OdbcError {
    OdbcError::new(SqlState::INVALID_ATTRIBUTE_VALUE, format!("invalid two-factor code: {why}"))
}

fn undecodable() -> OdbcError {
    not_a_code("not valid UTF-8, UTF-16 or UTF-32 text")
}

/// A NUL-terminated token: its encoding is read from its first bytes, its end found by
/// reading on in small steps (never far past the terminator).
fn nts_token(addr: usize) -> OdbcResult<String> {
    let mut bytes = Vec::new();
    let mut encoding = None;
    while bytes.len() < MAX_TOKEN_BYTES + 4 {
        let chunk = readable_copy(addr.wrapping_add(bytes.len()), 16);
        if chunk.is_empty() {
            return Err(not_a_code("ValuePtr is not readable up to a terminating NUL"));
        }
        bytes.extend_from_slice(&chunk);
        let e = match encoding {
            Some(e) => e,
            None => match nts_encoding(&bytes) {
                Some(e) => *encoding.insert(e),
                None => continue,
            },
        };
        let size = e.unit_size();
        if let Some(end) = bytes.chunks_exact(size).position(|u| u.iter().all(|&b| b == 0)) {
            bytes.truncate(end * size);
            return check_token(&e.decode_bytes(&bytes).map_err(|_| undecodable())?);
        }
    }
    Err(OdbcError::buffer_length("ValuePtr (two-factor code)", bytes.len() as i64))
}

/// The encoding of a NUL-terminated token from its first four bytes (`None`: fewer
/// read yet). A code is ASCII of two characters or more, so: a non-zero second byte is
/// narrow; a zero second byte and a non-zero second unit is UTF-16; a whole zero
/// 16-bit unit after the first character is UTF-32. (A one-character string, narrow or
/// UTF-16, is no valid code whichever way it is read.)
fn nts_encoding(b: &[u8]) -> Option<Encoding> {
    match b {
        [0, ..] | [_, 1..=u8::MAX, ..] => Some(Encoding::Utf8),
        [_, 0, x, y, ..] if (*x, *y) != (0, 0) => Some(Encoding::Utf16),
        [_, 0, 0, 0, ..] => Some(Encoding::Utf32),
        _ => None,
    }
}

/// The encoding of a token given with its byte length: UTF-32 when every 4-byte unit
/// is one ASCII character (three zero bytes; impossible in UTF-16, where a zero unit
/// would be a NUL), else UTF-16 when every 2-byte unit is, else narrow.
fn sized_encoding(bytes: &[u8]) -> Encoding {
    let ascii_units = |size: usize| {
        bytes.len() >= size
            && bytes.len().is_multiple_of(size)
            && bytes[0] != 0
            && bytes.chunks_exact(size).all(|u| u[1..].iter().all(|&b| b == 0))
    };
    if ascii_units(4) {
        Encoding::Utf32
    } else if ascii_units(2) {
        Encoding::Utf16
    } else {
        Encoding::Utf8
    }
}

/// Whether the byte at `addr` is readable memory.
fn is_readable(addr: usize) -> bool {
    readable_copy(addr, 1).len() == 1
}

/// Copies up to `len` bytes from `addr`, stopping at the first byte that is not readable:
/// the kernel reads them (a `write` from that address into a pipe fails with EFAULT
/// instead of faulting), so no address, however wrong, can crash the host. Copies
/// 4096-byte-aligned pieces, which never straddle a page.
#[cfg(unix)]
pub(super) fn readable_copy(addr: usize, len: usize) -> Vec<u8> {
    const PIECE: usize = 4096;
    let mut out = Vec::with_capacity(len);
    let Some((reader, writer)) = pipe() else {
        return out;
    };
    while out.len() < len {
        let at = addr.wrapping_add(out.len());
        let piece = (len - out.len()).min(PIECE - at % PIECE);
        // SAFETY: write(2) reads `piece` bytes at `at` in the kernel, which reports an
        // unmapped address as EFAULT; the pipe is empty, so a piece this small never blocks.
        let written = unsafe { libc::write(writer.as_raw_fd(), at as *const c_void, piece) };
        let Ok(written) = usize::try_from(written) else { break };
        let start = out.len();
        out.resize(start + written, 0);
        let mut got = 0;
        while got < written {
            // SAFETY: `out` has room for `written - got` more bytes at `start + got`.
            let n = unsafe { libc::read(reader.as_raw_fd(), out[start + got..].as_mut_ptr().cast(), written - got) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => got += n,
                _ => {
                    out.truncate(start + got);
                    return out;
                }
            }
        }
        if written < piece {
            break;
        }
    }
    out
}

/// A close-on-exec pipe; both ends close when dropped. We hold the read end, so the
/// write end can never raise SIGPIPE.
#[cfg(unix)]
fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) returns.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&reader, &writer] {
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Some((reader, writer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_ne_bytes).collect()
    }
    fn utf32(s: &str) -> Vec<u8> {
        s.chars().flat_map(|c| u32::from(c).to_ne_bytes()).collect()
    }
    fn attr(bytes: &[u8], len: i32) -> OdbcResult<String> {
        unsafe { read_attr_token(bytes.as_ptr().cast(), len) }
    }
    fn state(r: OdbcResult<String>) -> SqlState {
        r.unwrap_err().state
    }

    #[test]
    fn narrow_utf16_and_utf32_tokens_are_read_with_nts_or_a_byte_length() {
        assert_eq!(attr(b"123456\0", SQL_NTS).unwrap(), "123456");
        assert_eq!(attr(b"111222xx", 6).unwrap(), "111222");
        for token in ["654321", "abcd-efgh-1234"] {
            let w = utf16(&format!("{token}\0"));
            assert_eq!(attr(&w, SQL_NTS).unwrap(), token);
            assert_eq!(attr(&w, (w.len() - 2) as i32).unwrap(), token);
            let w = utf32(&format!("{token}\0"));
            assert_eq!(attr(&w, SQL_NTS).unwrap(), token, "UCS-4 with NTS");
            assert_eq!(attr(&w, (w.len() - 4) as i32).unwrap(), token, "UCS-4 with a byte length");
            assert_eq!(attr(&w, w.len() as i32).unwrap(), token, "UCS-4 length counting the NUL");
        }
    }

    #[test]
    fn the_encoding_of_a_terminated_token_is_told_by_its_first_bytes() {
        assert_eq!(nts_encoding(b"12"), Some(Encoding::Utf8));
        assert_eq!(nts_encoding(&utf16("12")), Some(Encoding::Utf16));
        assert_eq!(nts_encoding(&utf32("12")), Some(Encoding::Utf32));
        assert_eq!(nts_encoding(b"1\0"), None, "needs more bytes");
        assert_eq!(sized_encoding(&utf32("12")), Encoding::Utf32);
        assert_eq!(sized_encoding(&utf16("12")), Encoding::Utf16);
        assert_eq!(sized_encoding(b"1234"), Encoding::Utf8);
    }

    #[test]
    fn integer_values_are_codes_of_six_to_eight_digits() {
        let int = |v: usize, len| unsafe { read_attr_token(v as *const c_void, len) };
        assert_eq!(int(123456, SQL_IS_INTEGER).unwrap(), "123456");
        assert_eq!(int(12345678, SQL_IS_UINTEGER).unwrap(), "12345678");
        assert_eq!(int(654321, 0).unwrap(), "654321", "unixODBC's ODBC 2 mapping passes StringLength 0");
        // 012345 as an integer is 12345: a leading zero is lost, so it is refused.
        assert_eq!(state(int(12345, SQL_IS_INTEGER)), SqlState::INVALID_ATTRIBUTE_VALUE);
        assert_eq!(state(int(123456789, SQL_IS_INTEGER)), SqlState::INVALID_ATTRIBUTE_VALUE);
        assert_eq!(state(int(0, SQL_IS_INTEGER)), SqlState::INVALID_ATTRIBUTE_VALUE);
    }

    #[test]
    fn an_odbc2_value_is_an_integer_or_a_readable_string_and_nothing_else_is_touched() {
        assert_eq!(read_string_or_integer(123456).unwrap(), "123456");
        let s = b"987654\0";
        assert_eq!(read_string_or_integer(s.as_ptr() as usize).unwrap(), "987654");
        let w = utf32("24680135\0");
        assert_eq!(read_string_or_integer(w.as_ptr() as usize).unwrap(), "24680135");
        assert_eq!(read_string_or_integer(0).unwrap_err().state, SqlState::INVALID_NULL_POINTER);
        // Neither a code nor mapped memory (an address the kernel never maps).
        assert_eq!(state(read_string_or_integer(4096)), SqlState::INVALID_ATTRIBUTE_VALUE);
        assert_eq!(state(read_string_or_integer(usize::MAX - 8)), SqlState::INVALID_ATTRIBUTE_VALUE);
    }

    #[test]
    fn bad_pointers_lengths_and_text_are_diagnostics() {
        assert_eq!(state(attr(b"1", -7)), SqlState::INVALID_BUFFER_LENGTH);
        assert_eq!(state(attr(b"1", 100_000)), SqlState::INVALID_BUFFER_LENGTH);
        assert_eq!(state(unsafe { read_attr_token(std::ptr::null(), SQL_NTS) }), SqlState::INVALID_NULL_POINTER);
        assert_eq!(state(unsafe { read_attr_token(16 as *const c_void, SQL_NTS) }), SqlState::INVALID_ATTRIBUTE_VALUE);
        assert_eq!(state(unsafe { read_attr_token(16 as *const c_void, 6) }), SqlState::INVALID_ATTRIBUTE_VALUE);
        assert_eq!(state(attr(b"12\xff\xfe56\0", SQL_NTS)), SqlState::INVALID_ATTRIBUTE_VALUE);
        assert_eq!(state(attr(b"123456\0", 0)), SqlState::INVALID_ATTRIBUTE_VALUE, "a string of length 0");
        let unterminated = vec![b'1'; 4096];
        assert_eq!(state(attr(&unterminated, SQL_NTS)), SqlState::INVALID_BUFFER_LENGTH);
    }

    #[test]
    fn readable_copy_stops_at_unmapped_memory() {
        let data = [7u8; 64];
        assert_eq!(readable_copy(data.as_ptr() as usize, 64), data);
        assert!(readable_copy(8, 16).is_empty());
    }
}
