//! The user store: accounts, password hashes, sealed TOTP secrets, the replay ledger
//! (last accepted time step) and failure counters. Behind [`UserStore`] so a shared
//! PostgreSQL store can replace SQLite without touching the session code.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub const USERS_FILE: &str = "users.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("user `{0}` already exists")]
    AlreadyExists(String),
    #[error("no user `{0}`")]
    NoSuchUser(String),
    #[error("user store: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    /// `nonce || ciphertext`, see `crypto`.
    pub sealed_secret: Vec<u8>,
    pub algorithm: String,
    pub digits: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub password_hash: String,
    pub two_factor_required: bool,
    /// `TOTP` today; SMS and e-mail come later.
    pub method: String,
    pub totp: Option<TotpEnrolment>,
    pub last_totp_step: Option<i64>,
    pub failed_second_factor: u32,
    pub locked_until: Option<i64>,
}

impl UserRecord {
    pub fn is_locked(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
    pub fn status(&self, now: i64) -> &'static str {
        if self.is_locked(now) {
            "Locked"
        } else if self.two_factor_required && self.totp.is_none() {
            "Unenrolled"
        } else {
            "Active"
        }
    }
}

/// What one failed second-factor attempt did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; this many failures in a row now.
    Counted(u32),
    /// This failure reached the limit; locked until the given time.
    LockedNow { until: i64 },
    /// The account was locked already; nothing counted.
    AlreadyLocked,
}

pub trait UserStore: Send + Sync + 'static {
    fn create_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    fn remove_user(&self, name: &str) -> Result<(), StoreError>;
    fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    fn set_two_factor_required(&self, name: &str, on: bool) -> Result<(), StoreError>;
    /// Replaces the TOTP secret; codes of the old one stop working at once.
    fn set_totp(&self, name: &str, enrolment: &TotpEnrolment) -> Result<(), StoreError>;
    /// Records `step` as used iff it is later than every step used before, atomically, so
    /// a code is accepted once even by several servers sharing the store. False: replay.
    fn accept_totp_step(&self, name: &str, step: i64) -> Result<bool, StoreError>;
    /// Counts one failed second factor, locking the account at `max_failures`.
    fn record_failure(
        &self,
        name: &str,
        now: i64,
        max_failures: u32,
        lockout_secs: i64,
    ) -> Result<FailureOutcome, StoreError>;
    fn unlock(&self, name: &str) -> Result<(), StoreError>;
    /// The server-wide two-factor switch, when an admin has set one.
    fn two_factor_setting(&self) -> Result<Option<bool>, StoreError>;
    fn set_two_factor_setting(&self, on: bool) -> Result<(), StoreError>;
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    two_factor INTEGER NOT NULL DEFAULT 1,
    method TEXT NOT NULL DEFAULT 'TOTP',
    totp_secret BLOB,
    totp_algorithm TEXT,
    totp_digits INTEGER,
    last_totp_step INTEGER,
    failed_second_factor INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
";

/// The SQLite store. WAL and a busy timeout let the admin CLI change users while the
/// server runs.
pub struct SqliteUserStore {
    conn: Mutex<Connection>,
}

impl SqliteUserStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::setup(conn)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteUserStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A panic while holding the lock leaves the connection itself intact.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn changed_or_missing(name: &str, n: usize) -> Result<(), StoreError> {
        if n == 0 {
            Err(StoreError::NoSuchUser(name.to_owned()))
        } else {
            Ok(())
        }
    }
}

