//! One-time codes in PostgreSQL: the TOTP replay ledger, the pending SMS/e-mail code of
//! each user (kept after use so the retry of an accepted code is recognised), the sends of
//! the last hour, and backup codes. What accepts a code is one conditional statement or a
//! transaction holding the code's row lock, so two instances never both accept one code.
//! The hot calls use `query_typed` (one round trip: no separate prepare).

use postgres::types::Type;
use postgres::GenericClient;
use subtle::ConstantTimeEq;

use super::pool::{backend, col};
use super::users::{count, stored};
use crate::store::{CodeRequest, CodeUse, DriftState, IssueOutcome, PendingCode, StoreError};

/// Records `step` iff it is later than every step accepted before: one conditional UPDATE,
/// which PostgreSQL re-checks on the newest row version after waiting for a concurrent
/// one, so of many submitting the same step exactly one is accepted.
pub(super) fn accept_totp(
    c: &mut impl GenericClient,
    name: &str,
    step: i64,
    d: DriftState,
) -> Result<CodeUse, StoreError> {
    let streak = stored(d.streak);
    let accepted = c
        .query_typed(
            "UPDATE users SET last_totp_step = $1, failed_second_factor = 0,
             totp_drift = $3, drift_candidate = $4, drift_streak = $5
             WHERE name = $2 AND (last_totp_step IS NULL OR last_totp_step < $1) RETURNING 1",
            &[
                (&step, Type::INT8),
                (&name, Type::TEXT),
                (&d.drift, Type::INT8),
                (&d.candidate, Type::INT8),
                (&streak, Type::INT4),
            ],
        )
        .map_err(backend)?;
    if !accepted.is_empty() {
        return Ok(CodeUse::Accepted);
    }
    // A new statement sees what the concurrent winner committed: its step is a replay.
    let rows =
        c.query_typed("SELECT last_totp_step FROM users WHERE name = $1", &[(&name, Type::TEXT)]).map_err(backend)?;
    let last: Option<i64> = match rows.first() {
        Some(r) => col(r, 0)?,
        None => None,
    };
    // Only the step accepted last is a replay; an older unused step is a guess.
    Ok(if last == Some(step) { CodeUse::Replayed } else { CodeUse::Rejected })
}

/// Under the user's row lock (so instances issuing at once issue one code): a still valid
/// code stays, the send limit holds, or a new code replaces the old one.
pub(super) fn issue_code(
    client: &mut postgres::Client,
    name: &str,
    q: &CodeRequest<'_>,
) -> Result<IssueOutcome, StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    if tx.query_opt("SELECT 1 FROM users WHERE name = $1 FOR NO KEY UPDATE", &[&name]).map_err(backend)?.is_none() {
        return Err(StoreError::NoSuchUser(name.to_owned()));
    }
    let pending = tx
        .query_opt(
            "SELECT method, destination, expires_at, tries_left FROM pending_codes WHERE name = $1 AND used_at IS NULL",
            &[&name],
        )
        .map_err(backend)?;
    if let Some(p) = pending {
        let (method, destination, expires_at, tries_left): (String, String, i64, i32) =
            (col(&p, 0)?, col(&p, 1)?, col(&p, 2)?, col(&p, 3)?);
        if method == q.method.as_str() && destination == q.destination && expires_at > q.now && tries_left > 0 {
            return Ok(IssueOutcome::StillPending { expires_at });
        }
    }
    let hour_ago = q.now - 3600;
    tx.execute("DELETE FROM code_sends WHERE name = $1 AND at <= $2", &[&name, &hour_ago]).map_err(backend)?;
    let row = tx.query_one("SELECT count(*), min(at) FROM code_sends WHERE name = $1", &[&name]).map_err(backend)?;
    let (sent, oldest): (i64, Option<i64>) = (col(&row, 0)?, col(&row, 1)?);
    if sent >= i64::from(q.max_sends_per_hour) {
        return Ok(IssueOutcome::Limited { retry_at: oldest.unwrap_or(q.now) + 3600 });
    }
    tx.execute(
        "INSERT INTO pending_codes (name, code_hash, method, destination, issued_at, expires_at, tries_left)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (name) DO UPDATE SET code_hash = excluded.code_hash, method = excluded.method,
         destination = excluded.destination, issued_at = excluded.issued_at,
         expires_at = excluded.expires_at, tries_left = excluded.tries_left, used_at = NULL",
        &[&name, &q.code_hash, &q.method.as_str(), &q.destination, &q.now, &q.expires_at, &stored(q.max_tries)],
    )
    .map_err(backend)?;
    tx.execute("INSERT INTO code_sends (name, at) VALUES ($1, $2)", &[&name, &q.now]).map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(IssueOutcome::Issued)
}

