//! SQL value → C buffer. One call converts one value, or the next piece of a long one:
//! `offset` counts the units (bytes for C_CHAR/C_BINARY, SQLWCHAR units for C_WCHAR: UTF-16,
//! or UTF-32 where the driver manager's SQLWCHAR has 4 bytes; hex
//! digits for binary shown as text) earlier calls already returned.

use std::fmt::Write;

use twofactor_protocol::{sql_type, Date, Time, Timestamp, ValueRef};

use super::format::{self, is_plain_decimal, StackStr};
use super::{CType, SQL_NULL_DATA};
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// Where a value goes: the C type, and for SQL_C_NUMERIC the precision and scale the
/// application descriptor asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub ctype: CType,
    pub precision: u8,
    pub scale: i8,
}

impl Target {
    pub fn new(ctype: CType) -> Self {
        Target { ctype, precision: 38, scale: 0 }
    }
}

/// What one conversion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// For StrLen_or_IndPtr: bytes available before this call (or SQL_NULL_DATA).
    pub indicator: isize,
    /// Source units returned by this call; the next piece starts after them.
    pub consumed: usize,
    /// Nothing remains after this call.
    pub complete: bool,
    /// 01004 or 01S07.
    pub warning: Option<OdbcError>,
}

impl Piece {
    fn fixed(size: usize, warning: Option<OdbcError>) -> Self {
        Piece { indicator: size as isize, consumed: 0, complete: true, warning }
    }
    pub fn null() -> Self {
        Piece { indicator: SQL_NULL_DATA, consumed: 0, complete: true, warning: None }
    }
}

fn truncated() -> OdbcError {
    OdbcError::new(SqlState::STRING_TRUNCATED, "string data, right truncated")
}
fn fraction_truncated() -> OdbcError {
    OdbcError::new(SqlState::FRACTIONAL_TRUNCATION, "fractional truncation")
}
pub(crate) fn out_of_range() -> OdbcError {
    OdbcError::new(SqlState::NUMERIC_OUT_OF_RANGE, "numeric value out of range")
}
pub(crate) fn invalid_character() -> OdbcError {
    OdbcError::new(SqlState::INVALID_CHARACTER_VALUE, "invalid character value for cast specification")
}
/// The server sends a stored TEXT value that is not valid UTF-8 (written by another
/// program) as bytes; as characters it is refused, never repaired. SQL_C_BINARY gets it.
fn not_text() -> OdbcError {
    OdbcError::new(
        SqlState::INVALID_CHARACTER_VALUE,
        "the stored value of this character column is not valid UTF-8; fetch it as SQL_C_BINARY",
    )
}

pub(crate) fn restricted(ctype: CType) -> OdbcError {
    OdbcError::new(
        SqlState::RESTRICTED_DATA_TYPE,
        format!("restricted data type attribute violation: cannot convert to {ctype:?}"),
    )
}

