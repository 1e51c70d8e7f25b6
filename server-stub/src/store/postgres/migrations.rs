//! The schema, as numbered migrations. `schema_version` holds one row per migration
//! applied; they are applied in one transaction under a transaction-scoped advisory
//! lock, so instances starting together apply each exactly once (the others wait, then
//! find nothing to do), and a failed migration leaves nothing behind. A store whose
//! version is newer than this binary knows is refused: an older server must not write
//! rows a newer schema gives another meaning.

use postgres::GenericClient;

use super::pool::{backend, col};
use crate::store::{StoreError, DEFAULT_CARRIERS};

/// The advisory lock key migrations are applied under (`tf_store` in ASCII).
const MIGRATION_LOCK: i64 = 0x7466_5f73_746f_7265;

/// Migration `n` is `MIGRATIONS[n - 1]`. Never edit one that has shipped: add the next.
const MIGRATIONS: &[&str] =
    &[V1, TICKETS, V_SERVICE_ACCOUNTS, ENROL_LINKS, super::delegated::V_DELEGATED_CODES, FIRST_FACTOR];

/// The user's own first-factor mechanism (`local`, `ldap`; docs/ldap.md); NULL: the
/// server's `auth.first_factor` list.
const FIRST_FACTOR: &str = "ALTER TABLE users ADD COLUMN first_factor text;";

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// v1, the whole schema. Times are Unix seconds (bigint), as the store interface has
/// them. `login_attempts` is UNLOGGED: reservations in flight are written on every login
/// attempt, need no durability (a crash ends the attempts they stand for) and expire by
/// themselves, so they skip the WAL; PostgreSQL empties the table after a crash.
const V1: &str = "
CREATE TABLE users (
    name text PRIMARY KEY,
    password_hash text NOT NULL,
    two_factor boolean NOT NULL DEFAULT true,
    method text NOT NULL DEFAULT 'TOTP',
    totp_secret bytea,
    totp_algorithm text,
    totp_digits integer,
    last_totp_step bigint,
    failed_second_factor integer NOT NULL DEFAULT 0,
    locked_until bigint,
    failed_first_factor integer NOT NULL DEFAULT 0,
    password_locked_until bigint,
    phone text,
    carrier text,
    email text,
    totp_drift bigint NOT NULL DEFAULT 0,
    drift_candidate bigint,
    drift_streak integer NOT NULL DEFAULT 0
);
CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE pending_codes (
    name text PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    method text NOT NULL,
    destination text NOT NULL,
    issued_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    tries_left integer NOT NULL,
    used_at bigint
);
CREATE TABLE code_sends (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    at bigint NOT NULL
);
CREATE INDEX code_sends_by_name ON code_sends (name, at);
CREATE TABLE backup_codes (
    name text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at bigint,
    PRIMARY KEY (name, code_hash)
);
CREATE TABLE carriers (name text PRIMARY KEY, gateway text NOT NULL);
CREATE UNLOGGED TABLE login_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    address text NOT NULL,
    factor text NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX login_attempts_by_name ON login_attempts (name, factor);
CREATE INDEX login_attempts_by_address ON login_attempts (address);
CREATE INDEX login_attempts_by_expiry ON login_attempts (expires_at);
CREATE TABLE address_failures (
    address text PRIMARY KEY,
    window_start bigint NOT NULL,
    failures integer NOT NULL,
    blocked_until bigint,
    forget_at bigint NOT NULL
);
CREATE INDEX address_failures_by_expiry ON address_failures (forget_at);
";

/// Two-factor tickets (docs/tickets.md): one row per ticket, keyed by the SHA-256 of its
/// identifier, and each user's own policy. Both go with their user (`ON DELETE CASCADE`:
/// `user remove`, an import that replaces the user). `seq` orders tickets issued within
/// one second.
const TICKETS: &str = "
CREATE TABLE tickets (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id_hash bytea NOT NULL UNIQUE,
    name text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    public_key bytea NOT NULL,
    issued_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    last_used_at bigint NOT NULL,
    idle_secs integer NOT NULL,
    peer text NOT NULL,
    revoked_at bigint
);
CREATE INDEX tickets_by_name ON tickets (name, seq);
CREATE TABLE ticket_policies (
    name text PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    policy text NOT NULL
);
";

/// Service accounts (docs/service-accounts.md): one row beside the account's user row,
/// gone with it. `credential` is the Ed25519 public key or the pinned certificate's
/// SHA-256, 32 bytes either way; `networks` the comma-separated CIDRs, never empty.
const V_SERVICE_ACCOUNTS: &str = "
CREATE TABLE service_accounts (
    name text PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('key', 'certificate')),
    credential bytea NOT NULL CHECK (length(credential) = 32),
    networks text NOT NULL CHECK (networks <> ''),
    backend text NOT NULL CHECK (backend IN ('any', 'sqlite', 'postgres')),
    sql_role text,
    created_at bigint NOT NULL
);
";

/// The schema version the store has (0: none yet).
pub fn current_version(c: &mut impl GenericClient) -> Result<i32, StoreError> {
    let exists: bool = col(&c.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).map_err(backend)?, 0)?;
    if !exists {
        return Ok(0);
    }
    let row = c.query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[]).map_err(backend)?;
    col(&row, 0)
}

/// Applies the migrations the store lacks; returns the versions before and after.
/// Refuses a store newer than [`SCHEMA_VERSION`], naming `url`.
pub fn migrate(client: &mut postgres::Client, url: &str) -> Result<(i32, i32), StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    // An instance starting while another migrates waits for it (a migration may take
    // longer than the per-statement bound of ordinary calls), but not forever.
    tx.batch_execute("SET LOCAL statement_timeout = '10min'; SET LOCAL lock_timeout = '10min'").map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(backend)?;
    let before = current_version(&mut tx)?;
    if before == 0 {
        // Created only when missing, so a role without CREATE runs an up-to-date store.
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .map_err(backend)?;
    }
    if before > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the user store at {url} has schema version {before}, newer than this twofactor-server knows \
             ({SCHEMA_VERSION}); run a twofactor-server at least as new as the one that migrated it"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(before as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql)
            .map_err(|e| StoreError::Backend(format!("migration {version} of {url}: {}", backend(e))))?;
        if version == 1 {
            // The carrier list is seeded once; after that it is the admin's to edit.
            for (name, gateway) in DEFAULT_CARRIERS {
                tx.execute("INSERT INTO carriers (name, gateway) VALUES ($1, $2)", &[name, gateway])
                    .map_err(backend)?;
            }
        }
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&version]).map_err(backend)?;
    }
    tx.commit().map_err(backend)?;
    Ok((before, SCHEMA_VERSION.max(before)))
}

/// One-time enrolment links (docs/enrolment-links.md): keyed by the SHA-256 of the token.
const ENROL_LINKS: &str = "
CREATE TABLE enrol_links (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id_hash bytea NOT NULL UNIQUE,
    name text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    issued_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    reset boolean NOT NULL,
    used_at bigint,
    revoked_at bigint
);
CREATE INDEX enrol_links_by_name ON enrol_links (name, seq);
";
