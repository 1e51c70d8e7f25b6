//! Declared SQLite types to ODBC SQL types, stored values to protocol values, and
//! protocol parameters to SQLite bindings.

use std::fmt::Write as _;

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef as SqlRef};
use twofactor_protocol::{is_plain_decimal, sql_type, ColumnDesc, Nullability, ValueRef};

pub use crate::sql::column_size::{UnboundedSize, LONG_SIZE};
pub use crate::sql::datetime::{format_date, format_time, format_timestamp, parse_date, parse_time, parse_timestamp};
use crate::sql::datetime::{parse_date_bytes, parse_time_bytes, parse_timestamp_bytes};

/// How a column's stored values are presented, beyond their storage class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Date,
    Time,
    Timestamp,
    /// Exact numbers, shown with the declared scale.
    Decimal {
        scale: u8,
    },
    Bool,
}

/// An ODBC description of a type: SQL type, size, digits, and the presentation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeInfo {
    pub sql_type: i16,
    pub size: u32,
    pub digits: i16,
    pub kind: Kind,
}

const fn t(sql_type: i16, size: u32, digits: i16, kind: Kind) -> TypeInfo {
    TypeInfo { sql_type, size, digits, kind }
}

/// Splits `VARCHAR(32)` into `VARCHAR` and `[32]`.
fn split_decl(decl: &str) -> (String, Vec<u32>) {
    let upper = decl.trim().to_ascii_uppercase();
    match upper.split_once('(') {
        Some((base, rest)) => {
            let args = rest.trim_end_matches(')').split(',').filter_map(|a| a.trim().parse().ok()).collect();
            (base.split_whitespace().collect::<Vec<_>>().join(" "), args)
        }
        None => (upper.split_whitespace().collect::<Vec<_>>().join(" "), Vec::new()),
    }
}

/// The ODBC type for a declared column type. Unknown names follow SQLite's affinity rules.
pub fn from_decl(decl: &str) -> TypeInfo {
    let (base, args) = split_decl(decl);
    let n = |default: u32| args.first().copied().filter(|&n| n > 0).unwrap_or(default);
    match base.as_str() {
        "INT" | "INTEGER" | "MEDIUMINT" | "INT4" => t(sql_type::INTEGER, 10, 0, Kind::Plain),
        "BIGINT" | "INT8" | "UNSIGNED BIG INT" => t(sql_type::BIGINT, 19, 0, Kind::Plain),
        "SMALLINT" | "INT2" => t(sql_type::SMALLINT, 5, 0, Kind::Plain),
        "TINYINT" => t(sql_type::TINYINT, 3, 0, Kind::Plain),
        "BOOLEAN" | "BOOL" | "BIT" => t(sql_type::BIT, 1, 0, Kind::Bool),
        "REAL" | "FLOAT4" => t(sql_type::REAL, 7, 0, Kind::Plain),
        "FLOAT" | "DOUBLE" | "DOUBLE PRECISION" | "FLOAT8" => t(sql_type::DOUBLE, 15, 0, Kind::Plain),
        "DECIMAL" | "NUMERIC" | "DEC" => {
            let p = n(38).min(38);
            let s = args.get(1).copied().unwrap_or(0).min(p);
            t(sql_type::DECIMAL, p, s as i16, Kind::Decimal { scale: s as u8 })
        }
        "CHAR" | "CHARACTER" | "NCHAR" | "NATIVE CHARACTER" => t(sql_type::CHAR, n(1), 0, Kind::Plain),
        "VARCHAR" | "NVARCHAR" | "VARYING CHARACTER" | "CHARACTER VARYING" | "VARCHAR2" => {
            t(sql_type::VARCHAR, n(255), 0, Kind::Plain)
        }
        "TEXT" | "CLOB" | "NTEXT" | "LONGVARCHAR" => t(sql_type::LONGVARCHAR, LONG_SIZE, 0, Kind::Plain),
        "BLOB" | "LONGVARBINARY" => t(sql_type::LONGVARBINARY, LONG_SIZE, 0, Kind::Plain),
        "VARBINARY" => t(sql_type::VARBINARY, n(255), 0, Kind::Plain),
        "BINARY" => t(sql_type::BINARY, n(1), 0, Kind::Plain),
        "DATE" => t(sql_type::TYPE_DATE, 10, 0, Kind::Date),
        "TIME" => t(sql_type::TYPE_TIME, 8, 0, Kind::Time),
        "TIMESTAMP" | "DATETIME" => t(sql_type::TYPE_TIMESTAMP, 26, 6, Kind::Timestamp),
        other if other.contains("INT") => t(sql_type::BIGINT, 19, 0, Kind::Plain),
        other if other.contains("CHAR") || other.contains("CLOB") || other.contains("TEXT") => {
            t(sql_type::VARCHAR, n(255), 0, Kind::Plain)
        }
        other if other.contains("BLOB") => t(sql_type::LONGVARBINARY, LONG_SIZE, 0, Kind::Plain),
        other if other.contains("REAL") || other.contains("FLOA") || other.contains("DOUB") => {
            t(sql_type::DOUBLE, 15, 0, Kind::Plain)
        }
        _ => t(sql_type::VARCHAR, 255, 0, Kind::Plain),
    }
}