/// Converts `value` (of a column whose SQL type is `sql`) into `buf`. For character and
/// binary targets `buf` is the application's whole buffer; for fixed-size targets it is
/// at least `CType::fixed_size` bytes. A NULL value writes nothing and reports
/// SQL_NULL_DATA; the caller raises 22002 when there is no indicator to report it in.
pub fn to_c(value: ValueRef<'_>, sql: i16, target: Target, buf: &mut [u8], offset: usize) -> OdbcResult<Piece> {
    if value.is_null() {
        return Ok(Piece::null());
    }
    let ctype = match target.ctype {
        CType::Default => CType::default_for(sql),
        other => other,
    };
    if let Some(size) = ctype.fixed_size() {
        if buf.len() < size {
            return Err(OdbcError::buffer_length("fixed-size target", buf.len() as i64));
        }
    }
    match ctype {
        CType::Char | CType::WChar if matches!(value, ValueRef::Bytes(_)) && super::is_character_sql(sql) => {
            Err(not_text())
        }
        CType::Char => to_chars(value, buf, offset, false),
        CType::WChar => to_chars(value, buf, offset, true),
        CType::Binary => to_binary(value, buf, offset),
        CType::Bit => {
            let num = numeric_source(value, ctype)?;
            let (v, lost) = integral(num, 0, 1)?;
            buf[0] = v as u8;
            Ok(Piece::fixed(1, lost.then(fraction_truncated)))
        }
        CType::STinyInt => put_int(value, ctype, buf, i8::MIN.into(), i8::MAX.into(), |v, b| {
            b[..1].copy_from_slice(&(v as i8).to_ne_bytes())
        }),
        CType::UTinyInt => put_int(value, ctype, buf, 0, u8::MAX.into(), |v, b| b[0] = v as u8),
        CType::SShort => put_int(value, ctype, buf, i16::MIN.into(), i16::MAX.into(), |v, b| {
            b[..2].copy_from_slice(&(v as i16).to_ne_bytes())
        }),
        CType::UShort => {
            put_int(value, ctype, buf, 0, u16::MAX.into(), |v, b| b[..2].copy_from_slice(&(v as u16).to_ne_bytes()))
        }
        CType::SLong => put_int(value, ctype, buf, i32::MIN.into(), i32::MAX.into(), |v, b| {
            b[..4].copy_from_slice(&(v as i32).to_ne_bytes())
        }),
        CType::ULong => {
            put_int(value, ctype, buf, 0, u32::MAX.into(), |v, b| b[..4].copy_from_slice(&(v as u32).to_ne_bytes()))
        }
        CType::SBigInt => put_int(value, ctype, buf, i64::MIN.into(), i64::MAX.into(), |v, b| {
            b[..8].copy_from_slice(&(v as i64).to_ne_bytes())
        }),
        CType::UBigInt => {
            put_int(value, ctype, buf, 0, u64::MAX.into(), |v, b| b[..8].copy_from_slice(&(v as u64).to_ne_bytes()))
        }
        CType::Double => {
            let v = to_f64(numeric_source(value, ctype)?)?;
            buf[..8].copy_from_slice(&v.to_ne_bytes());
            Ok(Piece::fixed(8, None))
        }
        CType::Float => {
            let v = to_f64(numeric_source(value, ctype)?)?;
            if v.is_finite() && v.abs() > f64::from(f32::MAX) {
                return Err(out_of_range());
            }
            buf[..4].copy_from_slice(&(v as f32).to_ne_bytes());
            Ok(Piece::fixed(4, None))
        }
        CType::Numeric => to_numeric(numeric_source(value, ctype)?, target.precision, target.scale, buf),
        CType::Date | CType::Time | CType::Timestamp => to_datetime(value, ctype, buf),
        CType::Guid => to_guid(value, buf),
        CType::Default => unreachable!("resolved above"),
    }
}

// ---------------------------------------------------------------- character targets

/// Bytes per unit of a C_CHAR (`wide` false) or C_WCHAR target.
fn unit_size(wide: bool) -> usize {
    if wide {
        crate::ffi::text::wide_unit_size()
    } else {
        1
    }
}

/// Stores one unit in native order in `dst`, whose length is the unit size.
fn put_unit(dst: &mut [u8], unit: u32) {
    match dst.len() {
        1 => dst[0] = unit as u8,
        2 => dst.copy_from_slice(&(unit as u16).to_ne_bytes()),
        _ => dst.copy_from_slice(&unit.to_ne_bytes()),
    }
}

/// Writes `total` units, starting at `offset`, taken from `units` (already positioned at
/// `offset`), NUL-terminated, in units of `size` bytes.
fn put_stream(total: usize, offset: usize, buf: &mut [u8], size: usize, units: impl Iterator<Item = u32>) -> Piece {
    let remaining = total.saturating_sub(offset);
    let capacity = buf.len() / size;
    if capacity == 0 {
        return Piece {
            indicator: (remaining * size) as isize,
            consumed: 0,
            complete: remaining == 0,
            warning: (remaining > 0).then(truncated),
        };
    }
    let n = remaining.min(capacity - 1);
    for (dst, u) in buf.chunks_exact_mut(size).zip(units.take(n)) {
        put_unit(dst, u);
    }
    buf[n * size..n * size + size].fill(0);
    Piece {
        indicator: (remaining * size) as isize,
        consumed: n,
        complete: n == remaining,
        warning: (n < remaining).then(truncated),
    }
}

/// Narrow text, the hot path: one copy.
fn put_bytes_terminated(src: &[u8], offset: usize, buf: &mut [u8]) -> Piece {
    let remaining = src.len().saturating_sub(offset);
    if buf.is_empty() {
        return Piece {
            indicator: remaining as isize,
            consumed: 0,
            complete: remaining == 0,
            warning: (remaining > 0).then(truncated),
        };
    }
    let n = remaining.min(buf.len() - 1);
    buf[..n].copy_from_slice(&src[offset..offset + n]);
    buf[n] = 0;
    Piece {
        indicator: remaining as isize,
        consumed: n,
        complete: n == remaining,
        warning: (n < remaining).then(truncated),
    }
}

