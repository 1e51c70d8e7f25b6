//! The SQLite implementation of [`UserStore`]: one connection behind a mutex, every
//! check-and-update that decides a login in one IMMEDIATE transaction.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::*;
use cached::Cached;

mod attempts;
mod cached;
mod codes;
mod delegated;
mod enrol_links;
mod service_accounts;
mod tickets;

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
CREATE TABLE IF NOT EXISTS login_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    factor TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempts_by_name ON login_attempts (name, factor);
CREATE INDEX IF NOT EXISTS login_attempts_by_address ON login_attempts (address);
CREATE INDEX IF NOT EXISTS login_attempts_by_expiry ON login_attempts (expires_at);
CREATE TABLE IF NOT EXISTS address_failures (
    address TEXT PRIMARY KEY NOT NULL,
    window_start INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    blocked_until INTEGER,
    forget_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS address_failures_by_expiry ON address_failures (forget_at);
CREATE TABLE IF NOT EXISTS service_accounts (
    name TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    credential BLOB NOT NULL,
    networks TEXT NOT NULL,
    backend TEXT NOT NULL,
    sql_role TEXT,
    created_at INTEGER NOT NULL
);
";

/// Columns added after the first release, added to older stores when they are opened.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("users", "failed_first_factor", "INTEGER NOT NULL DEFAULT 0"),
    ("users", "password_locked_until", "INTEGER"),
    ("users", "phone", "TEXT"),
    ("users", "carrier", "TEXT"),
    ("users", "email", "TEXT"),
    ("users", "totp_drift", "INTEGER NOT NULL DEFAULT 0"),
    ("users", "drift_candidate", "INTEGER"),
    ("users", "drift_streak", "INTEGER NOT NULL DEFAULT 0"),
    // Used codes stay until replaced, so the retry of an accepted code is recognised.
    ("pending_codes", "used_at", "INTEGER"),
    ("backup_codes", "used_at", "INTEGER"),
    // The user's own first-factor mechanism (`local`, `ldap`); NULL: the server's list.
    ("users", "first_factor", "TEXT"),
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
        conn.set_prepared_statement_cache_capacity(cached::STATEMENT_CACHE);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(tickets::SCHEMA)?;
        conn.execute_batch(enrol_links::SCHEMA)?;
        conn.execute_batch(delegated::SCHEMA)?;
        let mut conn = conn;
        Self::migrate(&mut conn)?;
        Ok(SqliteUserStore { conn: Mutex::new(conn) })
    }

    fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (table, col, decl) in ADDED_COLUMNS {
            let exists = tx
                .one(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"), [col], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {col} {decl}"))?;
            }
        }
        // The carrier list is seeded once; after that it is the admin's to edit.
        let seeded: Option<String> =
            tx.one("SELECT value FROM settings WHERE key = 'carriers_seeded'", [], |r| r.get(0)).optional()?;
        if seeded.is_none() {
            for (name, gateway) in DEFAULT_CARRIERS {
                tx.exec("INSERT OR IGNORE INTO carriers (name, gateway) VALUES (?1, ?2)", params![name, gateway])?;
            }
            tx.exec("INSERT INTO settings (key, value) VALUES ('carriers_seeded', '1')", [])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        // A panic while holding the lock leaves the connection itself intact.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Runs `f` in an IMMEDIATE transaction (SQLite's write lock taken first, so the reads
    /// in it cannot go stale before its writes, also across processes) and commits.
    fn immediate<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })
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
            let n = c.exec(sql, p)?;
            Self::changed_or_missing(name, n)
        })
    }
}

const SELECT_USER: &str = "SELECT name, password_hash, two_factor, method, totp_secret, totp_algorithm, totp_digits,
    last_totp_step, failed_second_factor, locked_until, failed_first_factor, password_locked_until,
    phone, carrier, email, totp_drift, drift_candidate, drift_streak,
    (SELECT COUNT(*) FROM backup_codes b WHERE b.name = users.name AND b.used_at IS NULL), first_factor
    FROM users";

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
        first_factor: r.get::<_, Option<String>>(19)?.as_deref().and_then(Mechanism::parse),
    })
}

impl UserStore for SqliteUserStore {
    fn create_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        self.with(|c| {
            match c.exec("INSERT INTO users (name, password_hash) VALUES (?1, ?2)", params![name, password_hash]) {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Err(StoreError::AlreadyExists(name.to_owned()))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.with(|c| Ok(c.one(&format!("{SELECT_USER} WHERE name = ?1"), [name], row_to_user).optional()?))
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
            let n = tx.exec("DELETE FROM users WHERE name = ?1", [name])?;
            for t in ["pending_codes", "code_sends", "backup_codes", "ticket_policies", "service_accounts"] {
                tx.exec(&format!("DELETE FROM {t} WHERE name = ?1"), [name])?;
            }
            tickets::delete_all(&tx, name)?;
            enrol_links::delete_all(&tx, name)?;
            tx.commit()?;
            Self::changed_or_missing(name, n)
        })
    }

    fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        self.immediate(|tx| {
            let n = tx.exec("UPDATE users SET password_hash = ?1 WHERE name = ?2", params![password_hash, name])?;
            tickets::delete_all(tx, name)?;
            Self::changed_or_missing(name, n)
        })
    }

    fn set_two_factor_required(&self, name: &str, on: bool) -> Result<(), StoreError> {
        self.update_user(name, "UPDATE users SET two_factor = ?1 WHERE name = ?2", &[&on, &name])
    }

    fn set_totp(&self, name: &str, e: &TotpEnrolment) -> Result<(), StoreError> {
        // The ledger restarts with the key: old codes die with the old key anyway, and so
        // do the tickets the old key's codes earned.
        self.immediate(|tx| {
            let n = tx.exec(
                "UPDATE users SET totp_secret = ?1, totp_algorithm = ?2, totp_digits = ?3, method = 'TOTP',
                 last_totp_step = NULL, totp_drift = 0, drift_candidate = NULL, drift_streak = 0
                 WHERE name = ?4",
                params![e.sealed_secret, e.algorithm, e.digits, name],
            )?;
            tickets::delete_all(tx, name)?;
            Self::changed_or_missing(name, n)
        })
    }

    fn accept_totp(&self, name: &str, step: i64, d: DriftState) -> Result<CodeUse, StoreError> {
        self.immediate(|tx| {
            let n = tx.exec(
                "UPDATE users SET last_totp_step = ?1, failed_second_factor = 0,
                 totp_drift = ?3, drift_candidate = ?4, drift_streak = ?5
                 WHERE name = ?2 AND (last_totp_step IS NULL OR last_totp_step < ?1)",
                params![step, name, d.drift, d.candidate, d.streak],
            )?;
            let used = if n == 1 {
                CodeUse::Accepted
            } else {
                let last: Option<i64> = tx
                    .one("SELECT last_totp_step FROM users WHERE name = ?1", [name], |r| r.get(0))
                    .optional()?
                    .flatten();
                // Only the step accepted last is a replay; an older unused step is a guess.
                if last == Some(step) {
                    CodeUse::Replayed
                } else {
                    CodeUse::Rejected
                }
            };
            Ok(used)
        })
    }

    fn reserve_attempt(&self, req: &AttemptRequest<'_>, limits: &AttemptLimits) -> Result<Reservation, StoreError> {
        self.immediate(|tx| attempts::reserve(tx, req, limits))
    }

    fn finish_attempt(
        &self,
        attempt: &Attempt,
        end: AttemptEnd,
        now: i64,
        limits: &AttemptLimits,
    ) -> Result<AttemptFinished, StoreError> {
        self.immediate(|tx| attempts::finish(tx, attempt, end, now, limits))
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
                c.one("SELECT value FROM settings WHERE key = 'two_factor'", [], |r| r.get(0)).optional()?;
            Ok(v.map(|v| v == "on"))
        })
    }

    fn set_two_factor_setting(&self, on: bool) -> Result<(), StoreError> {
        self.with(|c| {
            c.exec(
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

    fn set_first_factor(&self, name: &str, mechanism: Option<Mechanism>) -> Result<(), StoreError> {
        let value = mechanism.map(Mechanism::as_str);
        self.update_user(name, "UPDATE users SET first_factor = ?1 WHERE name = ?2", &[&value, &name])
    }

    fn issue_code(&self, name: &str, q: &CodeRequest<'_>) -> Result<IssueOutcome, StoreError> {
        self.with(|c| codes::issue_code(c, name, q))
    }

    fn cancel_code(&self, name: &str, code_hash: &[u8]) -> Result<(), StoreError> {
        self.with(|c| codes::cancel_code(c, name, code_hash))
    }

    fn use_code(&self, name: &str, code_hash: &[u8], now: i64) -> Result<CodeUse, StoreError> {
        self.immediate(|tx| codes::use_code(tx, name, code_hash, now))
    }

    fn pending_code(&self, name: &str, now: i64) -> Result<Option<PendingCode>, StoreError> {
        self.with(|c| codes::pending_code(c, name, now))
    }

    fn set_backup_codes(&self, name: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError> {
        self.with(|c| codes::set_backup_codes(c, name, hashes))
    }

    fn use_backup_code(
        &self,
        name: &str,
        code_hash: &[u8],
        now: i64,
        replay_since: i64,
    ) -> Result<CodeUse, StoreError> {
        self.immediate(|tx| codes::use_backup_code(tx, name, code_hash, now, replay_since))
    }

    fn backup_code_hashes(&self, name: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.with(|c| codes::backup_code_hashes(c, name))
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
            Ok(c.one("SELECT name, gateway FROM carriers WHERE name = ?1 COLLATE NOCASE", [name], |r| {
                Ok(Carrier { name: r.get(0)?, gateway: r.get(1)? })
            })
            .optional()?)
        })
    }

    fn put_carrier(&self, carrier: &Carrier, create: bool) -> Result<(), StoreError> {
        self.with(|c| {
            if create {
                match c.exec(
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
                let n =
                    c.exec("UPDATE carriers SET gateway = ?1 WHERE name = ?2", params![carrier.gateway, carrier.name])?;
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
            let n = c.exec("DELETE FROM carriers WHERE name = ?1", [name])?;
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
            let exists = tx.one("SELECT 1 FROM users WHERE name = ?1", [&u.name], |_| Ok(())).optional()?.is_some();
            if exists && !replace {
                return Err(StoreError::AlreadyExists(u.name.clone()));
            }
            for t in ["users", "pending_codes", "code_sends", "backup_codes", "service_accounts"] {
                tx.exec(&format!("DELETE FROM {t} WHERE name = ?1"), [&u.name])?;
            }
            // An imported user's password and key may differ from the replaced one's.
            tickets::delete_all(&tx, &u.name)?;
            let (secret, alg, digits) = match &u.totp {
                Some(t) => (Some(t.sealed_secret.clone()), Some(t.algorithm.clone()), Some(t.digits)),
                None => (None, None, None),
            };
            tx.exec(
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
                tx.exec("INSERT OR IGNORE INTO backup_codes (name, code_hash) VALUES (?1, ?2)", params![u.name, h])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn check_health(&self) -> Result<(), StoreError> {
        self.with(|c| Ok(c.one("SELECT 1", [], |_| Ok(()))?))
    }

    fn ticket_policy(&self, name: &str) -> Result<TicketPolicy, StoreError> {
        self.with(|c| tickets::policy(c, name))
    }

    fn set_ticket_policy(&self, name: &str, policy: TicketPolicy) -> Result<(), StoreError> {
        self.immediate(|tx| tickets::set_policy(tx, name, policy))
    }

    fn issue_ticket(&self, ticket: &NewTicket<'_>, max_per_user: u32) -> Result<u32, StoreError> {
        self.immediate(|tx| tickets::issue(tx, ticket, max_per_user))
    }

    fn ticket(&self, id_hash: &[u8]) -> Result<Option<TicketRecord>, StoreError> {
        self.with(|c| tickets::ticket(c, id_hash))
    }

    fn use_ticket(&self, id_hash: &[u8], user: &str, now: i64) -> Result<Option<TicketRecord>, StoreError> {
        self.with(|c| tickets::use_ticket(c, id_hash, user, now))
    }

    fn tickets(&self, name: &str) -> Result<Vec<TicketRecord>, StoreError> {
        self.with(|c| tickets::tickets(c, name))
    }

    fn revoke_ticket(&self, name: &str, id_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        self.with(|c| Ok(tickets::revoke(c, name, Some(id_hash), now)? > 0))
    }

    fn revoke_tickets(&self, name: &str, now: i64) -> Result<u32, StoreError> {
        self.with(|c| tickets::revoke(c, name, None, now))
    }

    fn issue_enrol_link(&self, link: &NewEnrolLink<'_>) -> Result<(), StoreError> {
        self.immediate(|tx| enrol_links::issue(tx, link))
    }

    fn enrol_link(&self, id_hash: &[u8]) -> Result<Option<EnrolLinkRecord>, StoreError> {
        self.with(|c| enrol_links::link(c, id_hash))
    }

    fn spend_enrol_link(&self, id_hash: &[u8], now: i64) -> Result<Option<EnrolLinkRecord>, StoreError> {
        self.with(|c| enrol_links::spend(c, id_hash, now))
    }

    fn enrol_links(&self, name: Option<&str>) -> Result<Vec<EnrolLinkRecord>, StoreError> {
        self.with(|c| enrol_links::links(c, name))
    }

    fn revoke_enrol_link(&self, id_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        self.with(|c| enrol_links::revoke(c, id_hash, now))
    }

    fn create_service_account(&self, account: &ServiceAccount, password_hash: &str) -> Result<(), StoreError> {
        self.with(|c| service_accounts::create(c, account, password_hash))
    }

    fn service_account(&self, name: &str) -> Result<Option<ServiceAccount>, StoreError> {
        self.with(|c| service_accounts::one(c, name))
    }

    fn service_accounts(&self) -> Result<Vec<ServiceAccount>, StoreError> {
        self.with(service_accounts::all)
    }

    fn update_service_account(&self, account: &ServiceAccount) -> Result<(), StoreError> {
        self.with(|c| service_accounts::update(c, account))
    }

    fn delegated_code_used(&self, name: &str, code_hash: &[u8], since: i64) -> Result<bool, StoreError> {
        self.with(|c| delegated::used_since(c, name, code_hash, since))
    }

    fn record_delegated_code(&self, name: &str, code_hash: &[u8], now: i64, since: i64) -> Result<CodeUse, StoreError> {
        self.immediate(|tx| delegated::record(tx, name, code_hash, now, since))
    }
}

#[cfg(test)]
mod tests;