/// The type of an expression column, from the storage class of its first value. Text
/// and bytes have no bound (any row may be longer than the first), so their size is
/// the unbounded one, reported as the session's `LongColumnSize`: a client that sizes
/// its buffers from it (Arrow tools) must not be told 255 and then get 256 bytes.
pub fn from_value(v: Option<SqlRef<'_>>) -> TypeInfo {
    match v {
        Some(SqlRef::Integer(_)) => t(sql_type::BIGINT, 19, 0, Kind::Plain),
        Some(SqlRef::Real(_)) => t(sql_type::DOUBLE, 15, 0, Kind::Plain),
        Some(SqlRef::Blob(_)) => t(sql_type::VARBINARY, LONG_SIZE, 0, Kind::Plain),
        _ => t(sql_type::VARCHAR, LONG_SIZE, 0, Kind::Plain),
    }
}

pub fn type_name(sql: i16) -> &'static str {
    match sql {
        sql_type::INTEGER => "INTEGER",
        sql_type::BIGINT => "BIGINT",
        sql_type::SMALLINT => "SMALLINT",
        sql_type::TINYINT => "TINYINT",
        sql_type::BIT => "BOOLEAN",
        sql_type::REAL => "REAL",
        sql_type::DOUBLE | sql_type::FLOAT => "DOUBLE",
        sql_type::DECIMAL | sql_type::NUMERIC => "DECIMAL",
        sql_type::CHAR => "CHAR",
        sql_type::VARCHAR => "VARCHAR",
        sql_type::LONGVARCHAR => "TEXT",
        sql_type::LONGVARBINARY => "BLOB",
        sql_type::VARBINARY => "VARBINARY",
        sql_type::BINARY => "BINARY",
        sql_type::TYPE_DATE => "DATE",
        sql_type::TYPE_TIME => "TIME",
        sql_type::TYPE_TIMESTAMP => "TIMESTAMP",
        _ => "VARCHAR",
    }
}

/// A result column. Its type name is the bare name SQLGetTypeInfo lists (`VARCHAR`, not
/// the declaration `VARCHAR(40)`), as SQLColumns reports it.
pub fn column_desc(name: &str, info: TypeInfo, nullable: Nullability, table: &str) -> ColumnDesc {
    ColumnDesc {
        name: name.to_owned(),
        sql_type: info.sql_type,
        type_name: type_name(info.sql_type).to_owned(),
        column_size: info.size,
        decimal_digits: info.digits,
        nullable,
        table_name: table.to_owned(),
    }
}

