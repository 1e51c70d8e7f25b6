//! The delegated second factor's used-code ledger in SQLite: the keyed hash of each code
//! the hook accepted, with when, so the same code sent again within the replay window is
//! refused without asking the hook (hooks need not keep their own ledger).

use super::cached::Cached;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::store::{CodeUse, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS delegated_codes (
    name TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (name, code_hash)
);
";

pub(super) fn used_since(c: &Connection, name: &str, code_hash: &[u8], since: i64) -> Result<bool, StoreError> {
    Ok(c.one(
        "SELECT 1 FROM delegated_codes WHERE name = ?1 AND code_hash = ?2 AND used_at > ?3",
        params![name, code_hash, since],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

/// One upsert decides: a row that is new, or older than `since`, is (re)written and the
/// use is fresh; a row used after `since` stays and the use is a replay.
pub(super) fn record(
    tx: &Transaction<'_>,
    name: &str,
    code_hash: &[u8],
    now: i64,
    since: i64,
) -> Result<CodeUse, StoreError> {
    tx.exec("DELETE FROM delegated_codes WHERE name = ?1 AND used_at <= ?2", params![name, since])?;
    let fresh = tx
        .one(
            "INSERT INTO delegated_codes (name, code_hash, used_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name, code_hash) DO UPDATE SET used_at = excluded.used_at
             WHERE delegated_codes.used_at <= ?4 RETURNING 1",
            params![name, code_hash, now, since],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    Ok(if fresh { CodeUse::Accepted } else { CodeUse::Replayed })
}
