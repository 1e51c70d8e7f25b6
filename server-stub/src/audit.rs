//! The audit trail: one JSON object per line, appended to `audit.log`, and the same event
//! through `log::info`. Never a password, code or secret: the event type has no field
//! that could hold one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct AuditEvent<'a> {
    pub time: String,
    pub user: &'a str,
    pub peer: &'a str,
    pub event: &'a str,
    pub outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    /// Why, for failures: never a password, code or secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// The first-factor mechanism that decided a password check (`local`, `ldap`;
    /// docs/ldap.md), on the events that follow one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_factor: Option<&'a str>,
}

pub struct AuditLog {
    file: Option<Mutex<File>>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(path)?;
        Ok(AuditLog { file: Some(Mutex::new(file)) })
    }

    /// Logs through `log` only; for tests and tools without a data directory.
    pub fn disabled() -> Self {
        AuditLog { file: None }
    }

    pub fn record(&self, now: i64, user: &str, peer: &str, event: &str, outcome: &str, method: Option<&str>) {
        self.record_why(now, user, peer, event, outcome, method, None)
    }

    /// The same with a reason (a failure's cause, a count left...).
    #[allow(clippy::too_many_arguments)]
    pub fn record_why(
        &self,
        now: i64,
        user: &str,
        peer: &str,
        event: &str,
        outcome: &str,
        method: Option<&str>,
        reason: Option<&str>,
    ) {
        self.record_first_factor(now, user, peer, event, outcome, method, reason, None)
    }

    /// The same, naming the first-factor mechanism that decided (None: no mechanism knew
    /// the user).
    #[allow(clippy::too_many_arguments)]
    pub fn record_first_factor(
        &self,
        now: i64,
        user: &str,
        peer: &str,
        event: &str,
        outcome: &str,
        method: Option<&str>,
        reason: Option<&str>,
        mechanism: Option<&str>,
    ) {
        let first_factor = mechanism;
        self.write(&AuditEvent { time: rfc3339(now), user, peer, event, outcome, method, reason, first_factor })
    }

    fn write(&self, e: &AuditEvent<'_>) {
        let line = match serde_json::to_string(e) {
            Ok(l) => l,
            Err(err) => {
                log::error!("audit: cannot encode an event: {err}");
                return;
            }
        };
        log::info!(target: "audit", "{line}");
        if let Some(file) = &self.file {
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            // One write per line, so lines from concurrent writers (server and CLI) do not interleave.
            if let Err(err) = f.write_all(format!("{line}\n").as_bytes()) {
                log::error!("audit: cannot write the audit log: {err}");
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, without pulling in a date crate.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Parses RFC 3339 (`2026-01-02T03:04:05Z`, `...+02:00`, fractional seconds ignored) or
/// a bare date (`2026-01-02`, midnight UTC) to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let num =
        |t: &str| -> Option<i64> { (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())? };
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(y, m as u32, day as u32);
    let Some(rest) = rest else {
        return Some(days * 86_400);
    };
    let (time, offset) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (t, sign * (num(oh)? * 3600 + num(om)? * 60))
    };
    let time = time.split('.').next()?;
    let mut t = time.split(':');
    let (h, mi, se) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if t.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's algorithm: days since 1970-01-01 to a proleptic Gregorian date.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_234_567_890), "2009-02-13T23:31:30Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn rfc3339_parses_back() {
        for t in [0, 1_234_567_890, 951_782_400, 1_800_000_000] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(parse_rfc3339("2009-02-14T01:31:30+02:00"), Some(1_234_567_890));
        assert_eq!(parse_rfc3339("2009-02-13T23:31:30.25Z"), Some(1_234_567_890));
        assert_eq!(parse_rfc3339("1970-01-02"), Some(86_400));
        for bad in ["", "yesterday", "2009-13-01", "2009-02-13T25:00:00Z", "2009-02-13T23:31"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_event_is_one_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.record(0, "alice", "127.0.0.1:5", "second_factor", "rejected", Some("TOTP"));
        log.record(0, "alice", "cli", "unlock", "ok", None);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["event"], "second_factor");
        assert_eq!(v["outcome"], "rejected");
        assert_eq!(v["method"], "TOTP");
        assert_eq!(v["time"], "1970-01-01T00:00:00Z");
    }
}
