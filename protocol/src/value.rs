//! Values in result rows and parameter rows.
//!
//! Each value is a tag byte followed by a body whose length the tag fixes or a u32 prefix
//! gives. `ValueRef` borrows text and bytes straight out of a received frame.

use crate::codec::{Put, Reader};
use crate::ProtocolError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i16,
    pub month: u8,
    pub day: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanos: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub date: Date,
    pub time: Time,
}

/// An owned value, as a parameter is built or a test compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Double(f64),
    Text(String),
    Bytes(Vec<u8>),
    Date(Date),
    Time(Time),
    Timestamp(Timestamp),
    /// Exact decimal in plain notation (`-123.4500`), kept as text so no precision is lost.
    Decimal(String),
    Bool(bool),
}

/// A value borrowed from a decoded frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Double(f64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Date(Date),
    Time(Time),
    Timestamp(Timestamp),
    Decimal(&'a str),
    Bool(bool),
}

const NULL: u8 = 0;
const INT: u8 = 1;
const DOUBLE: u8 = 2;
const TEXT: u8 = 3;
const BYTES: u8 = 4;
const DATE: u8 = 5;
const TIME: u8 = 6;
const TIMESTAMP: u8 = 7;
const DECIMAL: u8 = 8;
const BOOL: u8 = 9;

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Int(*v),
            Value::Double(v) => ValueRef::Double(*v),
            Value::Text(v) => ValueRef::Text(v),
            Value::Bytes(v) => ValueRef::Bytes(v),
            Value::Date(v) => ValueRef::Date(*v),
            Value::Time(v) => ValueRef::Time(*v),
            Value::Timestamp(v) => ValueRef::Timestamp(*v),
            Value::Decimal(v) => ValueRef::Decimal(v),
            Value::Bool(v) => ValueRef::Bool(*v),
        }
    }
}

impl ValueRef<'_> {
    pub fn to_owned(&self) -> Value {
        match *self {
            ValueRef::Null => Value::Null,
            ValueRef::Int(v) => Value::Int(v),
            ValueRef::Double(v) => Value::Double(v),
            ValueRef::Text(v) => Value::Text(v.to_owned()),
            ValueRef::Bytes(v) => Value::Bytes(v.to_owned()),
            ValueRef::Date(v) => Value::Date(v),
            ValueRef::Time(v) => Value::Time(v),
            ValueRef::Timestamp(v) => Value::Timestamp(v),
            ValueRef::Decimal(v) => Value::Decimal(v.to_owned()),
            ValueRef::Bool(v) => Value::Bool(v),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, ValueRef::Null)
    }

    /// Appends the value's tag and body. Fixed-size values are written as one slice each
    /// (a result batch is mostly these: one capacity check per value, not one per field).
    #[inline]
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            ValueRef::Null => out.put_u8(NULL),
            ValueRef::Int(v) => put_tagged(out, INT, v.to_le_bytes()),
            ValueRef::Double(v) => put_tagged(out, DOUBLE, v.to_le_bytes()),
            ValueRef::Text(v) => put_tagged_bytes(out, TEXT, v.as_bytes()),
            ValueRef::Bytes(v) => put_tagged_bytes(out, BYTES, v),
            ValueRef::Date(d) => put_tagged(out, DATE, date_bytes(d)),
            ValueRef::Time(t) => put_tagged(out, TIME, time_bytes(t)),
            ValueRef::Timestamp(ts) => {
                let mut body = [0u8; 11];
                body[..4].copy_from_slice(&date_bytes(ts.date));
                body[4..].copy_from_slice(&time_bytes(ts.time));
                put_tagged(out, TIMESTAMP, body);
            }
            ValueRef::Decimal(v) => {
                out.put_u8(DECIMAL);
                out.put_str(v);
            }
            ValueRef::Bool(v) => {
                out.put_u8(BOOL);
                out.put_bool(v);
            }
        }
    }
}

/// `tag` then `body`, with one capacity check for the whole value.
#[inline(always)]
fn put_tagged<const N: usize>(out: &mut Vec<u8>, tag: u8, body: [u8; N]) {
    out.reserve(N + 1);
    out.push(tag);
    out.extend_from_slice(&body);
}

/// `tag`, then `body` with its u32 length, with one capacity check.
#[inline(always)]
fn put_tagged_bytes(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.reserve(5 + body.len());
    out.push(tag);
    out.put_bytes(body);
}

#[inline(always)]
fn date_bytes(d: Date) -> [u8; 4] {
    let [y0, y1] = d.year.to_le_bytes();
    [y0, y1, d.month, d.day]
}

#[inline(always)]
fn time_bytes(t: Time) -> [u8; 7] {
    let [n0, n1, n2, n3] = t.nanos.to_le_bytes();
    [t.hour, t.minute, t.second, n0, n1, n2, n3]
}

#[inline]
fn read_date(r: &mut Reader<'_>) -> Result<Date, ProtocolError> {
    let d = Date { year: r.i16()?, month: r.u8()?, day: r.u8()? };
    if !(1..=12).contains(&d.month) || !(1..=31).contains(&d.day) {
        return Err(ProtocolError::InvalidField { what: "date", value: i64::from(d.month) * 100 + i64::from(d.day) });
    }
    Ok(d)
}

#[inline]
fn read_time(r: &mut Reader<'_>) -> Result<Time, ProtocolError> {
    let t = Time { hour: r.u8()?, minute: r.u8()?, second: r.u8()?, nanos: r.u32()? };
    // A leap second (60) is allowed, as in SQL.
    if t.hour > 23 || t.minute > 59 || t.second > 60 || t.nanos > 999_999_999 {
        return Err(ProtocolError::InvalidField { what: "time", value: i64::from(t.hour) });
    }
    Ok(t)
}

/// Decodes one value, validating text as UTF-8 and decimals as plain decimal notation.
#[inline(always)]
pub(crate) fn read_value<'a>(r: &mut Reader<'a>) -> Result<ValueRef<'a>, ProtocolError> {
    Ok(match r.u8()? {
        NULL => ValueRef::Null,
        INT => ValueRef::Int(r.i64()?),
        DOUBLE => ValueRef::Double(r.f64()?),
        TEXT => ValueRef::Text(r.str()?),
        BYTES => ValueRef::Bytes(r.bytes()?),
        DATE => ValueRef::Date(read_date(r)?),
        TIME => ValueRef::Time(read_time(r)?),
        TIMESTAMP => ValueRef::Timestamp(Timestamp { date: read_date(r)?, time: read_time(r)? }),
        DECIMAL => {
            let s = r.str()?;
            if !is_plain_decimal(s) {
                return Err(ProtocolError::InvalidField { what: "decimal", value: s.len() as i64 });
            }
            ValueRef::Decimal(s)
        }
        BOOL => ValueRef::Bool(r.bool()?),
        tag => return Err(ProtocolError::UnknownValueTag(tag)),
    })
}

/// `[-]digits[.digits]`, at least one digit.
pub fn is_plain_decimal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}