/// ASCII text as SQLWCHAR units of `size` bytes: one unit per byte, written straight
/// into the target.
fn put_ascii_wide(src: &[u8], offset: usize, buf: &mut [u8], size: usize) -> Piece {
    let rest = &src[offset.min(src.len())..];
    let remaining = rest.len();
    let capacity = buf.len() / size;
    if capacity == 0 {
        return Piece {
            indicator: (remaining * size) as isize,
            consumed: 0,
            complete: remaining == 0,
            warning: (remaining > 0).then(truncated),
        };
    }
    let n = remaining.min(capacity - 1);
    if size == 2 {
        for (unit, &b) in buf.chunks_exact_mut(2).zip(&rest[..n]) {
            unit.copy_from_slice(&u16::from(b).to_ne_bytes());
        }
    } else {
        for (unit, &b) in buf.chunks_exact_mut(size).zip(&rest[..n]) {
            put_unit(unit, u32::from(b));
        }
    }
    buf[size * n..size * n + size].fill(0);
    Piece {
        indicator: (remaining * size) as isize,
        consumed: n,
        complete: n == remaining,
        warning: (n < remaining).then(truncated),
    }
}

fn put_text(s: &str, offset: usize, buf: &mut [u8], wide: bool) -> Piece {
    if !wide {
        return put_bytes_terminated(s.as_bytes(), offset, buf);
    }
    let size = unit_size(true);
    if s.is_ascii() {
        return put_ascii_wide(s.as_bytes(), offset, buf, size);
    }
    if size == 4 {
        return put_stream(s.chars().count(), offset, buf, 4, s.chars().skip(offset).map(u32::from));
    }
    put_stream(s.encode_utf16().count(), offset, buf, 2, s.encode_utf16().skip(offset).map(u32::from))
}

/// Numbers and dates as text: the whole value must fit, except for digits after
/// `significant` characters (fractional digits), whose loss is only a 01004 warning.
/// Continuation calls (offset > 0) behave like text.
fn put_formatted(s: &str, significant: usize, offset: usize, buf: &mut [u8], wide: bool) -> OdbcResult<Piece> {
    let capacity = buf.len() / unit_size(wide);
    if offset == 0 && capacity > 0 && s.len() >= capacity && significant >= capacity {
        return Err(out_of_range());
    }
    Ok(put_text(s, offset, buf, wide))
}

fn to_chars(value: ValueRef<'_>, buf: &mut [u8], offset: usize, wide: bool) -> OdbcResult<Piece> {
    // Text and bytes first: the formatting buffer below is 512 bytes to initialize.
    match value {
        ValueRef::Text(s) => return Ok(put_text(s, offset, buf, wide)),
        ValueRef::Bytes(b) => {
            let total = b.len() * 2;
            let start = offset.min(total);
            let units = (start..total).map(|i| u32::from(format::hex_char(b, i)));
            return Ok(put_stream(total, offset, buf, unit_size(wide), units));
        }
        _ => {}
    }
    let mut out = StackStr::new();
    let (text, significant): (&str, usize) = match value {
        ValueRef::Text(_) | ValueRef::Bytes(_) => unreachable!("returned above"),
        ValueRef::Decimal(s) => (s, s.find('.').unwrap_or(s.len())),
        ValueRef::Int(v) => {
            let _ = write!(out, "{v}");
            (out.as_str(), out.as_str().len())
        }
        ValueRef::Double(v) => {
            format::write_double(&mut out, v);
            let s = out.as_str();
            (s, s.find(['.', 'e']).unwrap_or(s.len()))
        }
        ValueRef::Bool(b) => (if b { "1" } else { "0" }, 1),
        ValueRef::Date(d) => {
            format::write_date(&mut out, d);
            (out.as_str(), 10)
        }
        ValueRef::Time(t) => {
            format::write_time(&mut out, t);
            (out.as_str(), 8)
        }
        ValueRef::Timestamp(ts) => {
            format::write_timestamp(&mut out, ts);
            (out.as_str(), 19)
        }
        ValueRef::Null => return Ok(Piece::null()),
    };
    put_formatted(text, significant, offset, buf, wide)
}