/// A protocol parameter as SQLite binds it.
pub fn to_sql(v: ValueRef<'_>) -> ToSqlOutput<'_> {
    match v {
        ValueRef::Null => ToSqlOutput::Owned(SqlValue::Null),
        ValueRef::Int(i) => ToSqlOutput::Owned(SqlValue::Integer(i)),
        ValueRef::Double(d) => ToSqlOutput::Owned(SqlValue::Real(d)),
        ValueRef::Text(s) | ValueRef::Decimal(s) => ToSqlOutput::Borrowed(SqlRef::Text(s.as_bytes())),
        ValueRef::Bytes(b) => ToSqlOutput::Borrowed(SqlRef::Blob(b)),
        ValueRef::Date(d) => ToSqlOutput::Owned(SqlValue::Text(format_date(d))),
        ValueRef::Time(t) => ToSqlOutput::Owned(SqlValue::Text(format_time(t))),
        ValueRef::Timestamp(ts) => ToSqlOutput::Owned(SqlValue::Text(format_timestamp(ts))),
        ValueRef::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(b))),
    }
}

/// Calls `f` with the protocol value for a stored value of a column of `kind`.
pub fn with_value<R>(v: SqlRef<'_>, kind: Kind, f: impl FnOnce(ValueRef<'_>) -> R) -> R {
    match (v, kind) {
        (SqlRef::Null, _) => f(ValueRef::Null),
        (SqlRef::Integer(i), Kind::Bool) => f(ValueRef::Bool(i != 0)),
        (SqlRef::Integer(i), Kind::Decimal { scale }) => {
            let mut text = DecimalText::new();
            if scale == 0 {
                let _ = write!(text, "{i}");
            } else {
                let _ = write!(text, "{i}.{:0<width$}", "", width = scale as usize);
            }
            text.with(f)
        }
        // SQLite's NUMERIC affinity stores 1.50 as the REAL 1.5; the declared scale puts
        // the digits back. Rust prints floats in plain notation, never with an exponent.
        (SqlRef::Real(r), Kind::Decimal { scale }) if r.is_finite() => {
            let mut text = DecimalText::new();
            if scale == 0 || !text.fixed_point(r, scale as usize) {
                let _ = if scale == 0 { write!(text, "{r}") } else { write!(text, "{r:.*}", scale as usize) };
            }
            text.with(f)
        }
        (SqlRef::Integer(i), _) => f(ValueRef::Int(i)),
        (SqlRef::Real(r), _) => f(ValueRef::Double(r)),
        (SqlRef::Blob(b), _) => f(ValueRef::Bytes(b)),
        (SqlRef::Text(raw), kind) => {
            // Dates and times as SQLite's own functions write them (no spaces around) are
            // parsed on the bytes, which are ASCII if they parse: the UTF-8 check and trim
            // below are for the rest. A fetch of timestamps spends most of its encoding
            // time here (docs/performance.md, "Issue 13, server (second round)").
            if let Some(v) = temporal(raw, kind) {
                return f(v);
            }
            // TEXT that another program stored in an encoding other than UTF-8 is sent as
            // its bytes, never repaired: the driver refuses it as characters (22018) and
            // gives it unchanged to SQL_C_BINARY.
            let Some(text) = twofactor_protocol::utf8(raw) else { return f(ValueRef::Bytes(raw)) };
            if kind == Kind::Plain {
                return f(ValueRef::Text(text));
            }
            let trimmed = text.trim();
            match kind {
                Kind::Date => {
                    if let Some(d) = parse_date(trimmed).or_else(|| parse_timestamp(trimmed).map(|ts| ts.date)) {
                        return f(ValueRef::Date(d));
                    }
                }
                Kind::Time => {
                    if let Some(t) = parse_time(trimmed).or_else(|| parse_timestamp(trimmed).map(|ts| ts.time)) {
                        return f(ValueRef::Time(t));
                    }
                }
                Kind::Timestamp => {
                    if let Some(ts) = parse_timestamp(trimmed) {
                        return f(ValueRef::Timestamp(ts));
                    }
                }
                Kind::Decimal { .. } if is_plain_decimal(trimmed) => {
                    return f(ValueRef::Decimal(trimmed));
                }
                _ => {}
            }
            f(ValueRef::Text(text))
        }
    }
}

/// A decimal cell's digits, formatted on the stack: a DECIMAL column stored as INTEGER or
/// REAL costs no allocation per cell (a result of wide rows has several such columns).
/// The rare number longer than the buffer (a REAL near 1e308 printed in full) is formatted
/// into a `String` instead; both give the same text.
struct DecimalText {
    buf: [u8; 64],
    len: usize,
    /// Set when the text did not fit.
    long: Option<String>,
}