pub(super) fn cancel_code(client: &mut postgres::Client, name: &str, code_hash: &[u8]) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    let issued = tx
        .query_opt(
            "DELETE FROM pending_codes WHERE name = $1 AND code_hash = $2 RETURNING issued_at",
            &[&name, &code_hash],
        )
        .map_err(backend)?;
    if let Some(r) = issued {
        let at: i64 = col(&r, 0)?;
        tx.execute(
            "DELETE FROM code_sends WHERE id = (SELECT max(id) FROM code_sends WHERE name = $1 AND at = $2)",
            &[&name, &at],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

/// Checks a code under its row lock: the comparison (constant time) and the update it
/// decides commit together, so a try is spent once and a code is accepted once.
pub(super) fn use_code(
    client: &mut postgres::Client,
    name: &str,
    code_hash: &[u8],
    now: i64,
) -> Result<CodeUse, StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    let row = tx
        .query_typed(
            "SELECT code_hash, expires_at, tries_left, used_at FROM pending_codes WHERE name = $1 FOR UPDATE",
            &[(&name, Type::TEXT)],
        )
        .map_err(backend)?;
    let Some(row) = row.first() else {
        return Ok(CodeUse::Rejected);
    };
    let (stored_hash, expires_at, tries_left, used_at): (Vec<u8>, i64, i32, Option<i64>) =
        (col(row, 0)?, col(row, 1)?, col(row, 2)?, col(row, 3)?);
    let same: bool = stored_hash.as_slice().ct_eq(code_hash).into();
    let name_param: (&(dyn postgres::types::ToSql + Sync), Type) = (&name, Type::TEXT);
    let used = if expires_at <= now {
        // Expired: it can never be used (nor replayed) again.
        tx.execute_typed("DELETE FROM pending_codes WHERE name = $1", &[name_param]).map_err(backend)?;
        CodeUse::Rejected
    } else if used_at.is_some() {
        if same {
            CodeUse::Replayed
        } else {
            CodeUse::Rejected
        }
    } else if same && tries_left > 0 {
        tx.execute_typed("UPDATE pending_codes SET used_at = $2 WHERE name = $1", &[name_param, (&now, Type::INT8)])
            .map_err(backend)?;
        CodeUse::Accepted
    } else if tries_left <= 1 {
        // The last try: the code is void.
        tx.execute_typed("DELETE FROM pending_codes WHERE name = $1", &[name_param]).map_err(backend)?;
        CodeUse::Rejected
    } else {
        tx.execute_typed("UPDATE pending_codes SET tries_left = tries_left - 1 WHERE name = $1", &[name_param])
            .map_err(backend)?;
        CodeUse::Rejected
    };
    tx.commit().map_err(backend)?;
    Ok(used)
}

pub(super) fn pending_code(
    c: &mut impl GenericClient,
    name: &str,
    now: i64,
) -> Result<Option<PendingCode>, StoreError> {
    let row = c
        .query_opt(
            "SELECT method, destination, issued_at, expires_at, tries_left FROM pending_codes
             WHERE name = $1 AND expires_at > $2 AND tries_left > 0 AND used_at IS NULL",
            &[&name, &now],
        )
        .map_err(backend)?;
    row.map(|r| {
        Ok(PendingCode {
            method: col(&r, 0)?,
            destination: col(&r, 1)?,
            issued_at: col(&r, 2)?,
            expires_at: col(&r, 3)?,
            tries_left: count(col(&r, 4)?),
        })
    })
    .transpose()
}

pub(super) fn set_backup_codes(
    client: &mut postgres::Client,
    name: &str,
    hashes: &[Vec<u8>],
) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    if tx.query_opt("SELECT 1 FROM users WHERE name = $1 FOR NO KEY UPDATE", &[&name]).map_err(backend)?.is_none() {
        return Err(StoreError::NoSuchUser(name.to_owned()));
    }
    tx.execute("DELETE FROM backup_codes WHERE name = $1", &[&name]).map_err(backend)?;
    tx.execute(
        "INSERT INTO backup_codes (name, code_hash) SELECT $1, h FROM unnest($2::bytea[]) AS h ON CONFLICT DO NOTHING",
        &[&name, &hashes],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)
}

/// Marks the code used iff it is unused: one conditional UPDATE decides, as for TOTP.
pub(super) fn use_backup_code(
    c: &mut impl GenericClient,
    name: &str,
    code_hash: &[u8],
    now: i64,
    replay_since: i64,
) -> Result<CodeUse, StoreError> {
    let key: [(&(dyn postgres::types::ToSql + Sync), Type); 2] = [(&name, Type::TEXT), (&code_hash, Type::BYTEA)];
    let accepted = c
        .query_typed(
            "UPDATE backup_codes SET used_at = $3 WHERE name = $1 AND code_hash = $2 AND used_at IS NULL RETURNING 1",
            &[key[0].clone(), key[1].clone(), (&now, Type::INT8)],
        )
        .map_err(backend)?;
    if !accepted.is_empty() {
        return Ok(CodeUse::Accepted);
    }
    let row =
        c.query_typed("SELECT used_at FROM backup_codes WHERE name = $1 AND code_hash = $2", &key).map_err(backend)?;
    let used_at = match row.first() {
        Some(r) => Some(col::<Option<i64>>(r, 0)?),
        None => None,
    };
    Ok(match used_at {
        Some(Some(at)) if at > replay_since => CodeUse::Replayed,
        _ => CodeUse::Rejected,
    })
}

pub(super) fn backup_code_hashes(c: &mut impl GenericClient, name: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows = c
        .query("SELECT code_hash FROM backup_codes WHERE name = $1 AND used_at IS NULL ORDER BY code_hash", &[&name])
        .map_err(backend)?;
    rows.iter().map(|r| col(r, 0)).collect()
}
