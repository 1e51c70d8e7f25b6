//! PostgreSQL's binary values (the `postgres` crate asks for binary results) decoded into
//! protocol values. Text stays text, bytea stays bytes; numeric, interval and arrays are
//! rendered as PostgreSQL itself prints them.

use std::fmt::Write;

use postgres_protocol::types as pg;
use twofactor_protocol::{Date, ErrorInfo, Time, Timestamp, ValueRef};

use super::types::Decode;

const USECS_PER_DAY: i64 = 86_400_000_000;
/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

fn malformed(what: &str) -> ErrorInfo {
    ErrorInfo::new(b"HY000", 0, format!("PostgreSQL sent a malformed {what} value"))
}

fn be<const N: usize>(raw: &[u8], what: &str) -> Result<[u8; N], ErrorInfo> {
    raw.try_into().map_err(|_| malformed(what))
}

/// The civil date `days` after 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
fn civil(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to a civil date.
#[cfg(test)]
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn date_of(pg_days: i64) -> Option<Date> {
    let (y, m, d) = civil(pg_days + PG_EPOCH_DAYS);
    Some(Date { year: i16::try_from(y).ok().filter(|y| *y > 0)?, month: m, day: d })
}

fn time_of(usecs: i64) -> Time {
    let secs = usecs / 1_000_000;
    Time {
        hour: (secs / 3600) as u8,
        minute: (secs / 60 % 60) as u8,
        second: (secs % 60) as u8,
        nanos: (usecs % 1_000_000) as u32 * 1000,
    }
}

fn timestamp_of(usecs: i64) -> Option<Timestamp> {
    let days = usecs.div_euclid(USECS_PER_DAY);
    Some(Timestamp { date: date_of(days)?, time: time_of(usecs.rem_euclid(USECS_PER_DAY)) })
}

/// The decimal text of a binary numeric: digit groups of base 10000.
pub fn numeric_text(raw: &[u8]) -> Result<String, ErrorInfo> {
    let bad = || malformed("numeric");
    if raw.len() < 8 {
        return Err(bad());
    }
    let word = |i: usize| u16::from_be_bytes([raw[i], raw[i + 1]]);
    let (ndigits, weight, sign, dscale) = (word(0) as usize, word(2) as i16, word(4), word(6) as usize);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return Err(bad()),
    }
    if raw.len() != 8 + 2 * ndigits {
        return Err(bad());
    }
    let digit = |i: i32| -> u16 {
        if i >= 0 && (i as usize) < ndigits {
            word(8 + 2 * i as usize)
        } else {
            0
        }
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=i32::from(weight) {
            let d = digit(i);
            if i == 0 {
                let _ = write!(out, "{d}");
            } else {
                let _ = write!(out, "{d:04}");
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::new();
        let mut i = i32::from(weight) + 1;
        while frac.len() < dscale {
            let _ = write!(frac, "{:04}", digit(i));
            i += 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Ok(out)
}

/// An interval as PostgreSQL prints it with IntervalStyle `postgres`.
pub fn interval_text(raw: &[u8]) -> Result<String, ErrorInfo> {
    if raw.len() != 16 {
        return Err(malformed("interval"));
    }
    let usecs = i64::from_be_bytes(be(&raw[0..8], "interval")?);
    let days = i32::from_be_bytes(be(&raw[8..12], "interval")?);
    let months = i32::from_be_bytes(be(&raw[12..16], "interval")?);
    let mut parts = Vec::new();
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let (years, mons) = (months / 12, months % 12);
    if years != 0 {
        parts.push(plural(years.into(), "year", "years"));
    }
    if mons != 0 {
        parts.push(plural(mons.into(), "mon", "mons"));
    }
    if days != 0 {
        parts.push(plural(days.into(), "day", "days"));
    }
    if usecs != 0 || parts.is_empty() {
        let neg = usecs < 0;
        let u = usecs.unsigned_abs();
        let (h, m, s, frac) = (u / 3_600_000_000, u / 60_000_000 % 60, u / 1_000_000 % 60, u % 1_000_000);
        let mut clock = format!("{}{h:02}:{m:02}:{s:02}", if neg { "-" } else { "" });
        if frac != 0 {
            let f = format!(".{frac:06}");
            clock.push_str(f.trim_end_matches('0'));
        }
        parts.push(clock);
    }
    Ok(parts.join(" "))
}

/// time with time zone: microseconds, then the zone's offset in seconds west of UTC.
fn timetz_text(raw: &[u8]) -> Result<String, ErrorInfo> {
    if raw.len() != 12 {
        return Err(malformed("timetz"));
    }
    let t = time_of(i64::from_be_bytes(be(&raw[0..8], "timetz")?).rem_euclid(USECS_PER_DAY));
    let east = -i32::from_be_bytes(be(&raw[8..12], "timetz")?);
    let mut out = crate::sql::datetime::format_time(Time { nanos: t.nanos, ..t });
    let (sign, off) = if east < 0 { ('-', -east) } else { ('+', east) };
    out.push_str(&format!("{sign}{:02}", off / 3600));
    if off % 3600 != 0 {
        out.push_str(&format!(":{:02}", off / 60 % 60));
    }
    Ok(out)
}

fn uuid_text(raw: &[u8]) -> Result<String, ErrorInfo> {
    let b = pg::uuid_from_sql(raw).map_err(|_| malformed("uuid"))?;
    let h = data_encoding::HEXLOWER.encode(&b);
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

/// A value as text, for array elements.
fn element_text(raw: &[u8], d: &Decode) -> Result<String, ErrorInfo> {
    with_value(Some(raw), d, |v| match v {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Int(i) => i.to_string(),
        ValueRef::Double(x) => x.to_string(),
        ValueRef::Text(s) | ValueRef::Decimal(s) => s.to_owned(),
        ValueRef::Bytes(b) => format!("\\x{}", data_encoding::HEXLOWER.encode(b)),
        ValueRef::Bool(b) => (if b { "t" } else { "f" }).to_owned(),
        ValueRef::Date(d) => crate::sql::datetime::format_date(d),
        ValueRef::Time(t) => crate::sql::datetime::format_time(t),
        ValueRef::Timestamp(ts) => crate::sql::datetime::format_timestamp(ts),
    })
}

/// An element as the array text form writes it: quoted when it has to be.
fn quote_element(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.eq_ignore_ascii_case("null")
        && !s.chars().any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if plain {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A binary array in PostgreSQL's text form, nested by dimension.
pub fn array_text(raw: &[u8], element: &Decode) -> Result<String, ErrorInfo> {
    use postgres::fallible_iterator::FallibleIterator;
    let array = pg::array_from_sql(raw).map_err(|_| malformed("array"))?;
    let dims: Vec<usize> =
        array.dimensions().map(|d| Ok(d.len.max(0) as usize)).collect().map_err(|_| malformed("array"))?;
    let items: Vec<Option<&[u8]>> = array.values().collect().map_err(|_| malformed("array"))?;
    if dims.is_empty() {
        return Ok("{}".into());
    }
    let mut texts = Vec::with_capacity(items.len());
    for item in items {
        texts.push(match item {
            None => "NULL".to_owned(),
            Some(b) => quote_element(&element_text(b, element)?),
        });
    }
    fn nest(texts: &[String], dims: &[usize]) -> String {
        if dims.len() == 1 {
            return format!("{{{}}}", texts.join(","));
        }
        let step = texts.len() / dims[0].max(1);
        let inner: Vec<String> = texts.chunks(step.max(1)).map(|c| nest(c, &dims[1..])).collect();
        format!("{{{}}}", inner.join(","))
    }
    Ok(nest(&texts, &dims))
}

/// Calls `f` with the protocol value of one column value (`None`: SQL NULL).
pub fn with_value<R>(raw: Option<&[u8]>, d: &Decode, f: impl FnOnce(ValueRef<'_>) -> R) -> Result<R, ErrorInfo> {
    let Some(raw) = raw else { return Ok(f(ValueRef::Null)) };
    Ok(match d {
        Decode::Int2 => f(ValueRef::Int(i16::from_be_bytes(be(raw, "int2")?).into())),
        Decode::Int4 => f(ValueRef::Int(i32::from_be_bytes(be(raw, "int4")?).into())),
        Decode::Int8 => f(ValueRef::Int(i64::from_be_bytes(be(raw, "int8")?))),
        Decode::Oid => f(ValueRef::Int(u32::from_be_bytes(be(raw, "oid")?).into())),
        Decode::Float4 => f(ValueRef::Double(f32::from_be_bytes(be(raw, "float4")?).into())),
        Decode::Float8 => f(ValueRef::Double(f64::from_be_bytes(be(raw, "float8")?))),
        Decode::Numeric => {
            let text = numeric_text(raw)?;
            if text.ends_with("Infinity") || text == "NaN" {
                f(ValueRef::Text(&text))
            } else {
                f(ValueRef::Decimal(&text))
            }
        }
        Decode::Bool => f(ValueRef::Bool(be::<1>(raw, "bool")?[0] != 0)),
        Decode::Text | Decode::Other => match std::str::from_utf8(raw) {
            Ok(s) => f(ValueRef::Text(s)),
            Err(_) => f(ValueRef::Bytes(raw)),
        },
        Decode::Jsonb => match raw.split_first() {
            Some((1, rest)) => f(ValueRef::Text(std::str::from_utf8(rest).map_err(|_| malformed("jsonb"))?)),
            _ => return Err(malformed("jsonb")),
        },
        Decode::Char1 => f(ValueRef::Text(std::str::from_utf8(raw).map_err(|_| malformed("\"char\""))?)),
        Decode::Bytes => f(ValueRef::Bytes(raw)),
        Decode::Date => {
            let days = i32::from_be_bytes(be(raw, "date")?);
            match days {
                i32::MAX => f(ValueRef::Text("infinity")),
                i32::MIN => f(ValueRef::Text("-infinity")),
                _ => match date_of(days.into()) {
                    Some(d) => f(ValueRef::Date(d)),
                    None => f(ValueRef::Text("out-of-range date")),
                },
            }
        }
        Decode::Time => f(ValueRef::Time(time_of(i64::from_be_bytes(be(raw, "time")?).rem_euclid(USECS_PER_DAY)))),
        Decode::Timestamp | Decode::TimestampTz => {
            let usecs = i64::from_be_bytes(be(raw, "timestamp")?);
            match usecs {
                i64::MAX => f(ValueRef::Text("infinity")),
                i64::MIN => f(ValueRef::Text("-infinity")),
                _ => match timestamp_of(usecs) {
                    Some(ts) => f(ValueRef::Timestamp(ts)),
                    None => f(ValueRef::Text("out-of-range timestamp")),
                },
            }
        }
        Decode::Uuid => f(ValueRef::Text(&uuid_text(raw)?)),
        Decode::TimeTz => f(ValueRef::Text(&timetz_text(raw)?)),
        Decode::Interval => f(ValueRef::Text(&interval_text(raw)?)),
        Decode::Array(element) => f(ValueRef::Text(&array_text(raw, element)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_print_as_postgresql_prints_them() {
        assert_eq!(numeric_text(&numeric(2, 0, 0, 2, &[12, 3400])).unwrap(), "12.34");
        assert_eq!(numeric_text(&numeric(1, -1, 0x4000, 3, &[500])).unwrap(), "-0.050");
        assert_eq!(numeric_text(&numeric(2, 1, 0, 0, &[1, 0])).unwrap(), "10000");
        assert_eq!(numeric_text(&numeric(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric_text(&numeric(1, 2, 0, 0, &[7])).unwrap(), "700000000");
    }

    #[test]
    fn dates_count_from_2000() {
        assert_eq!(date_of(0), Some(Date { year: 2000, month: 1, day: 1 }));
        assert_eq!(date_of(60), Some(Date { year: 2000, month: 3, day: 1 }));
        assert_eq!(date_of(-1), Some(Date { year: 1999, month: 12, day: 31 }));
        assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_DAYS);
        let ts = timestamp_of(-1).unwrap();
        assert_eq!((ts.date.year, ts.time.hour, ts.time.nanos), (1999, 23, 999_999_000));
    }

    #[test]
    fn intervals_print_in_postgres_style() {
        let iv = |usecs: i64, days: i32, months: i32| {
            let mut v = usecs.to_be_bytes().to_vec();
            v.extend_from_slice(&days.to_be_bytes());
            v.extend_from_slice(&months.to_be_bytes());
            interval_text(&v).unwrap()
        };
        assert_eq!(iv(0, 0, 0), "00:00:00");
        assert_eq!(iv(3_723_500_000, 3, 14), "1 year 2 mons 3 days 01:02:03.5");
        assert_eq!(iv(-60_000_000, -1, 0), "-1 days -00:01:00");
    }

    #[test]
    fn array_elements_are_quoted_when_needed() {
        assert_eq!(quote_element("a b"), "\"a b\"");
        assert_eq!(quote_element("NULL"), "\"NULL\"");
        assert_eq!(quote_element("x\"y"), "\"x\\\"y\"");
        assert_eq!(quote_element("plain"), "plain");
    }
}
