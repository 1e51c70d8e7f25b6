//! ISO date and time text, as both backends read and write it (SQLite stores it; the
//! PostgreSQL backend sends it as parameter text and prints array elements with it).

use twofactor_protocol::{Date, Time, Timestamp};

// These parse every DATE, TIME and TIMESTAMP cell a SQLite fetch sends (SQLite stores
// them as text), so they work on bytes at fixed positions: no iterators, no `str::parse`,
// no allocation. A fetch of 200,000 timestamps spent 40 % of the server's instructions
// here with `splitn`/`parse`/`format!` (docs/performance.md, "Issue 13, server encoding").

/// The value of a run of ASCII digits; None if any byte is not one.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    parse_date_bytes(s.as_bytes())
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` with 1 to 9 fraction digits.
pub fn parse_time(s: &str) -> Option<Time> {
    parse_time_bytes(s.as_bytes())
}

/// A date, optionally followed by ' ' or 'T' and a time; trailing 'Z's are ignored.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    parse_timestamp_bytes(s.as_bytes())
}

// The byte forms accept exactly what the `&str` forms do: every accepted byte is ASCII,
// so a SQLite cell can be parsed before (and instead of) its UTF-8 check.

/// [`parse_date`] on bytes.
pub fn parse_date_bytes(b: &[u8]) -> Option<Date> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let d = Date { year: digits(&b[..4])? as i16, month: digits(&b[5..7])? as u8, day: digits(&b[8..])? as u8 };
    ((1..=12).contains(&d.month) && (1..=31).contains(&d.day)).then_some(d)
}

/// [`parse_time`] on bytes.
pub fn parse_time_bytes(b: &[u8]) -> Option<Time> {
    let (hms, frac) = match b.iter().position(|&c| c == b'.') {
        Some(dot) if (1..=9).contains(&(b.len() - dot - 1)) => (&b[..dot], &b[dot + 1..]),
        Some(_) => return None,
        None => (b, &b""[..]),
    };
    if !(hms.len() == 5 || (hms.len() == 8 && hms[5] == b':')) || hms[2] != b':' {
        return None;
    }
    let hour = digits(&hms[..2])? as u8;
    let minute = digits(&hms[3..5])? as u8;
    let second = if hms.len() == 8 { digits(&hms[6..])? as u8 } else { 0 };
    // Scaled to nanoseconds: "25" is 250 ms.
    let nanos = digits(frac)? * 10u32.pow(9 - frac.len() as u32);
    (hour < 24 && minute < 60 && second <= 60).then_some(Time { hour, minute, second, nanos })
}

/// [`parse_timestamp`] on bytes.
pub fn parse_timestamp_bytes(b: &[u8]) -> Option<Timestamp> {
    let mut end = b.len();
    while end > 0 && b[end - 1] == b'Z' {
        end -= 1;
    }
    let b = &b[..end];
    // A date is exactly 10 bytes, so the separator can only be byte 10.
    match b.get(10) {
        None => Some(Timestamp { date: parse_date_bytes(b)?, time: Time { hour: 0, minute: 0, second: 0, nanos: 0 } }),
        Some(b' ' | b'T') => Some(Timestamp { date: parse_date_bytes(&b[..10])?, time: parse_time_bytes(&b[11..])? }),
        Some(_) => None,
    }
}

fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        return String::new();
    }
    let f = format!(".{nanos:09}");
    f.trim_end_matches('0').to_owned()
}

pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

pub fn format_time(t: Time) -> String {
    format!("{:02}:{:02}:{:02}{}", t.hour, t.minute, t.second, fraction(t.nanos))
}

pub fn format_timestamp(ts: Timestamp) -> String {
    format!("{} {}", format_date(ts.date), format_time(ts.time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_take_two_or_three_fields_and_up_to_nine_fraction_digits() {
        let t = |h, m, s, n| Some(Time { hour: h, minute: m, second: s, nanos: n });
        assert_eq!(parse_time("07:08"), t(7, 8, 0, 0));
        assert_eq!(parse_time("07:08:09.5"), t(7, 8, 9, 500_000_000));
        assert_eq!(parse_time("23:59:60.123456789"), t(23, 59, 60, 123_456_789));
        for bad in ["07:08:", "07:08:09.", "07:08:09.1234567890", "7:08:09", "07:08:09:10", "07-08-09", "0a:08", ""] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_exactly_ten_bytes() {
        assert_eq!(parse_date("0001-12-31"), Some(Date { year: 1, month: 12, day: 31 }));
        for bad in ["2024-1-01", "2024-01-001", "2024/01/01", "2024-00-10", "2024-01-32", "２０２4-01-01"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamp("2024-02-29T13:45:01.250Z").unwrap().time.nanos, 250_000_000);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_not_misread() {
        assert_eq!(parse_timestamp_bytes(b"2024-02-29 13:45:01.\xff"), None);
        assert_eq!(parse_timestamp_bytes(b"2024-02-29\xc313:45"), None);
        assert_eq!(parse_date_bytes(b"2024-02-2\xff"), None);
        assert_eq!(parse_time_bytes(b"13:45:0\xe9"), None);
        assert_eq!(parse_timestamp_bytes(b"2024-02-29 13:45:01ZZ"), parse_timestamp("2024-02-29 13:45:01"));
        assert_eq!(parse_timestamp_bytes(b"ZZ"), None);
    }
}
