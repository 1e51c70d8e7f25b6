//! Two-factor tickets in SQLite: `tickets` (one row per ticket, keyed by the SHA-256 of
//! its identifier) and `ticket_policies` (a user's own policy; no row: the server's
//! default). A use is one conditional UPDATE ... RETURNING, so a ticket revoked or
//! expired a moment before is never used.

use super::cached::Cached;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::store::{NewTicket, StoreError, TicketPolicy, TicketRecord};

/// Created with the rest of the schema (`CREATE TABLE IF NOT EXISTS`), so older stores get
/// them when opened. `seq` orders tickets issued within one second.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tickets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id_hash BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    public_key BLOB NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    idle_secs INTEGER NOT NULL,
    peer TEXT NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS tickets_by_name ON tickets (name, seq);
CREATE TABLE IF NOT EXISTS ticket_policies (name TEXT PRIMARY KEY NOT NULL, policy TEXT NOT NULL);
";

const COLUMNS: &str = "id_hash, name, public_key, issued_at, expires_at, last_used_at, idle_secs, peer, revoked_at";

/// Usable at `?now` (the parameter named so): not revoked, before both ends.
const USABLE: &str = "revoked_at IS NULL AND expires_at > :now AND last_used_at + idle_secs > :now";

fn row_to_ticket(r: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRecord> {
    Ok(TicketRecord {
        id_hash: r.get(0)?,
        user: r.get(1)?,
        public_key: r.get(2)?,
        issued_at: r.get(3)?,
        expires_at: r.get(4)?,
        last_used_at: r.get(5)?,
        idle_secs: r.get(6)?,
        peer: r.get(7)?,
        revoked_at: r.get(8)?,
    })
}

/// Every ticket of a user whose password or TOTP key changed or who is removed: a ticket
/// stands for a second factor proved under the old credentials.
pub(super) fn delete_all(tx: &Transaction<'_>, name: &str) -> Result<(), StoreError> {
    tx.exec("DELETE FROM tickets WHERE name = ?1", [name])?;
    Ok(())
}

pub(super) fn policy(c: &Connection, name: &str) -> Result<TicketPolicy, StoreError> {
    let stored: Option<String> =
        c.one("SELECT policy FROM ticket_policies WHERE name = ?1", [name], |r| r.get(0)).optional()?;
    Ok(stored.as_deref().and_then(TicketPolicy::parse).unwrap_or(TicketPolicy::Default))
}

pub(super) fn set_policy(tx: &Transaction<'_>, name: &str, policy: TicketPolicy) -> Result<(), StoreError> {
    if tx.one("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(())).optional()?.is_none() {
        return Err(StoreError::NoSuchUser(name.to_owned()));
    }
    if policy == TicketPolicy::Default {
        tx.exec("DELETE FROM ticket_policies WHERE name = ?1", [name])?;
    } else {
        tx.exec(
            "INSERT INTO ticket_policies (name, policy) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET policy = excluded.policy",
            params![name, policy.as_str()],
        )?;
    }
    Ok(())
}

pub(super) fn issue(tx: &Transaction<'_>, t: &NewTicket<'_>, max_per_user: u32) -> Result<u32, StoreError> {
    let now = t.issued_at;
    tx.exec("DELETE FROM tickets WHERE name = ?1 AND expires_at <= ?2", params![t.user, now])?;
    tx.exec(
        "INSERT INTO tickets (id_hash, name, public_key, issued_at, expires_at, last_used_at, idle_secs, peer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7)",
        params![t.id_hash, t.user, t.public_key, now, t.expires_at, t.idle_secs, t.peer],
    )?;
    let revoked = tx.exec(
        &format!(
            "UPDATE tickets SET revoked_at = :now WHERE name = :name AND {USABLE} AND seq NOT IN
             (SELECT seq FROM tickets WHERE name = :name AND {USABLE} ORDER BY seq DESC LIMIT :max)"
        ),
        rusqlite::named_params! { ":now": now, ":name": t.user, ":max": max_per_user },
    )?;
    Ok(u32::try_from(revoked).unwrap_or(u32::MAX))
}

pub(super) fn ticket(c: &Connection, id_hash: &[u8]) -> Result<Option<TicketRecord>, StoreError> {
    Ok(c.one(&format!("SELECT {COLUMNS} FROM tickets WHERE id_hash = ?1"), [id_hash], row_to_ticket).optional()?)
}

pub(super) fn use_ticket(
    c: &Connection,
    id_hash: &[u8],
    user: &str,
    now: i64,
) -> Result<Option<TicketRecord>, StoreError> {
    Ok(c.one(
        &format!(
            "UPDATE tickets SET last_used_at = :now WHERE id_hash = :id AND name = :name AND {USABLE}
             RETURNING {COLUMNS}"
        ),
        rusqlite::named_params! { ":now": now, ":id": id_hash, ":name": user },
        row_to_ticket,
    )
    .optional()?)
}

pub(super) fn tickets(c: &Connection, name: &str) -> Result<Vec<TicketRecord>, StoreError> {
    let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM tickets WHERE name = ?1 ORDER BY seq"))?;
    let rows = stmt.query_map([name], row_to_ticket)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn revoke(c: &Connection, name: &str, id_hash: Option<&[u8]>, now: i64) -> Result<u32, StoreError> {
    let n = c.exec(
        "UPDATE tickets SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL AND (?3 IS NULL OR id_hash = ?3)",
        params![now, name, id_hash],
    )?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