// ---------------------------------------------------------------- binary targets

fn put_binary_piece(src: &[u8], offset: usize, buf: &mut [u8]) -> Piece {
    let remaining = src.len().saturating_sub(offset);
    let n = remaining.min(buf.len());
    buf[..n].copy_from_slice(&src[offset..offset + n]);
    Piece {
        indicator: remaining as isize,
        consumed: n,
        complete: n == remaining,
        warning: (n < remaining).then(truncated),
    }
}

fn put_fixed_binary(bytes: &[u8], buf: &mut [u8]) -> OdbcResult<Piece> {
    let dst = buf.get_mut(..bytes.len()).ok_or_else(out_of_range)?;
    dst.copy_from_slice(bytes);
    Ok(Piece::fixed(bytes.len(), None))
}

fn to_binary(value: ValueRef<'_>, buf: &mut [u8], offset: usize) -> OdbcResult<Piece> {
    match value {
        ValueRef::Text(s) | ValueRef::Decimal(s) => Ok(put_binary_piece(s.as_bytes(), offset, buf)),
        ValueRef::Bytes(b) => Ok(put_binary_piece(b, offset, buf)),
        ValueRef::Int(v) => put_fixed_binary(&v.to_ne_bytes(), buf),
        ValueRef::Double(v) => put_fixed_binary(&v.to_ne_bytes(), buf),
        ValueRef::Bool(v) => put_fixed_binary(&[u8::from(v)], buf),
        ValueRef::Date(d) => put_fixed_binary(&date_struct(d), buf),
        ValueRef::Time(t) => put_fixed_binary(&time_struct(t), buf),
        ValueRef::Timestamp(ts) => put_fixed_binary(&timestamp_struct(ts), buf),
        ValueRef::Null => Ok(Piece::null()),
    }
}

// ---------------------------------------------------------------- numeric targets

/// A number as the source of a numeric conversion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num<'a> {
    I(i64),
    F(f64),
    /// Plain decimal text, `[-]digits[.digits]`.
    D(&'a str),
}

/// Numbers, booleans and numeric text convert to numbers; everything else may not.
pub(crate) fn numeric_source(value: ValueRef<'_>, ctype: CType) -> OdbcResult<Num<'_>> {
    match value {
        ValueRef::Int(v) => Ok(Num::I(v)),
        ValueRef::Double(v) => Ok(Num::F(v)),
        ValueRef::Decimal(s) => Ok(Num::D(s)),
        ValueRef::Bool(b) => Ok(Num::I(i64::from(b))),
        ValueRef::Text(s) => parse_number(s),
        _ => Err(restricted(ctype)),
    }
}

/// Numeric text: an integer, a plain decimal, or a float with an exponent. 22018 else.
pub(crate) fn parse_number(s: &str) -> OdbcResult<Num<'_>> {
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if let Ok(v) = t.parse::<i64>() {
        return Ok(Num::I(v));
    }
    if is_plain_decimal(t) {
        return Ok(Num::D(t));
    }
    let has_digit = t.bytes().any(|b| b.is_ascii_digit());
    let only_number_chars = t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    match t.parse::<f64>() {
        Ok(v) if has_digit && only_number_chars => Ok(Num::F(v)),
        _ => Err(invalid_character()),
    }
}

/// The integral part of `num` in `min..=max`, and whether a fraction was dropped.
pub(crate) fn integral(num: Num<'_>, min: i128, max: i128) -> OdbcResult<(i128, bool)> {
    let (v, lost) = match num {
        Num::I(v) => (i128::from(v), false),
        Num::F(f) => {
            if !f.is_finite() {
                return Err(out_of_range());
            }
            let t = f.trunc();
            if t < min as f64 || t > max as f64 {
                return Err(out_of_range());
            }
            (t as i128, t != f)
        }
        Num::D(s) => {
            let (neg, body) = match s.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, s),
            };
            let (int, frac) = body.split_once('.').unwrap_or((body, ""));
            let int = int.trim_start_matches('0');
            if int.len() > 38 {
                return Err(out_of_range());
            }
            let mag: i128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| out_of_range())? };
            (if neg { -mag } else { mag }, frac.bytes().any(|b| b != b'0'))
        }
    };
    if v < min || v > max {
        return Err(out_of_range());
    }
    Ok((v, lost))
}

