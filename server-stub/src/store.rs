//! The user store: accounts, password hashes, sealed TOTP secrets, the replay ledger
//! (last accepted time step) and failure counters. Behind [`UserStore`] so a shared
//! PostgreSQL store can replace SQLite without touching the session code.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use subtle::ConstantTimeEq;

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

/// The second-factor method a user has active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    Sms,
    Email,
    /// No second factor for this user (other enrolments are kept).
    None,
}

impl Method {
    /// As stored in `users.method` and shown by `user list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "TOTP",
            Method::Sms => "SMS",
            Method::Email => "EMAIL",
            Method::None => "NONE",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        match s.to_ascii_uppercase().replace(['-', '_'], "").as_str() {
            "TOTP" => Some(Method::Totp),
            "SMS" => Some(Method::Sms),
            "EMAIL" => Some(Method::Email),
            "NONE" => Some(Method::None),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub password_hash: String,
    pub two_factor_required: bool,
    /// `TOTP`, `SMS`, `EMAIL` or `NONE`: the active method (see [`Method`]).
    pub method: String,
    pub totp: Option<TotpEnrolment>,
    pub last_totp_step: Option<i64>,
    /// Failed second-factor attempts in a row, and the second-factor lock.
    pub failed_second_factor: u32,
    pub locked_until: Option<i64>,
    /// Failed passwords in a row, and the password (first-factor) lock.
    pub failed_first_factor: u32,
    pub password_locked_until: Option<i64>,
    /// E.164, e.g. `+15551234567`.
    pub phone: Option<String>,
    pub carrier: Option<String>,
    pub email: Option<String>,
    /// Learned clock drift of the user's TOTP device, in steps.
    pub totp_drift: i64,
    /// The offset of the last accepted code, and how many accepts in a row landed there.
    pub drift_candidate: Option<i64>,
    pub drift_streak: u32,
    pub backup_codes_left: u32,
}

impl UserRecord {
    /// A user with only a name and a password hash, as `create_user` makes one.
    pub fn new(name: &str, password_hash: &str) -> Self {
        UserRecord {
            name: name.into(),
            password_hash: password_hash.into(),
            two_factor_required: true,
            method: "TOTP".into(),
            totp: None,
            last_totp_step: None,
            failed_second_factor: 0,
            locked_until: None,
            failed_first_factor: 0,
            password_locked_until: None,
            phone: None,
            carrier: None,
            email: None,
            totp_drift: 0,
            drift_candidate: None,
            drift_streak: 0,
            backup_codes_left: 0,
        }
    }

    /// Locked at the second factor.
    pub fn is_locked(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
    /// Locked at the password.
    pub fn is_password_locked(&self, now: i64) -> bool {
        self.password_locked_until.is_some_and(|t| t > now)
    }
    pub fn active_method(&self) -> Method {
        Method::parse(&self.method).unwrap_or(Method::Totp)
    }
    /// Whether the active method has what it needs (a key, a number, an address).
    pub fn method_enrolled(&self) -> bool {
        match self.active_method() {
            Method::Totp => self.totp.is_some(),
            Method::Sms => self.phone.is_some(),
            Method::Email => self.email.is_some(),
            Method::None => true,
        }
    }
    pub fn status(&self, now: i64) -> &'static str {
        if self.is_locked(now) || self.is_password_locked(now) {
            "Locked"
        } else if self.two_factor_required && !self.method_enrolled() {
            "Unenrolled"
        } else {
            "Active"
        }
    }
}

/// What one failed attempt did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; this many failures in a row now.
    Counted(u32),
    /// This failure reached the limit; locked until the given time.
    LockedNow { until: i64 },
    /// The account was locked already; nothing counted.
    AlreadyLocked,
}

/// The drift state to store with an accepted TOTP step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftState {
    pub drift: i64,
    pub candidate: Option<i64>,
    pub streak: u32,
}

