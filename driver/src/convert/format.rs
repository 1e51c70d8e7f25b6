//! Text forms of numbers and dates, written into a stack buffer so the bound-column path
//! formats without allocating, and the parsers for the reverse direction.

use std::fmt::{self, Write};

use twofactor_protocol::{Date, Time, Timestamp};

/// A small string on the stack. Longer output is cut off and flagged; no caller formats
/// anything near the limit.
pub struct StackStr {
    buf: [u8; 512],
    len: usize,
    overflow: bool,
}

impl StackStr {
    pub fn new() -> Self {
        StackStr { buf: [0; 512], len: 0, overflow: false }
    }
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever appended; an overflowing one is dropped entirely.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
}

impl Default for StackStr {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for StackStr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            self.overflow = true;
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Doubles in plain notation where that stays short, else in exponent form, like C's %g
/// with round-trip precision.
pub fn write_double(out: &mut StackStr, v: f64) {
    let a = v.abs();
    let _ =
        if v == 0.0 || (1e-5..1e16).contains(&a) || !v.is_finite() { write!(out, "{v}") } else { write!(out, "{v:e}") };
}

pub fn write_float(out: &mut StackStr, v: f32) {
    let a = v.abs();
    let _ =
        if v == 0.0 || (1e-5..1e16).contains(&a) || !v.is_finite() { write!(out, "{v}") } else { write!(out, "{v:e}") };
}

fn write_fraction(out: &mut StackStr, nanos: u32) {
    if nanos != 0 {
        let mut digits = 9;
        let mut n = nanos;
        while n % 10 == 0 {
            n /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{n:0digits$}");
    }
}

pub fn write_date(out: &mut StackStr, d: Date) {
    let _ = write!(out, "{:04}-{:02}-{:02}", d.year, d.month, d.day);
}

pub fn write_time(out: &mut StackStr, t: Time) {
    let _ = write!(out, "{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
    write_fraction(out, t.nanos);
}

pub fn write_timestamp(out: &mut StackStr, ts: Timestamp) {
    write_date(out, ts.date);
    let _ = out.write_char(' ');
    write_time(out, ts.time);
}

fn digits<T: std::str::FromStr>(s: &str, min: usize, max: usize) -> Option<T> {
    (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn days_in_month(year: i16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

pub fn valid_date(d: Date) -> bool {
    (1..=12).contains(&d.month) && d.day >= 1 && d.day <= days_in_month(d.year, d.month)
}

pub fn valid_time(t: Time) -> bool {
    t.hour < 24 && t.minute < 60 && t.second <= 60 && t.nanos <= 999_999_999
}

/// `yyyy-mm-dd`, also inside ODBC escape braces `{d '...'}`.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = unescape(s, "d");
    let mut it = s.splitn(3, '-');
    let d = Date { year: digits(it.next()?, 1, 4)?, month: digits(it.next()?, 1, 2)?, day: digits(it.next()?, 1, 2)? };
    valid_date(d).then_some(d)
}

/// `hh:mm:ss[.fffffffff]` (seconds optional).
pub fn parse_time(s: &str) -> Option<Time> {
    let s = unescape(s, "t");
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let mut it = hms.splitn(3, ':');
    let hour = digits(it.next()?, 1, 2)?;
    let minute = digits(it.next()?, 1, 2)?;
    let second = match it.next() {
        Some(sec) => digits(sec, 1, 2)?,
        None => 0,
    };
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<u32>().ok()? * 10u32.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
    };
    let t = Time { hour, minute, second, nanos };
    valid_time(t).then_some(t)
}

/// `yyyy-mm-dd[( |T)hh:mm[:ss[.f...]]]`.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = unescape(s, "ts").trim_end_matches('Z');
    match s.split_once([' ', 'T']) {
        Some((d, t)) => Some(Timestamp { date: parse_date(d)?, time: parse_time(t.trim())? }),
        None => Some(Timestamp { date: parse_date(s)?, time: Time { hour: 0, minute: 0, second: 0, nanos: 0 } }),
    }
}

/// Strips an ODBC escape `{d '2024-01-02'}` and surrounding blanks.
fn unescape<'a>(s: &'a str, kind: &str) -> &'a str {
    let t = s.trim();
    if let Some(inner) = t.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        let inner = inner.trim();
        if let Some(rest) = inner.strip_prefix(kind) {
            return rest.trim().trim_matches('\'');
        }
    }
    t
}

/// Today's date (UTC), for time values converted to timestamps as ODBC asks.
pub fn today() -> Date {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    civil_from_days(secs.div_euclid(86_400))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i16;
    Date { year, month, day }
}

/// Re-exported so the conversions keep one path to it; the definition is the protocol's,
/// since what a driver accepts as a decimal must be what the wire accepts.
pub use twofactor_protocol::is_plain_decimal;

/// Hex digits of binary data as ODBC's binary-to-character conversion writes them.
pub fn hex_digit(nibble: u8) -> u8 {
    b"0123456789ABCDEF"[usize::from(nibble & 0xF)]
}

/// The `n`-th character of the hex form of `bytes`.
pub fn hex_char(bytes: &[u8], n: usize) -> u8 {
    let b = bytes[n / 2];
    hex_digit(if n % 2 == 0 { b >> 4 } else { b })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut StackStr)) -> String {
        let mut out = StackStr::new();
        f(&mut out);
        out.as_str().to_owned()
    }

    #[test]
    fn doubles_print_plain_when_short_and_in_exponent_form_when_huge() {
        assert_eq!(s(|o| write_double(o, 1.5)), "1.5");
        assert_eq!(s(|o| write_double(o, -42.0)), "-42");
        assert_eq!(s(|o| write_double(o, 1e300)), "1e300");
        assert_eq!(s(|o| write_double(o, 0.0)), "0");
    }

    #[test]
    fn timestamps_print_only_significant_fraction_digits() {
        let ts = parse_timestamp("2024-02-29 13:45:01.250").unwrap();
        assert_eq!(ts.time.nanos, 250_000_000);
        assert_eq!(s(|o| write_timestamp(o, ts)), "2024-02-29 13:45:01.25");
        assert_eq!(s(|o| write_time(o, Time { hour: 1, minute: 2, second: 3, nanos: 0 })), "01:02:03");
    }

    #[test]
    fn dates_are_checked_against_the_calendar() {
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2024-13-01").is_none());
        assert_eq!(parse_date("{d '2024-01-02'}").unwrap().day, 2);
        assert!(parse_time("25:00:00").is_none());
        assert_eq!(parse_time("7:08").unwrap().minute, 8);
    }

    #[test]
    fn the_epoch_day_is_the_first_of_january_1970() {
        assert_eq!(civil_from_days(0), Date { year: 1970, month: 1, day: 1 });
        assert_eq!(civil_from_days(19_782), Date { year: 2024, month: 2, day: 29 });
    }
}