fn put_int(
    value: ValueRef<'_>,
    ctype: CType,
    buf: &mut [u8],
    min: i128,
    max: i128,
    write: impl FnOnce(i128, &mut [u8]),
) -> OdbcResult<Piece> {
    let (v, lost) = integral(numeric_source(value, ctype)?, min, max)?;
    write(v, buf);
    Ok(Piece::fixed(ctype.fixed_size().unwrap_or(0), lost.then(fraction_truncated)))
}

pub(crate) fn to_f64(num: Num<'_>) -> OdbcResult<f64> {
    Ok(match num {
        Num::I(v) => v as f64,
        Num::F(v) => v,
        Num::D(s) => s.parse().map_err(|_| invalid_character())?,
    })
}

/// SQL_NUMERIC_STRUCT: precision, scale, sign (1 = positive), 16-byte little-endian
/// magnitude scaled by 10^scale.
fn to_numeric(num: Num<'_>, precision: u8, scale: i8, buf: &mut [u8]) -> OdbcResult<Piece> {
    let mut text = StackStr::new();
    let s: &str = match num {
        Num::I(v) => {
            let _ = write!(text, "{v}");
            text.as_str()
        }
        Num::F(v) if v.is_finite() => {
            let _ = write!(text, "{v}");
            if text.overflowed() {
                return Err(out_of_range());
            }
            text.as_str()
        }
        Num::F(_) => return Err(out_of_range()),
        Num::D(s) => s,
    };
    let (mag, neg, lost) = scaled_magnitude(s, scale.max(0) as usize)?;
    if precision > 0 && mag != 0 && mag.ilog10() + 1 > u32::from(precision) {
        return Err(out_of_range());
    }
    buf[0] = precision;
    buf[1] = scale.max(0) as u8;
    buf[2] = u8::from(!neg || mag == 0);
    buf[3..19].copy_from_slice(&mag.to_le_bytes());
    Ok(Piece::fixed(19, lost.then(fraction_truncated)))
}

/// `s` (plain decimal) times 10^scale as an unsigned magnitude, its sign, and whether
/// nonzero digits beyond the scale were dropped.
pub(crate) fn scaled_magnitude(s: &str, scale: usize) -> OdbcResult<(u128, bool, bool)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut mag: u128 = 0;
    let frac_digits = frac.bytes().chain(std::iter::repeat(b'0')).take(scale);
    for d in int.bytes().chain(frac_digits) {
        if !d.is_ascii_digit() {
            return Err(invalid_character());
        }
        mag = mag.checked_mul(10).and_then(|m| m.checked_add(u128::from(d - b'0'))).ok_or_else(out_of_range)?;
    }
    let lost = frac.bytes().skip(scale).any(|b| b != b'0');
    Ok((mag, neg, lost))
}

// ---------------------------------------------------------------- dates and times

pub(crate) fn date_struct(d: Date) -> [u8; 6] {
    let mut b = [0u8; 6];
    b[0..2].copy_from_slice(&d.year.to_ne_bytes());
    b[2..4].copy_from_slice(&u16::from(d.month).to_ne_bytes());
    b[4..6].copy_from_slice(&u16::from(d.day).to_ne_bytes());
    b
}

pub(crate) fn time_struct(t: Time) -> [u8; 6] {
    let mut b = [0u8; 6];
    b[0..2].copy_from_slice(&u16::from(t.hour).to_ne_bytes());
    b[2..4].copy_from_slice(&u16::from(t.minute).to_ne_bytes());
    b[4..6].copy_from_slice(&u16::from(t.second).to_ne_bytes());
    b
}

pub(crate) fn timestamp_struct(ts: Timestamp) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..6].copy_from_slice(&date_struct(ts.date));
    b[6..12].copy_from_slice(&time_struct(ts.time));
    b[12..16].copy_from_slice(&ts.time.nanos.to_ne_bytes());
    b
}

const MIDNIGHT: Time = Time { hour: 0, minute: 0, second: 0, nanos: 0 };