impl DecimalText {
    fn new() -> Self {
        DecimalText { buf: [0; 64], len: 0, long: None }
    }

    /// Writes `format!("{r:.scale$}")` without the float formatter, which was 6-8 % of the
    /// server's CPU on a result with two such columns: `r` times 10^scale, rounded to an
    /// integer, has the digits. The product is the exact value rounded once (10^scale is
    /// exact in an f64 up to 10^22), so it is off by at most half an ulp, and it rounds as
    /// the exact value does unless its fraction is within that of one half; there, and for
    /// products past 2^52 (where an f64 has no fraction bits left), false: the caller
    /// formats with `{:.*}`. The sign is kept as the formatter keeps it (-0.001 at scale 2 is
    /// "-0.00"). Empty buffer only.
    fn fixed_point(&mut self, r: f64, scale: usize) -> bool {
        // 10^15 and below: the scale of any DECIMAL whose values an f64 holds to the unit.
        if scale > 15 {
            return false;
        }
        let p = 10u64.pow(scale as u32);
        let m = r.abs() * p as f64;
        if m >= 4.0e15 || self.len != 0 {
            return false;
        }
        // |m| * EPSILON is at least one ulp of m; MIN_POSITIVE covers subnormal products.
        let margin = m * f64::EPSILON + f64::MIN_POSITIVE;
        if (m.fract() - 0.5).abs() <= margin {
            return false;
        }
        let n = m.round() as u64;
        let sign = if r.is_sign_negative() { "-" } else { "" };
        let _ = if scale == 0 { write!(self, "{sign}{n}") } else { write!(self, "{sign}{}.{:0scale$}", n / p, n % p) };
        true
    }