/// A one-time code to send, as the store keeps it: only its keyed hash.
#[derive(Debug, Clone)]
pub struct CodeRequest<'a> {
    pub code_hash: &'a [u8],
    pub method: Method,
    /// Where it goes (a number or an address); a change of destination issues a new code.
    pub destination: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub max_tries: u32,
    pub max_sends_per_hour: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    /// Stored and counted as a send; the caller sends it now.
    Issued,
    /// A code sent earlier is still valid (unused, unexpired, tries left): nothing new is
    /// sent, so a code obtained by an earlier login still works (codes set before connect).
    StillPending { expires_at: i64 },
    /// `max_sends_per_hour` reached; the next send is possible at `retry_at`.
    Limited { retry_at: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCode {
    pub method: String,
    pub destination: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub tries_left: u32,
}

/// An SMS carrier's e-mail-to-SMS gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier {
    pub name: String,
    pub gateway: String,
}

/// InterSystems IRIS's predefined mobile phone service providers: the defaults of the
/// carrier list (editable; US carriers are closing these gateways, see `sms.provider`).
pub const DEFAULT_CARRIERS: &[(&str, &str)] = &[
    ("AT&T Wireless", "txt.att.net"),
    ("Alltel", "message.alltel.com"),
    ("Cellular One", "mobile.celloneusa.com"),
    ("Nextel", "messaging.nextel.com"),
    ("Sprint PCS", "messaging.sprintpcs.com"),
    ("T-Mobile", "tmomail.net"),
    ("Verizon", "vtext.com"),
];