fn to_datetime(value: ValueRef<'_>, ctype: CType, buf: &mut [u8]) -> OdbcResult<Piece> {
    // Text is parsed as the most specific form it holds.
    let parsed;
    let value = match value {
        ValueRef::Text(s) => {
            parsed = match ctype {
                CType::Time => format::parse_time(s).map(ValueRef::Time),
                _ => None,
            }
            .or_else(|| {
                format::parse_timestamp(s).map(|ts| {
                    if s.trim().len() <= 10 {
                        ValueRef::Date(ts.date)
                    } else {
                        ValueRef::Timestamp(ts)
                    }
                })
            })
            .ok_or_else(invalid_character)?;
            parsed
        }
        other => other,
    };
    match (ctype, value) {
        (CType::Date, ValueRef::Date(d)) => put_struct(buf, &date_struct(d), None),
        (CType::Date, ValueRef::Timestamp(ts)) => {
            put_struct(buf, &date_struct(ts.date), (ts.time != MIDNIGHT).then(fraction_truncated))
        }
        (CType::Time, ValueRef::Time(t)) => put_struct(buf, &time_struct(t), (t.nanos != 0).then(fraction_truncated)),
        (CType::Time, ValueRef::Timestamp(ts)) => {
            put_struct(buf, &time_struct(ts.time), (ts.time.nanos != 0).then(fraction_truncated))
        }
        (CType::Timestamp, ValueRef::Timestamp(ts)) => put_struct(buf, &timestamp_struct(ts), None),
        (CType::Timestamp, ValueRef::Date(d)) => {
            put_struct(buf, &timestamp_struct(Timestamp { date: d, time: MIDNIGHT }), None)
        }
        (CType::Timestamp, ValueRef::Time(t)) => {
            put_struct(buf, &timestamp_struct(Timestamp { date: format::today(), time: t }), None)
        }
        _ => Err(restricted(ctype)),
    }
}

fn put_struct(buf: &mut [u8], bytes: &[u8], warning: Option<OdbcError>) -> OdbcResult<Piece> {
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(Piece::fixed(bytes.len(), warning))
}

// ---------------------------------------------------------------- GUID

/// SQLGUID: Data1 u32, Data2 u16, Data3 u16 (native order), Data4 8 bytes.
fn to_guid(value: ValueRef<'_>, buf: &mut [u8]) -> OdbcResult<Piece> {
    match value {
        ValueRef::Bytes(b) if b.len() == 16 => put_struct(buf, b, None),
        ValueRef::Text(s) => {
            let g = parse_guid(s).ok_or_else(invalid_character)?;
            put_struct(buf, &g, None)
        }
        _ => Err(restricted(CType::Guid)),
    }
}

pub(crate) fn parse_guid(s: &str) -> Option<[u8; 16]> {
    let t = s.trim().trim_start_matches('{').trim_end_matches('}');
    let hex: Vec<u8> = t.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 || t.len() != 36 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(std::str::from_utf8(&hex[2 * i..2 * i + 2]).ok()?, 16).ok();
    let mut raw = [0u8; 16];
    for (i, r) in raw.iter_mut().enumerate() {
        *r = byte(i)?;
    }
    let mut g = [0u8; 16];
    g[0..4].copy_from_slice(&u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]).to_ne_bytes());
    g[4..6].copy_from_slice(&u16::from_be_bytes([raw[4], raw[5]]).to_ne_bytes());
    g[6..8].copy_from_slice(&u16::from_be_bytes([raw[6], raw[7]]).to_ne_bytes());
    g[8..16].copy_from_slice(&raw[8..16]);
    Some(g)
}

/// Display size of a column, as SQLColAttribute(SQL_DESC_DISPLAY_SIZE) reports it.
pub fn display_size(sql: i16, column_size: u32, decimal_digits: i16) -> i64 {
    let size = i64::from(column_size);
    match sql {
        sql_type::BIT => 1,
        sql_type::TINYINT => 4,
        sql_type::SMALLINT => 6,
        sql_type::INTEGER => 11,
        sql_type::BIGINT => 20,
        sql_type::REAL => 14,
        sql_type::FLOAT | sql_type::DOUBLE => 24,
        sql_type::DECIMAL | sql_type::NUMERIC => size + 2,
        sql_type::BINARY | sql_type::VARBINARY | sql_type::LONGVARBINARY => size.saturating_mul(2),
        sql_type::TYPE_DATE => 10,
        sql_type::TYPE_TIME => 8 + if decimal_digits > 0 { i64::from(decimal_digits) + 1 } else { 0 },
        sql_type::TYPE_TIMESTAMP => 19 + if decimal_digits > 0 { i64::from(decimal_digits) + 1 } else { 0 },
        _ => size,
    }
}

#[cfg(test)]
#[path = "to_c_tests.rs"]
mod tests;