const SELECT_USER: &str =
    "SELECT name, password_hash, two_factor, method, totp_secret, totp_algorithm, totp_digits,
    last_totp_step, failed_second_factor, locked_until FROM users";

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    let secret: Option<Vec<u8>> = r.get(4)?;
    let totp = match secret {
        Some(sealed_secret) => Some(TotpEnrolment {
            sealed_secret,
            algorithm: r
                .get::<_, Option<String>>(5)?
                .unwrap_or_else(|| "SHA1".into()),
            digits: r.get::<_, Option<u32>>(6)?.unwrap_or(6),
        }),
        None => None,
    };
    Ok(UserRecord {
        name: r.get(0)?,
        password_hash: r.get(1)?,
        two_factor_required: r.get(2)?,
        method: r.get(3)?,
        totp,
        last_totp_step: r.get(7)?,
        failed_second_factor: r.get(8)?,
        locked_until: r.get(9)?,
    })
}

impl UserStore for SqliteUserStore {
    fn create_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        self.with(|c| {
            match c.execute(
                "INSERT INTO users (name, password_hash) VALUES (?1, ?2)",
                params![name, password_hash],
            ) {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::AlreadyExists(name.to_owned()))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("{SELECT_USER} WHERE name = ?1"),
                [name],
                row_to_user,
            )
            .optional()?)
        })
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!("{SELECT_USER} ORDER BY name"))?;
            let rows = stmt.query_map([], row_to_user)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn remove_user(&self, name: &str) -> Result<(), StoreError> {
        self.with(|c| {
            Self::changed_or_missing(
                name,
                c.execute("DELETE FROM users WHERE name = ?1", [name])?,
            )
        })
    }

    fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE users SET password_hash = ?1 WHERE name = ?2",
                params![password_hash, name],
            )?;
            Self::changed_or_missing(name, n)
        })
    }

    fn set_two_factor_required(&self, name: &str, on: bool) -> Result<(), StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE users SET two_factor = ?1 WHERE name = ?2",
                params![on, name],
            )?;
            Self::changed_or_missing(name, n)
        })
    }

    fn set_totp(&self, name: &str, e: &TotpEnrolment) -> Result<(), StoreError> {
        self.with(|c| {
            // The ledger restarts with the key: old codes die with the old key anyway.
            let n = c.execute(
                "UPDATE users SET totp_secret = ?1, totp_algorithm = ?2, totp_digits = ?3, method = 'TOTP',
                 last_totp_step = NULL WHERE name = ?4",
                params![e.sealed_secret, e.algorithm, e.digits, name],
            )?;
            Self::changed_or_missing(name, n)
        })
    }

    fn accept_totp_step(&self, name: &str, step: i64) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE users SET last_totp_step = ?1, failed_second_factor = 0
                 WHERE name = ?2 AND (last_totp_step IS NULL OR last_totp_step < ?1)",
                params![step, name],
            )?;
            Ok(n == 1)
        })
    }

    fn record_failure(
        &self,
        name: &str,
        now: i64,
        max: u32,
        lockout_secs: i64,
    ) -> Result<FailureOutcome, StoreError> {
        self.with(|c| {
            // IMMEDIATE takes the write lock first, so concurrent failures (also from other
            // processes) are counted one after another.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(u32, Option<i64>)> = tx
                .query_row("SELECT failed_second_factor, locked_until FROM users WHERE name = ?1", [name], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((failed, locked_until)) = row else { return Err(StoreError::NoSuchUser(name.to_owned())) };
            if locked_until.is_some_and(|t| t > now) {
                return Ok(FailureOutcome::AlreadyLocked);
            }
            // A lock that has run out starts a fresh count.
            let failed = if locked_until.is_some() { 1 } else { failed.saturating_add(1) };
            let outcome = if failed >= max {
                let until = now.saturating_add(lockout_secs);
                tx.execute(
                    "UPDATE users SET failed_second_factor = ?1, locked_until = ?2 WHERE name = ?3",
                    params![failed, until, name],
                )?;
                FailureOutcome::LockedNow { until }
            } else {
                tx.execute(
                    "UPDATE users SET failed_second_factor = ?1, locked_until = NULL WHERE name = ?2",
                    params![failed, name],
                )?;
                FailureOutcome::Counted(failed)
            };
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn unlock(&self, name: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE users SET failed_second_factor = 0, locked_until = NULL WHERE name = ?1",
                [name],
            )?;
            Self::changed_or_missing(name, n)
        })
    }

    fn two_factor_setting(&self) -> Result<Option<bool>, StoreError> {
        self.with(|c| {
            let v: Option<String> = c
                .query_row(
                    "SELECT value FROM settings WHERE key = 'two_factor'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(v.map(|v| v == "on"))
        })
    }

    fn set_two_factor_setting(&self, on: bool) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES ('two_factor', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [if on { "on" } else { "off" }],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(name: &str) -> SqliteUserStore {
        let s = SqliteUserStore::open_in_memory().unwrap();
        s.create_user(name, "$argon2id$fake").unwrap();
        s
    }

    #[test]
    fn a_new_user_requires_two_factor_and_is_unenrolled() {
        let s = store_with("alice");
        let u = s.user("alice").unwrap().unwrap();
        assert!(u.two_factor_required);
        assert_eq!(u.status(0), "Unenrolled");
        assert!(matches!(
            s.create_user("alice", "x"),
            Err(StoreError::AlreadyExists(_))
        ));
    }

    #[test]
    fn a_step_is_accepted_once_and_earlier_steps_never() {
        let s = store_with("alice");
        assert!(s.accept_totp_step("alice", 100).unwrap());
        assert!(
            !s.accept_totp_step("alice", 100).unwrap(),
            "replay within the step"
        );
        assert!(!s.accept_totp_step("alice", 99).unwrap(), "an earlier step");
        assert!(s.accept_totp_step("alice", 101).unwrap());
    }

    #[test]
    fn the_account_locks_at_the_limit_and_does_not_count_while_locked() {
        let s = store_with("alice");
        for n in 1..5 {
            assert_eq!(
                s.record_failure("alice", 1000, 5, 900).unwrap(),
                FailureOutcome::Counted(n)
            );
        }
        assert_eq!(
            s.record_failure("alice", 1000, 5, 900).unwrap(),
            FailureOutcome::LockedNow { until: 1900 }
        );
        assert_eq!(
            s.record_failure("alice", 1001, 5, 900).unwrap(),
            FailureOutcome::AlreadyLocked
        );
        let u = s.user("alice").unwrap().unwrap();
        assert_eq!(u.failed_second_factor, 5);
        assert!(u.is_locked(1899));
        assert!(!u.is_locked(1900), "auto-unlock when the period passes");
        assert_eq!(
            s.record_failure("alice", 1900, 5, 900).unwrap(),
            FailureOutcome::Counted(1),
            "fresh count"
        );
    }

    #[test]
    fn unlock_resets_the_count_and_success_resets_it_too() {
        let s = store_with("alice");
        s.record_failure("alice", 0, 2, 900).unwrap();
        s.record_failure("alice", 0, 2, 900).unwrap();
        assert!(s.user("alice").unwrap().unwrap().is_locked(1));
        s.unlock("alice").unwrap();
        let u = s.user("alice").unwrap().unwrap();
        assert!(!u.is_locked(1));
        assert_eq!(u.failed_second_factor, 0);
        s.record_failure("alice", 0, 5, 900).unwrap();
        assert!(s.accept_totp_step("alice", 5).unwrap());
        assert_eq!(s.user("alice").unwrap().unwrap().failed_second_factor, 0);
    }

    #[test]
    fn the_server_wide_switch_is_unset_until_an_admin_sets_it() {
        let s = SqliteUserStore::open_in_memory().unwrap();
        assert_eq!(s.two_factor_setting().unwrap(), None);
        s.set_two_factor_setting(false).unwrap();
        assert_eq!(s.two_factor_setting().unwrap(), Some(false));
        s.set_two_factor_setting(true).unwrap();
        assert_eq!(s.two_factor_setting().unwrap(), Some(true));
    }
}
