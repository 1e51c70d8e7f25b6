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
}

pub struct AuditLog {
    file: Option<Mutex<File>>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog {
            file: Some(Mutex::new(file)),
        })
    }

    /// Logs through `log` only; for tests and tools without a data directory.
    pub fn disabled() -> Self {
        AuditLog { file: None }
    }

    pub fn record(
        &self,
        now: i64,
        user: &str,
        peer: &str,
        event: &str,
        outcome: &str,
        method: Option<&str>,
    ) {
        let e = AuditEvent {
            time: rfc3339(now),
            user,
            peer,
            event,
            outcome,
            method,
        };
        let line = match serde_json::to_string(&e) {
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
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
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
    fn an_event_is_one_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.record(
            0,
            "alice",
            "127.0.0.1:5",
            "second_factor",
            "rejected",
            Some("TOTP"),
        );
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