pub trait UserStore: Send + Sync + 'static {
    fn create_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    fn remove_user(&self, name: &str) -> Result<(), StoreError>;
    fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    fn set_two_factor_required(&self, name: &str, on: bool) -> Result<(), StoreError>;
    /// Replaces the TOTP secret and makes TOTP the active method; codes of the old key
    /// stop working at once, and the learned drift is forgotten.
    fn set_totp(&self, name: &str, enrolment: &TotpEnrolment) -> Result<(), StoreError>;
    /// Records `step` as used iff it is later than every step used before, atomically, so
    /// a code is accepted once even by several servers sharing the store. False: replay.
    fn accept_totp_step(&self, name: &str, step: i64) -> Result<bool, StoreError>;
    /// The same, storing the drift state in the same conditional update.
    fn accept_totp(&self, name: &str, step: i64, drift: DriftState) -> Result<bool, StoreError>;
    /// Counts one failed second factor, locking the second factor at `max_failures`.
    fn record_failure(
        &self,
        name: &str,
        now: i64,
        max_failures: u32,
        lockout_secs: i64,
    ) -> Result<FailureOutcome, StoreError>;
    /// Counts one wrong password (its own counter), locking the password at `max_failures`.
    fn record_password_failure(
        &self,
        name: &str,
        now: i64,
        max_failures: u32,
        lockout_secs: i64,
    ) -> Result<FailureOutcome, StoreError>;
    /// A full login succeeded: both counters and locks start afresh.
    fn reset_failures(&self, name: &str) -> Result<(), StoreError>;
    /// Lifts both locks and resets both counters.
    fn unlock(&self, name: &str) -> Result<(), StoreError>;
    /// The server-wide two-factor switch, when an admin has set one.
    fn two_factor_setting(&self) -> Result<Option<bool>, StoreError>;
    fn set_two_factor_setting(&self, on: bool) -> Result<(), StoreError>;

    fn set_method(&self, name: &str, method: Method) -> Result<(), StoreError>;
    /// Sets (or with `None` removes) the phone number and carrier.
    fn set_phone(&self, name: &str, phone: Option<&str>, carrier: Option<&str>) -> Result<(), StoreError>;
    fn set_email(&self, name: &str, email: Option<&str>) -> Result<(), StoreError>;

    /// Stores a new one-time code unless one is still pending or the send limit is reached.
    fn issue_code(&self, name: &str, req: &CodeRequest<'_>) -> Result<IssueOutcome, StoreError>;
    /// Sending failed: the code is deleted and its send is not counted.
    fn cancel_code(&self, name: &str, code_hash: &[u8]) -> Result<(), StoreError>;
    /// True iff the pending code is unexpired, has tries left and has this hash; it is
    /// deleted then (single use). Nothing changes otherwise.
    fn use_code(&self, name: &str, code_hash: &[u8], now: i64) -> Result<bool, StoreError>;
    /// A wrong submission: one try of the pending code is spent; the last one voids it.
    fn spend_code_try(&self, name: &str) -> Result<(), StoreError>;
    fn pending_code(&self, name: &str, now: i64) -> Result<Option<PendingCode>, StoreError>;

    /// Replaces the user's backup codes with these hashes.
    fn set_backup_codes(&self, name: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError>;
    /// True iff the user had this backup code; it is gone then.
    fn use_backup_code(&self, name: &str, code_hash: &[u8]) -> Result<bool, StoreError>;
    fn backup_code_hashes(&self, name: &str) -> Result<Vec<Vec<u8>>, StoreError>;

    fn carriers(&self) -> Result<Vec<Carrier>, StoreError>;
    fn carrier(&self, name: &str) -> Result<Option<Carrier>, StoreError>;
    /// Adds (`create`) or edits (not `create`) a carrier.
    fn put_carrier(&self, carrier: &Carrier, create: bool) -> Result<(), StoreError>;
    fn remove_carrier(&self, name: &str) -> Result<(), StoreError>;

    /// Writes a whole user (export/import); `replace` overwrites an existing one.
    fn import_user(&self, user: &UserRecord, backup_hashes: &[Vec<u8>], replace: bool) -> Result<(), StoreError>;
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
CREATE TABLE IF NOT EXISTS pending_codes (
    name TEXT PRIMARY KEY NOT NULL,
    code_hash BLOB NOT NULL,
    method TEXT NOT NULL,
    destination TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    tries_left INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS code_sends (name TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS code_sends_by_name ON code_sends (name, at);
CREATE TABLE IF NOT EXISTS backup_codes (
    name TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    PRIMARY KEY (name, code_hash)
);
CREATE TABLE IF NOT EXISTS carriers (name TEXT PRIMARY KEY NOT NULL, gateway TEXT NOT NULL);
";

/// Columns added after the first release, added to older stores when they are opened.
const ADDED_USER_COLUMNS: &[(&str, &str)] = &[
    ("failed_first_factor", "INTEGER NOT NULL DEFAULT 0"),
    ("password_locked_until", "INTEGER"),
    ("phone", "TEXT"),
    ("carrier", "TEXT"),
    ("email", "TEXT"),
    ("totp_drift", "INTEGER NOT NULL DEFAULT 0"),
    ("drift_candidate", "INTEGER"),
    ("drift_streak", "INTEGER NOT NULL DEFAULT 0"),
];

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
        let mut conn = conn;
        Self::migrate(&mut conn)?;
        Ok(SqliteUserStore { conn: Mutex::new(conn) })
    }

    fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Vec<String> = {
            let mut stmt = tx.prepare("SELECT name FROM pragma_table_info('users')")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for (col, decl) in ADDED_USER_COLUMNS {
            if !existing.iter().any(|c| c == col) {
                tx.execute_batch(&format!("ALTER TABLE users ADD COLUMN {col} {decl}"))?;
            }
        }
        // The carrier list is seeded once; after that it is the admin's to edit.
        let seeded: Option<String> =
            tx.query_row("SELECT value FROM settings WHERE key = 'carriers_seeded'", [], |r| r.get(0)).optional()?;
        if seeded.is_none() {
            for (name, gateway) in DEFAULT_CARRIERS {
                tx.execute("INSERT OR IGNORE INTO carriers (name, gateway) VALUES (?1, ?2)", params![name, gateway])?;
            }
            tx.execute("INSERT INTO settings (key, value) VALUES ('carriers_seeded', '1')", [])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
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

    fn update_user(&self, name: &str, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<(), StoreError> {
        self.with(|c| {
            let n = c.execute(sql, p)?;
            Self::changed_or_missing(name, n)
        })
    }

    fn count_failure(
        &self,
        name: &str,
        now: i64,
        max: u32,
        lockout_secs: i64,
        count_col: &str,
        lock_col: &str,
    ) -> Result<FailureOutcome, StoreError> {
        self.with(|c| {
            // IMMEDIATE takes the write lock first, so concurrent failures (also from other
            // processes) are counted one after another.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(u32, Option<i64>)> = tx
                .query_row(&format!("SELECT {count_col}, {lock_col} FROM users WHERE name = ?1"), [name], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((failed, locked_until)) = row else {
                return Err(StoreError::NoSuchUser(name.to_owned()));
            };
            if locked_until.is_some_and(|t| t > now) {
                return Ok(FailureOutcome::AlreadyLocked);
            }
            // A lock that has run out starts a fresh count.
            let failed = if locked_until.is_some() { 1 } else { failed.saturating_add(1) };
            let outcome = if failed >= max {
                let until = now.saturating_add(lockout_secs);
                tx.execute(
                    &format!("UPDATE users SET {count_col} = ?1, {lock_col} = ?2 WHERE name = ?3"),
                    params![failed, until, name],
                )?;
                FailureOutcome::LockedNow { until }
            } else {
                tx.execute(
                    &format!("UPDATE users SET {count_col} = ?1, {lock_col} = NULL WHERE name = ?2"),
                    params![failed, name],
                )?;
                FailureOutcome::Counted(failed)
            };
            tx.commit()?;
            Ok(outcome)
        })
    }
}

const SELECT_USER: &str = "SELECT name, password_hash, two_factor, method, totp_secret, totp_algorithm, totp_digits,
    last_totp_step, failed_second_factor, locked_until, failed_first_factor, password_locked_until,
    phone, carrier, email, totp_drift, drift_candidate, drift_streak,
    (SELECT COUNT(*) FROM backup_codes b WHERE b.name = users.name) FROM users";

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    let secret: Option<Vec<u8>> = r.get(4)?;
    let totp = match secret {
        Some(sealed_secret) => Some(TotpEnrolment {
            sealed_secret,
            algorithm: r.get::<_, Option<String>>(5)?.unwrap_or_else(|| "SHA1".into()),
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
        failed_first_factor: r.get(10)?,
        password_locked_until: r.get(11)?,
        phone: r.get(12)?,
        carrier: r.get(13)?,
        email: r.get(14)?,
        totp_drift: r.get(15)?,
        drift_candidate: r.get(16)?,
        drift_streak: r.get(17)?,
        backup_codes_left: r.get(18)?,
    })
}

impl UserStore for SqliteUserStore {
    fn create_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        self.with(|c| {
            match c.execute("INSERT INTO users (name, password_hash) VALUES (?1, ?2)", params![name, password_hash]) {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Err(StoreError::AlreadyExists(name.to_owned()))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.with(|c| Ok(c.query_row(&format!("{SELECT_USER} WHERE name = ?1"), [name], row_to_user).optional()?))
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
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute("DELETE FROM users WHERE name = ?1", [name])?;
            for t in ["pending_codes", "code_sends", "backup_codes"] {
                tx.execute(&format!("DELETE FROM {t} WHERE name = ?1"), [name])?;
            }
            tx.commit()?;
            Self::changed_or_missing(name, n)
        })
    }

    fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        self.update_user(name, "UPDATE users SET password_hash = ?1 WHERE name = ?2", &[&password_hash, &name])
    }

    fn set_two_factor_required(&self, name: &str, on: bool) -> Result<(), StoreError> {
        self.update_user(name, "UPDATE users SET two_factor = ?1 WHERE name = ?2", &[&on, &name])
    }

    fn set_totp(&self, name: &str, e: &TotpEnrolment) -> Result<(), StoreError> {
        // The ledger restarts with the key: old codes die with the old key anyway.
        self.update_user(
            name,
            "UPDATE users SET totp_secret = ?1, totp_algorithm = ?2, totp_digits = ?3, method = 'TOTP',
             last_totp_step = NULL, totp_drift = 0, drift_candidate = NULL, drift_streak = 0
             WHERE name = ?4",
            &[&e.sealed_secret, &e.algorithm, &e.digits, &name],
        )
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

    fn accept_totp(&self, name: &str, step: i64, d: DriftState) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE users SET last_totp_step = ?1, failed_second_factor = 0,
                 totp_drift = ?3, drift_candidate = ?4, drift_streak = ?5
                 WHERE name = ?2 AND (last_totp_step IS NULL OR last_totp_step < ?1)",
                params![step, name, d.drift, d.candidate, d.streak],
            )?;
            Ok(n == 1)
        })
    }

    fn record_failure(&self, name: &str, now: i64, max: u32, lockout_secs: i64) -> Result<FailureOutcome, StoreError> {
        self.count_failure(name, now, max, lockout_secs, "failed_second_factor", "locked_until")
    }

    fn record_password_failure(
        &self,
        name: &str,
        now: i64,
        max: u32,
        lockout_secs: i64,
    ) -> Result<FailureOutcome, StoreError> {
        self.count_failure(name, now, max, lockout_secs, "failed_first_factor", "password_locked_until")
    }

    fn reset_failures(&self, name: &str) -> Result<(), StoreError> {
        self.unlock(name)
    }

    fn unlock(&self, name: &str) -> Result<(), StoreError> {
        self.update_user(
            name,
            "UPDATE users SET failed_second_factor = 0, locked_until = NULL,
             failed_first_factor = 0, password_locked_until = NULL WHERE name = ?1",
            &[&name],
        )
    }

    fn two_factor_setting(&self) -> Result<Option<bool>, StoreError> {
        self.with(|c| {
            let v: Option<String> =
                c.query_row("SELECT value FROM settings WHERE key = 'two_factor'", [], |r| r.get(0)).optional()?;
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

    fn set_method(&self, name: &str, method: Method) -> Result<(), StoreError> {
        self.update_user(name, "UPDATE users SET method = ?1 WHERE name = ?2", &[&method.as_str(), &name])
    }

    fn set_phone(&self, name: &str, phone: Option<&str>, carrier: Option<&str>) -> Result<(), StoreError> {
        self.update_user(name, "UPDATE users SET phone = ?1, carrier = ?2 WHERE name = ?3", &[&phone, &carrier, &name])
    }

    fn set_email(&self, name: &str, email: Option<&str>) -> Result<(), StoreError> {
        self.update_user(name, "UPDATE users SET email = ?1 WHERE name = ?2", &[&email, &name])
    }

    fn issue_code(&self, name: &str, q: &CodeRequest<'_>) -> Result<IssueOutcome, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let pending: Option<(String, String, i64, u32)> = tx
                .query_row(
                    "SELECT method, destination, expires_at, tries_left FROM pending_codes WHERE name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            if let Some((method, destination, expires_at, tries_left)) = pending {
                if method == q.method.as_str() && destination == q.destination && expires_at > q.now && tries_left > 0 {
                    return Ok(IssueOutcome::StillPending { expires_at });
                }
            }
            let hour_ago = q.now - 3600;
            tx.execute("DELETE FROM code_sends WHERE name = ?1 AND at <= ?2", params![name, hour_ago])?;
            let (sent, oldest): (u32, Option<i64>) =
                tx.query_row("SELECT COUNT(*), MIN(at) FROM code_sends WHERE name = ?1", [name], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            if sent >= q.max_sends_per_hour {
                return Ok(IssueOutcome::Limited { retry_at: oldest.unwrap_or(q.now) + 3600 });
            }
            tx.execute(
                "INSERT INTO pending_codes (name, code_hash, method, destination, issued_at, expires_at, tries_left)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(name) DO UPDATE SET code_hash = excluded.code_hash, method = excluded.method,
                 destination = excluded.destination, issued_at = excluded.issued_at,
                 expires_at = excluded.expires_at, tries_left = excluded.tries_left",
                params![name, q.code_hash, q.method.as_str(), q.destination, q.now, q.expires_at, q.max_tries],
            )?;
            tx.execute("INSERT INTO code_sends (name, at) VALUES (?1, ?2)", params![name, q.now])?;
            tx.commit()?;
            Ok(IssueOutcome::Issued)
        })
    }

    fn cancel_code(&self, name: &str, code_hash: &[u8]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let issued_at: Option<i64> = tx
                .query_row(
                    "DELETE FROM pending_codes WHERE name = ?1 AND code_hash = ?2 RETURNING issued_at",
                    params![name, code_hash],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(at) = issued_at {
                tx.execute(
                    "DELETE FROM code_sends WHERE rowid = (SELECT MAX(rowid) FROM code_sends WHERE name = ?1 AND at = ?2)",
                    params![name, at],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn use_code(&self, name: &str, code_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(Vec<u8>, i64, u32)> = tx
                .query_row("SELECT code_hash, expires_at, tries_left FROM pending_codes WHERE name = ?1", [name], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let Some((stored, expires_at, tries_left)) = row else {
                return Ok(false);
            };
            if expires_at <= now || tries_left == 0 {
                // Expired or void: it can never be used again.
                tx.execute("DELETE FROM pending_codes WHERE name = ?1", [name])?;
                tx.commit()?;
                return Ok(false);
            }
            let same: bool = stored.as_slice().ct_eq(code_hash).into();
            if !same {
                return Ok(false);
            }
            tx.execute("DELETE FROM pending_codes WHERE name = ?1", [name])?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn spend_code_try(&self, name: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE pending_codes SET tries_left = tries_left - 1 WHERE name = ?1 AND tries_left > 0",
                [name],
            )?;
            tx.execute("DELETE FROM pending_codes WHERE name = ?1 AND tries_left <= 0", [name])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn pending_code(&self, name: &str, now: i64) -> Result<Option<PendingCode>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT method, destination, issued_at, expires_at, tries_left FROM pending_codes
                 WHERE name = ?1 AND expires_at > ?2 AND tries_left > 0",
                params![name, now],
                |r| {
                    Ok(PendingCode {
                        method: r.get(0)?,
                        destination: r.get(1)?,
                        issued_at: r.get(2)?,
                        expires_at: r.get(3)?,
                        tries_left: r.get(4)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn set_backup_codes(&self, name: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool =
                tx.query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(())).optional()?.is_some();
            if !exists {
                return Err(StoreError::NoSuchUser(name.to_owned()));
            }
            tx.execute("DELETE FROM backup_codes WHERE name = ?1", [name])?;
            for h in hashes {
                tx.execute("INSERT OR IGNORE INTO backup_codes (name, code_hash) VALUES (?1, ?2)", params![name, h])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn use_backup_code(&self, name: &str, code_hash: &[u8]) -> Result<bool, StoreError> {
        self.with(|c| {
            let n =
                c.execute("DELETE FROM backup_codes WHERE name = ?1 AND code_hash = ?2", params![name, code_hash])?;
            Ok(n == 1)
        })
    }

    fn backup_code_hashes(&self, name: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT code_hash FROM backup_codes WHERE name = ?1 ORDER BY code_hash")?;
            let rows = stmt.query_map([name], |r| r.get::<_, Vec<u8>>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn carriers(&self) -> Result<Vec<Carrier>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT name, gateway FROM carriers ORDER BY name")?;
            let rows = stmt.query_map([], |r| Ok(Carrier { name: r.get(0)?, gateway: r.get(1)? }))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn carrier(&self, name: &str) -> Result<Option<Carrier>, StoreError> {
        self.with(|c| {
            Ok(c.query_row("SELECT name, gateway FROM carriers WHERE name = ?1 COLLATE NOCASE", [name], |r| {
                Ok(Carrier { name: r.get(0)?, gateway: r.get(1)? })
            })
            .optional()?)
        })
    }

    fn put_carrier(&self, carrier: &Carrier, create: bool) -> Result<(), StoreError> {
        self.with(|c| {
            if create {
                match c.execute(
                    "INSERT INTO carriers (name, gateway) VALUES (?1, ?2)",
                    params![carrier.name, carrier.gateway],
                ) {
                    Ok(_) => Ok(()),
                    Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                        Err(StoreError::AlreadyExists(carrier.name.clone()))
                    }
                    Err(e) => Err(e.into()),
                }
            } else {
                let n = c.execute(
                    "UPDATE carriers SET gateway = ?1 WHERE name = ?2",
                    params![carrier.gateway, carrier.name],
                )?;
                if n == 0 {
                    Err(StoreError::Backend(format!("no carrier `{}`", carrier.name)))
                } else {
                    Ok(())
                }
            }
        })
    }

    fn remove_carrier(&self, name: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let n = c.execute("DELETE FROM carriers WHERE name = ?1", [name])?;
            if n == 0 {
                Err(StoreError::Backend(format!("no carrier `{name}`")))
            } else {
                Ok(())
            }
        })
    }

    fn import_user(&self, u: &UserRecord, backup_hashes: &[Vec<u8>], replace: bool) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists =
                tx.query_row("SELECT 1 FROM users WHERE name = ?1", [&u.name], |_| Ok(())).optional()?.is_some();
            if exists && !replace {
                return Err(StoreError::AlreadyExists(u.name.clone()));
            }
            for t in ["users", "pending_codes", "code_sends", "backup_codes"] {
                tx.execute(&format!("DELETE FROM {t} WHERE name = ?1"), [&u.name])?;
            }
            let (secret, alg, digits) = match &u.totp {
                Some(t) => (Some(t.sealed_secret.clone()), Some(t.algorithm.clone()), Some(t.digits)),
                None => (None, None, None),
            };
            tx.execute(
                "INSERT INTO users (name, password_hash, two_factor, method, totp_secret, totp_algorithm,
                 totp_digits, last_totp_step, phone, carrier, email, totp_drift)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    u.name,
                    u.password_hash,
                    u.two_factor_required,
                    u.method,
                    secret,
                    alg,
                    digits,
                    u.last_totp_step,
                    u.phone,
                    u.carrier,
                    u.email,
                    u.totp_drift
                ],
            )?;
            for h in backup_hashes {
                tx.execute("INSERT OR IGNORE INTO backup_codes (name, code_hash) VALUES (?1, ?2)", params![u.name, h])?;
            }
            tx.commit()?;
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
        assert!(matches!(s.create_user("alice", "x"), Err(StoreError::AlreadyExists(_))));
    }

    #[test]
    fn a_step_is_accepted_once_and_earlier_steps_never() {
        let s = store_with("alice");
        assert!(s.accept_totp_step("alice", 100).unwrap());
        assert!(!s.accept_totp_step("alice", 100).unwrap(), "replay within the step");
        assert!(!s.accept_totp_step("alice", 99).unwrap(), "an earlier step");
        assert!(s.accept_totp_step("alice", 101).unwrap());
    }

    #[test]
    fn the_account_locks_at_the_limit_and_does_not_count_while_locked() {
        let s = store_with("alice");
        for n in 1..5 {
            assert_eq!(s.record_failure("alice", 1000, 5, 900).unwrap(), FailureOutcome::Counted(n));
        }
        assert_eq!(s.record_failure("alice", 1000, 5, 900).unwrap(), FailureOutcome::LockedNow { until: 1900 });
        assert_eq!(s.record_failure("alice", 1001, 5, 900).unwrap(), FailureOutcome::AlreadyLocked);
        let u = s.user("alice").unwrap().unwrap();
        assert_eq!(u.failed_second_factor, 5);
        assert!(u.is_locked(1899));
        assert!(!u.is_locked(1900), "auto-unlock when the period passes");
        assert_eq!(s.record_failure("alice", 1900, 5, 900).unwrap(), FailureOutcome::Counted(1), "fresh count");
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