    fn with<R>(&self, f: impl FnOnce(ValueRef<'_>) -> R) -> R {
        match &self.long {
            Some(text) => f(ValueRef::Decimal(text)),
            // Only `write_str` fills the buffer, with whole `&str`s.
            None => f(ValueRef::Decimal(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default())),
        }
    }
}

impl std::fmt::Write for DecimalText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if let Some(long) = &mut self.long {
            long.push_str(s);
            return Ok(());
        }
        let end = self.len + s.len();
        if end > self.buf.len() {
            let mut long = String::with_capacity(end * 2);
            long.push_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default());
            long.push_str(s);
            self.long = Some(long);
            return Ok(());
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A date, time or timestamp cell of a column of that kind, if its bytes are one as they
/// stand; None sends it through the UTF-8 path (which also trims).
#[inline]
fn temporal(raw: &[u8], kind: Kind) -> Option<ValueRef<'static>> {
    match kind {
        Kind::Timestamp => parse_timestamp_bytes(raw).map(ValueRef::Timestamp),
        Kind::Date => parse_date_bytes(raw).map(ValueRef::Date),
        Kind::Time => parse_time_bytes(raw).map(ValueRef::Time),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn declared_types_map_to_odbc_types() {
        assert_eq!(from_decl("INTEGER").sql_type, sql_type::INTEGER);
        assert_eq!(from_decl("varchar(32)"), t(sql_type::VARCHAR, 32, 0, Kind::Plain));
        assert_eq!(from_decl("DECIMAL(10, 2)"), t(sql_type::DECIMAL, 10, 2, Kind::Decimal { scale: 2 }));
        assert_eq!(from_decl("TEXT").sql_type, sql_type::LONGVARCHAR);
        assert_eq!(from_decl("TIMESTAMP"), t(sql_type::TYPE_TIMESTAMP, 26, 6, Kind::Timestamp));
        assert_eq!(from_decl("DOUBLE PRECISION").sql_type, sql_type::DOUBLE);
        assert_eq!(from_decl("UNSIGNED BIG INT").sql_type, sql_type::BIGINT);
        assert_eq!(from_decl("JSON").sql_type, sql_type::VARCHAR);
    }

    #[test]
    fn decimals_stored_as_numbers_get_their_declared_scale_however_long() {
        let dec = |v: SqlRef<'_>, scale: u8| with_value(v, Kind::Decimal { scale }, |pv| pv.to_owned());
        let d = |s: &str| twofactor_protocol::Value::Decimal(s.into());
        assert_eq!(dec(SqlRef::Real(1.5), 2), d("1.50"));
        assert_eq!(dec(SqlRef::Real(1234567.0012), 4), d("1234567.0012"));
        assert_eq!(dec(SqlRef::Real(-0.125), 0), d("-0.125"));
        assert_eq!(dec(SqlRef::Integer(-42), 3), d("-42.000"));
        assert_eq!(dec(SqlRef::Integer(i64::MIN), 0), d(&i64::MIN.to_string()));
        // Longer than the stack buffer: the same text as `format!`, nothing cut.
        assert_eq!(dec(SqlRef::Real(1e300), 2), d(&format!("{:.2}", 1e300)));
        assert_eq!(dec(SqlRef::Integer(7), 38), d(&format!("7.{}", "0".repeat(38))));
        assert_eq!(dec(SqlRef::Real(f64::MAX), 38), d(&format!("{:.38}", f64::MAX)));
    }

    #[test]
    fn the_fixed_point_digits_of_a_real_are_the_formatters() {
        // Every value either takes the fast path with the formatter's exact text, or
        // declines it; halves (0.125 at scale 2, a tie in binary too) must decline.
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut fast = 0;
        let mut check = |r: f64, scale: usize| {
            let mut text = DecimalText::new();
            if text.fixed_point(r, scale) {
                fast += 1;
                let got = std::str::from_utf8(&text.buf[..text.len]).unwrap();
                assert_eq!(got, format!("{r:.scale$}"), "{r:e} at scale {scale}");
            }
        };
        let specials =
            [0.0, -0.0, 0.5, -0.5, 0.125, 2.675, 1.005, -0.001, 0.994999, 9.995, 1e-300, 5e-324, 1e15, 4.4e15];
        for r in specials {
            for scale in 0..=16 {
                check(r, scale);
                check(-r, scale);
            }
        }
        for _ in 0..200_000 {
            let scale = rng.gen_range(0..=16usize);
            // Money-like values, values of every magnitude, and exact decimals of `scale` digits.
            let r = match rng.gen_range(0..3) {
                0 => rng.gen_range(-1e6..1e6f64),
                1 => f64::from_bits(rng.gen::<u64>() >> 2) * if rng.gen() { 1.0 } else { -1.0 },
                _ => rng.gen_range(-10i64.pow(9)..10i64.pow(9)) as f64 / 10f64.powi(scale.min(9) as i32),
            };
            if r.is_finite() {
                check(r, scale);
            }
        }
        assert!(fast > 100_000, "the fast path was taken only {fast} times");
        let mut tie = DecimalText::new();
        assert!(!tie.fixed_point(0.125, 2), "a binary tie goes to the formatter");
        let mut done = DecimalText::new();
        assert!(done.fixed_point(1.5, 2));
        assert!(!done.fixed_point(1.5, 2), "only into an empty buffer");
    }

    #[test]
    fn stored_text_that_is_not_utf8_is_sent_as_its_bytes() {
        let raw = [0x61, 0xFE, 0xFF];
        let got = with_value(SqlRef::Text(&raw), Kind::Plain, |v| v.to_owned());
        assert_eq!(got, twofactor_protocol::Value::Bytes(raw.to_vec()));
        let got = with_value(SqlRef::Text("é".as_bytes()), Kind::Plain, |v| v.to_owned());
        assert_eq!(got, twofactor_protocol::Value::Text("é".into()));
    }

    #[test]
    fn iso_text_parses_and_formats_back() {
        let ts = parse_timestamp("2024-02-29 13:45:01.250").unwrap();
        assert_eq!(ts.time.nanos, 250_000_000);
        assert_eq!(format_timestamp(ts), "2024-02-29 13:45:01.25");
        assert_eq!(parse_timestamp("2024-02-29T13:45").unwrap().time.minute, 45);
        assert_eq!(format_time(parse_time("07:08:09").unwrap()), "07:08:09");
        assert!(parse_date("2024-13-01").is_none());
        assert!(parse_time("25:00:00").is_none());
        assert!(parse_date("yesterday").is_none());
    }
}
