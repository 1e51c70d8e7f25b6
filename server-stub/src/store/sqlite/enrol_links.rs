//! Enrolment links in SQLite: one table, `enrol_links`, keyed by the SHA-256 of the token.
//! Spending a link is one conditional UPDATE ... RETURNING, so of two confirmations racing
//! for one link exactly one wins, and a link revoked or expired a moment before is refused.

use super::cached::Cached;
use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{EnrolLinkRecord, NewEnrolLink, StoreError};

/// Created with the rest of the schema (`CREATE TABLE IF NOT EXISTS`), so older stores get
/// it when opened. `seq` orders links issued within one second.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS enrol_links (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id_hash BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    reset INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS enrol_links_by_name ON enrol_links (name, seq);
";

const COLUMNS: &str = "id_hash, name, issued_at, expires_at, reset, used_at, revoked_at";

fn row_to_link(r: &rusqlite::Row<'_>) -> rusqlite::Result<EnrolLinkRecord> {
    Ok(EnrolLinkRecord {
        id_hash: r.get(0)?,
        user: r.get(1)?,
        issued_at: r.get(2)?,
        expires_at: r.get(3)?,
        reset: r.get(4)?,
        used_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

pub(super) fn issue(c: &Connection, l: &NewEnrolLink<'_>) -> Result<(), StoreError> {
    if c.one("SELECT 1 FROM users WHERE name = ?1", [l.user], |_| Ok(())).optional()?.is_none() {
        return Err(StoreError::NoSuchUser(l.user.to_owned()));
    }
    // Links long past their end are forgotten as new ones come (a week keeps `list` useful).
    c.exec("DELETE FROM enrol_links WHERE expires_at <= ?1", [l.issued_at - 7 * 86400])?;
    c.exec(
        "INSERT INTO enrol_links (id_hash, name, issued_at, expires_at, reset) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![l.id_hash, l.user, l.issued_at, l.expires_at, l.reset],
    )?;
    Ok(())
}

pub(super) fn link(c: &Connection, id_hash: &[u8]) -> Result<Option<EnrolLinkRecord>, StoreError> {
    Ok(c.one(&format!("SELECT {COLUMNS} FROM enrol_links WHERE id_hash = ?1"), [id_hash], row_to_link).optional()?)
}

pub(super) fn spend(c: &Connection, id_hash: &[u8], now: i64) -> Result<Option<EnrolLinkRecord>, StoreError> {
    Ok(c.one(
        &format!(
            "UPDATE enrol_links SET used_at = ?2 WHERE id_hash = ?1
             AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2 RETURNING {COLUMNS}"
        ),
        params![id_hash, now],
        row_to_link,
    )
    .optional()?)
}

pub(super) fn links(c: &Connection, name: Option<&str>) -> Result<Vec<EnrolLinkRecord>, StoreError> {
    let mut stmt =
        c.prepare(&format!("SELECT {COLUMNS} FROM enrol_links WHERE (?1 IS NULL OR name = ?1) ORDER BY seq"))?;
    let rows = stmt.query_map([name], row_to_link)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn revoke(c: &Connection, id_hash: &[u8], now: i64) -> Result<bool, StoreError> {
    let n = c.exec(
        "UPDATE enrol_links SET revoked_at = ?2 WHERE id_hash = ?1 AND revoked_at IS NULL AND used_at IS NULL",
        params![id_hash, now],
    )?;
    Ok(n > 0)
}

/// A removed user's links go with it.
pub(super) fn delete_all(c: &Connection, name: &str) -> Result<(), StoreError> {
    c.exec("DELETE FROM enrol_links WHERE name = ?1", [name])?;
    Ok(())
}
