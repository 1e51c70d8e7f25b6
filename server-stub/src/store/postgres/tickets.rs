//! Two-factor tickets in PostgreSQL (migration `TICKETS`): what SQLite's tickets.rs does,
//! shared by every instance. A use is one conditional UPDATE ... RETURNING, which
//! PostgreSQL re-checks on the newest row version, so a ticket revoked by one instance
//! is refused by all from that commit on. Rows go with their user (`ON DELETE CASCADE`).

use postgres::{GenericClient, Row};

use super::pool::{backend, col};
use super::users::{count, stored};
use crate::store::{NewTicket, StoreError, TicketPolicy, TicketRecord};

const COLUMNS: &str = "id_hash, name, public_key, issued_at, expires_at, last_used_at, idle_secs, peer, revoked_at";

/// Usable at `$1`: not revoked, before both ends.
const USABLE: &str = "revoked_at IS NULL AND expires_at > $1 AND last_used_at + idle_secs > $1";

fn row_to_ticket(r: &Row) -> Result<TicketRecord, StoreError> {
    Ok(TicketRecord {
        id_hash: col(r, 0)?,
        user: col(r, 1)?,
        public_key: col(r, 2)?,
        issued_at: col(r, 3)?,
        expires_at: col(r, 4)?,
        last_used_at: col(r, 5)?,
        idle_secs: count(col(r, 6)?),
        peer: col(r, 7)?,
        revoked_at: col(r, 8)?,
    })
}

/// The SQL that deletes a user's tickets along with a change to the user's row, as one
/// statement: `update` is an `UPDATE users ... RETURNING name` whose parameters come
/// first; the statement returns one row per user changed.
pub(super) fn and_delete_tickets(update: &str) -> String {
    format!("WITH changed AS ({update}), gone AS (DELETE FROM tickets WHERE name IN (SELECT name FROM changed)) SELECT 1 FROM changed")
}

pub(super) fn policy(c: &mut impl GenericClient, name: &str) -> Result<TicketPolicy, StoreError> {
    let row = c.query_opt("SELECT policy FROM ticket_policies WHERE name = $1", &[&name]).map_err(backend)?;
    let stored = row.map(|r| col::<String>(&r, 0)).transpose()?;
    Ok(stored.as_deref().and_then(TicketPolicy::parse).unwrap_or(TicketPolicy::Default))
}

pub(super) fn set_policy(c: &mut impl GenericClient, name: &str, policy: TicketPolicy) -> Result<(), StoreError> {
    // One statement each: the user's existence and the change are decided together (a
    // data-modifying WITH runs whether or not the outer query reads it).
    let rows = if policy == TicketPolicy::Default {
        let sql = "WITH u AS (SELECT name FROM users WHERE name = $1),
                   d AS (DELETE FROM ticket_policies WHERE name IN (SELECT name FROM u))
                   SELECT 1 FROM u";
        c.query(sql, &[&name])
    } else {
        let sql = "WITH u AS (SELECT name FROM users WHERE name = $1),
                   i AS (INSERT INTO ticket_policies (name, policy) SELECT name, $2 FROM u
                         ON CONFLICT (name) DO UPDATE SET policy = excluded.policy)
                   SELECT 1 FROM u";
        c.query(sql, &[&name, &policy.as_str()])
    }
    .map_err(backend)?;
    if rows.is_empty() {
        return Err(StoreError::NoSuchUser(name.to_owned()));
    }
    Ok(())
}

pub(super) fn issue(client: &mut postgres::Client, t: &NewTicket<'_>, max_per_user: u32) -> Result<u32, StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    // The user's row lock orders concurrent issues for one user (two instances), so the
    // count kept is exact; it also makes a removed user's issue fail cleanly.
    if tx.query_opt("SELECT 1 FROM users WHERE name = $1 FOR UPDATE", &[&t.user]).map_err(backend)?.is_none() {
        return Err(StoreError::NoSuchUser(t.user.to_owned()));
    }
    let now = t.issued_at;
    tx.execute("DELETE FROM tickets WHERE name = $1 AND expires_at <= $2", &[&t.user, &now]).map_err(backend)?;
    tx.execute(
        "INSERT INTO tickets (id_hash, name, public_key, issued_at, expires_at, last_used_at, idle_secs, peer)
         VALUES ($1, $2, $3, $4, $5, $4, $6, $7)",
        &[&t.id_hash, &t.user, &t.public_key, &now, &t.expires_at, &stored(t.idle_secs), &t.peer],
    )
    .map_err(backend)?;
    let max = i64::from(max_per_user);
    let revoked = tx
        .execute(
            &format!(
                "UPDATE tickets SET revoked_at = $1 WHERE name = $2 AND {USABLE} AND seq NOT IN
                 (SELECT seq FROM tickets WHERE name = $2 AND {USABLE} ORDER BY seq DESC LIMIT $3)"
            ),
            &[&now, &t.user, &max],
        )
        .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(u32::try_from(revoked).unwrap_or(u32::MAX))
}

pub(super) fn ticket(c: &mut impl GenericClient, id_hash: &[u8]) -> Result<Option<TicketRecord>, StoreError> {
    let row =
        c.query_opt(&format!("SELECT {COLUMNS} FROM tickets WHERE id_hash = $1"), &[&id_hash]).map_err(backend)?;
    row.as_ref().map(row_to_ticket).transpose()
}

pub(super) fn use_ticket(
    c: &mut impl GenericClient,
    id_hash: &[u8],
    user: &str,
    now: i64,
) -> Result<Option<TicketRecord>, StoreError> {
    let row = c
        .query_opt(
            &format!("UPDATE tickets SET last_used_at = $1 WHERE id_hash = $2 AND name = $3 AND {USABLE} RETURNING {COLUMNS}"),
            &[&now, &id_hash, &user],
        )
        .map_err(backend)?;
    row.as_ref().map(row_to_ticket).transpose()
}

pub(super) fn tickets(c: &mut impl GenericClient, name: &str) -> Result<Vec<TicketRecord>, StoreError> {
    let rows =
        c.query(&format!("SELECT {COLUMNS} FROM tickets WHERE name = $1 ORDER BY seq"), &[&name]).map_err(backend)?;
    rows.iter().map(row_to_ticket).collect()
}

pub(super) fn revoke(
    c: &mut impl GenericClient,
    name: &str,
    id_hash: Option<&[u8]>,
    now: i64,
) -> Result<u32, StoreError> {
    let n = c
        .execute(
            "UPDATE tickets SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL
             AND ($3::bytea IS NULL OR id_hash = $3)",
            &[&now, &name, &id_hash],
        )
        .map_err(backend)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
