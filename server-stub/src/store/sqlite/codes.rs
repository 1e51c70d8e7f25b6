//! One-time codes in SQLite: the pending SMS/e-mail code of each user (`pending_codes`,
//! kept after use so the retry of an accepted code is recognised), the sends of the last
//! hour (`code_sends`) and backup codes (`backup_codes`). Each check and the update it
//! decides run in one transaction.

use super::cached::Cached;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use subtle::ConstantTimeEq;

use crate::store::{CodeRequest, CodeUse, IssueOutcome, PendingCode, StoreError};

pub(super) fn issue_code(c: &mut Connection, name: &str, q: &CodeRequest<'_>) -> Result<IssueOutcome, StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let pending: Option<(String, String, i64, u32)> = tx
        .one(
            "SELECT method, destination, expires_at, tries_left FROM pending_codes
             WHERE name = ?1 AND used_at IS NULL",
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
    tx.exec("DELETE FROM code_sends WHERE name = ?1 AND at <= ?2", params![name, hour_ago])?;
    let (sent, oldest): (u32, Option<i64>) =
        tx.one("SELECT COUNT(*), MIN(at) FROM code_sends WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if sent >= q.max_sends_per_hour {
        return Ok(IssueOutcome::Limited { retry_at: oldest.unwrap_or(q.now) + 3600 });
    }
    tx.exec(
        "INSERT INTO pending_codes (name, code_hash, method, destination, issued_at, expires_at, tries_left)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(name) DO UPDATE SET code_hash = excluded.code_hash, method = excluded.method,
         destination = excluded.destination, issued_at = excluded.issued_at,
         expires_at = excluded.expires_at, tries_left = excluded.tries_left, used_at = NULL",
        params![name, q.code_hash, q.method.as_str(), q.destination, q.now, q.expires_at, q.max_tries],
    )?;
    tx.exec("INSERT INTO code_sends (name, at) VALUES (?1, ?2)", params![name, q.now])?;
    tx.commit()?;
    Ok(IssueOutcome::Issued)
}

pub(super) fn cancel_code(c: &mut Connection, name: &str, code_hash: &[u8]) -> Result<(), StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let issued_at: Option<i64> = tx
        .one(
            "DELETE FROM pending_codes WHERE name = ?1 AND code_hash = ?2 RETURNING issued_at",
            params![name, code_hash],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(at) = issued_at {
        tx.exec(
            "DELETE FROM code_sends WHERE rowid = (SELECT MAX(rowid) FROM code_sends WHERE name = ?1 AND at = ?2)",
            params![name, at],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn use_code(tx: &Transaction<'_>, name: &str, code_hash: &[u8], now: i64) -> Result<CodeUse, StoreError> {
    let row: Option<(Vec<u8>, i64, u32, Option<i64>)> = tx
        .one("SELECT code_hash, expires_at, tries_left, used_at FROM pending_codes WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((stored, expires_at, tries_left, used_at)) = row else {
        return Ok(CodeUse::Rejected);
    };
    let same: bool = stored.as_slice().ct_eq(code_hash).into();
    let used = if expires_at <= now {
        // Expired: it can never be used (nor replayed) again.
        tx.exec("DELETE FROM pending_codes WHERE name = ?1", [name])?;
        CodeUse::Rejected
    } else if used_at.is_some() {
        if same {
            CodeUse::Replayed
        } else {
            CodeUse::Rejected
        }
    } else if same && tries_left > 0 {
        tx.exec("UPDATE pending_codes SET used_at = ?2 WHERE name = ?1", params![name, now])?;
        CodeUse::Accepted
    } else {
        // A wrong submission spends one try, in the same step as the check, so
        // concurrent guesses cannot share a try; the last one voids the code.
        tx.exec("UPDATE pending_codes SET tries_left = tries_left - 1 WHERE name = ?1 AND tries_left > 0", [name])?;
        tx.exec("DELETE FROM pending_codes WHERE name = ?1 AND tries_left <= 0", [name])?;
        CodeUse::Rejected
    };
    Ok(used)
}

pub(super) fn pending_code(c: &mut Connection, name: &str, now: i64) -> Result<Option<PendingCode>, StoreError> {
    Ok(c.one(
        "SELECT method, destination, issued_at, expires_at, tries_left FROM pending_codes
         WHERE name = ?1 AND expires_at > ?2 AND tries_left > 0 AND used_at IS NULL",
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
}

pub(super) fn set_backup_codes(c: &mut Connection, name: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists: bool = tx.one("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(())).optional()?.is_some();
    if !exists {
        return Err(StoreError::NoSuchUser(name.to_owned()));
    }
    tx.exec("DELETE FROM backup_codes WHERE name = ?1", [name])?;
    for h in hashes {
        tx.exec("INSERT OR IGNORE INTO backup_codes (name, code_hash) VALUES (?1, ?2)", params![name, h])?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn use_backup_code(
    tx: &Transaction<'_>,
    name: &str,
    code_hash: &[u8],
    now: i64,
    replay_since: i64,
) -> Result<CodeUse, StoreError> {
    let used_at: Option<Option<i64>> = tx
        .one("SELECT used_at FROM backup_codes WHERE name = ?1 AND code_hash = ?2", params![name, code_hash], |r| {
            r.get(0)
        })
        .optional()?;
    let used = match used_at {
        None => CodeUse::Rejected,
        Some(None) => {
            tx.exec(
                "UPDATE backup_codes SET used_at = ?3 WHERE name = ?1 AND code_hash = ?2",
                params![name, code_hash, now],
            )?;
            CodeUse::Accepted
        }
        Some(Some(at)) if at > replay_since => CodeUse::Replayed,
        Some(Some(_)) => CodeUse::Rejected,
    };
    Ok(used)
}

pub(super) fn backup_code_hashes(c: &mut Connection, name: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt =
        c.prepare("SELECT code_hash FROM backup_codes WHERE name = ?1 AND used_at IS NULL ORDER BY code_hash")?;
    let rows = stmt.query_map([name], |r| r.get::<_, Vec<u8>>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
