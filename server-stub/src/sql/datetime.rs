//! ISO date and time text, as both backends read and write it (SQLite stores it; the
//! PostgreSQL backend sends it as parameter text and prints array elements with it).

use twofactor_protocol::{Date, Time, Timestamp};

fn num<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

pub fn parse_date(s: &str) -> Option<Date> {
    let mut it = s.splitn(3, '-');
    let d = Date { year: num(it.next()?, 4)?, month: num(it.next()?, 2)?, day: num(it.next()?, 2)? };
    ((1..=12).contains(&d.month) && (1..=31).contains(&d.day)).then_some(d)
}

pub fn parse_time(s: &str) -> Option<Time> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut it = hms.splitn(3, ':');
    let hour: u8 = num(it.next()?, 2)?;
    let minute: u8 = num(it.next()?, 2)?;
    let second: u8 = match it.next() {
        Some(sec) => num(sec, 2)?,
        None => 0,
    };
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) || (frac.is_empty() && s.contains('.')) {
        return None;
    }
    let nanos = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().ok()? };
    (hour < 24 && minute < 60 && second <= 60).then_some(Time { hour, minute, second, nanos })
}

pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.trim_end_matches('Z');
    match s.split_once([' ', 'T']) {
        Some((d, t)) => Some(Timestamp { date: parse_date(d)?, time: parse_time(t)? }),
        None => Some(Timestamp { date: parse_date(s)?, time: Time { hour: 0, minute: 0, second: 0, nanos: 0 } }),
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
