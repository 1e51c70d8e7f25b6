//! Login attempts in PostgreSQL: reservations in flight (the UNLOGGED `login_attempts`,
//! each expiring after `hold_secs`), failure counters and locks per user and factor, and
//! the failure window of each address (`address_failures`), shared by every instance.
//!
//! Locks, always in this order so no two transactions wait on each other in a cycle: the
//! user's row (`FOR NO KEY UPDATE`), then the address's lock, a transaction-scoped
//! advisory lock on the address's hash (an address with no failures has no row to lock,
//! and a row written for it would be a durable write per login). Logins of different
//! users from different addresses take no common lock. A success writes neither the
//! address nor (unless they were set) the user's counters.

use postgres::types::{ToSql, Type};
use postgres::Transaction;

use super::pool::{backend, col};
use super::users::{count, stored};
use crate::store::{
    Attempt, AttemptEnd, AttemptFinished, AttemptLimits, AttemptRequest, Factor, FailureOutcome, Reservation,
    StoreError,
};

/// The first key of the address locks (`tf_a`), so they cannot meet other advisory locks.
const ADDRESS_LOCK_CLASS: i32 = 0x7466_5f61;

/// The `users` columns that count and lock `factor`.
fn columns(factor: Factor) -> (&'static str, &'static str) {
    match factor {
        Factor::Password => ("failed_first_factor", "password_locked_until"),
        Factor::SecondFactor => ("failed_second_factor", "locked_until"),
    }
}

/// The user's count and lock of `factor`, with the row locked until the transaction ends;
/// None for a name the store does not have.
fn lock_user(tx: &mut Transaction<'_>, name: &str, factor: Factor) -> Result<Option<(u32, Option<i64>)>, StoreError> {
    let (count_col, lock_col) = columns(factor);
    let rows = tx
        .query_typed(
            &format!("SELECT {count_col}, {lock_col} FROM users WHERE name = $1 FOR NO KEY UPDATE"),
            &[(&name, Type::TEXT)],
        )
        .map_err(backend)?;
    rows.first().map(|r| Ok((count(col(r, 0)?), col(r, 1)?))).transpose()
}

fn lock_address(tx: &mut Transaction<'_>, address: &str) -> Result<(), StoreError> {
    tx.execute_typed(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[(&ADDRESS_LOCK_CLASS, Type::INT4), (&address, Type::TEXT)],
    )
    .map_err(backend)?;
    Ok(())
}

/// An address's failure window as stored.
struct AddressWindow {
    window_start: i64,
    failures: u32,
    blocked_until: Option<i64>,
}

impl AddressWindow {
    fn blocked_at(&self, now: i64) -> Option<i64> {
        self.blocked_until.filter(|t| *t > now)
    }

    /// Failures that still count at `now`: none once the window or a block has run out.
    fn live_failures(&self, now: i64, window_secs: i64) -> u32 {
        if self.blocked_until.is_some() || self.window_start.saturating_add(window_secs) <= now {
            0
        } else {
            self.failures
        }
    }
}

/// What `reserve` reads, in one statement (one snapshot, after the locks were taken).
struct Budgets {
    window: Option<AddressWindow>,
    address_in_flight: u32,
    user_in_flight: u32,
}

fn budgets(tx: &mut Transaction<'_>, req: &AttemptRequest<'_>) -> Result<Budgets, StoreError> {
    let row = tx
        .query_typed(
            "SELECT a.window_start, a.failures, a.blocked_until,
                (SELECT count(*) FROM login_attempts WHERE address = $1 AND expires_at > $4),
                (SELECT count(*) FROM login_attempts WHERE name = $2 AND factor = $3 AND expires_at > $4)
             FROM (SELECT 1) AS one LEFT JOIN address_failures a ON a.address = $1",
            &[
                (&req.address, Type::TEXT),
                (&req.user, Type::TEXT),
                (&req.factor.as_str(), Type::TEXT),
                (&req.now, Type::INT8),
            ],
        )
        .map_err(backend)?;
    let r = row.first().ok_or_else(|| StoreError::Backend("PostgreSQL: the budget query returned no row".into()))?;
    let window = match col::<Option<i64>>(r, 0)? {
        Some(window_start) => {
            Some(AddressWindow { window_start, failures: count(col(r, 1)?), blocked_until: col(r, 2)? })
        }
        None => None,
    };
    let in_flight = |i: usize| col::<i64>(r, i).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok(Budgets { window, address_in_flight: in_flight(3)?, user_in_flight: in_flight(4)? })
}

pub(super) fn reserve(
    client: &mut postgres::Client,
    req: &AttemptRequest<'_>,
    l: &AttemptLimits,
) -> Result<Reservation, StoreError> {
    let now = req.now;
    let mut tx = client.transaction().map_err(backend)?;
    let user = lock_user(&mut tx, req.user, req.factor)?;
    lock_address(&mut tx, req.address)?;
    // Expired reservations (of an instance that stopped mid-attempt) are not counted;
    // they are deleted when a failure is counted (see `forget_expired`).
    let b = budgets(&mut tx, req)?;
    if let Some(until) = b.window.as_ref().and_then(|w| w.blocked_at(now)) {
        return Ok(Reservation::AddressBlocked { until });
    }
    let failed = b.window.map_or(0, |w| w.live_failures(now, l.address_window_secs));
    if failed.saturating_add(b.address_in_flight) >= l.address_max_failures {
        return Ok(Reservation::Busy);
    }
    if let Some((failed, locked_until)) = user {
        if let Some(until) = locked_until.filter(|t| *t > now) {
            return Ok(Reservation::Locked { until });
        }
        // A lock that has run out starts a fresh count.
        let failed = if locked_until.is_some() { 0 } else { failed };
        if failed.saturating_add(b.user_in_flight) >= l.max_failures {
            return Ok(Reservation::Busy);
        }
    }
    let expires_at = now.saturating_add(l.hold_secs);
    let row = tx
        .query_typed(
            "INSERT INTO login_attempts (name, address, factor, expires_at) VALUES ($1, $2, $3, $4) RETURNING id",
            &[
                (&req.user, Type::TEXT),
                (&req.address, Type::TEXT),
                (&req.factor.as_str(), Type::TEXT),
                (&expires_at, Type::INT8),
            ],
        )
        .map_err(backend)?;
    let id: i64 = col(row.first().ok_or_else(|| StoreError::Backend("PostgreSQL: no attempt id".into()))?, 0)?;
    tx.commit().map_err(backend)?;
    Ok(Reservation::Reserved(Attempt {
        id,
        user: req.user.to_owned(),
        address: req.address.to_owned(),
        factor: req.factor,
        known_user: user.is_some(),
    }))
}

pub(super) fn finish(
    client: &mut postgres::Client,
    attempt: &Attempt,
    end: AttemptEnd,
    now: i64,
    l: &AttemptLimits,
) -> Result<AttemptFinished, StoreError> {
    let id: (&(dyn ToSql + Sync), Type) = (&attempt.id, Type::INT8);
    match end {
        AttemptEnd::Succeeded | AttemptEnd::Replayed | AttemptEnd::Abandoned => {
            client.execute_typed("DELETE FROM login_attempts WHERE id = $1", &[id]).map_err(backend)?;
            return Ok(AttemptFinished::default());
        }
        AttemptEnd::LoggedIn => {
            // One statement: the reservation ends and the counters start afresh together;
            // the user's row is written only if there is something to reset.
            client
                .execute_typed(
                    "WITH ended AS (DELETE FROM login_attempts WHERE id = $1)
                     UPDATE users SET failed_second_factor = 0, locked_until = NULL,
                         failed_first_factor = 0, password_locked_until = NULL
                     WHERE name = $2 AND (failed_second_factor <> 0 OR locked_until IS NOT NULL
                         OR failed_first_factor <> 0 OR password_locked_until IS NOT NULL)",
                    &[id, (&attempt.user, Type::TEXT)],
                )
                .map_err(backend)?;
            return Ok(AttemptFinished::default());
        }
        AttemptEnd::Failed => {}
    }
    let mut tx = client.transaction().map_err(backend)?;
    // Counted even if the reservation had expired meanwhile: a verified guess always costs.
    let user = if attempt.known_user { count_user_failure(&mut tx, attempt, now, l)? } else { None };
    lock_address(&mut tx, &attempt.address)?;
    tx.execute_typed("DELETE FROM login_attempts WHERE id = $1", &[id]).map_err(backend)?;
    let (address_failures, address_blocked_now) = count_address_failure(&mut tx, &attempt.address, now, l)?;
    forget_expired(&mut tx, now)?;
    tx.commit().map_err(backend)?;
    Ok(AttemptFinished { user, address_failures, address_blocked_now })
}

/// One failure of the user's factor, under the user's row lock; None if the user is gone.
fn count_user_failure(
    tx: &mut Transaction<'_>,
    attempt: &Attempt,
    now: i64,
    l: &AttemptLimits,
) -> Result<Option<FailureOutcome>, StoreError> {
    let Some((failed, locked_until)) = lock_user(tx, &attempt.user, attempt.factor)? else {
        return Ok(None);
    };
    if locked_until.is_some_and(|t| t > now) {
        return Ok(Some(FailureOutcome::AlreadyLocked));
    }
    let failed = if locked_until.is_some() { 1 } else { failed.saturating_add(1) };
    let (until, outcome) = if failed >= l.max_failures {
        let until = now.saturating_add(l.lockout_secs);
        (Some(until), FailureOutcome::LockedNow { until })
    } else {
        (None, FailureOutcome::Counted(failed))
    };
    let (count_col, lock_col) = columns(attempt.factor);
    tx.execute(
        &format!("UPDATE users SET {count_col} = $1, {lock_col} = $2 WHERE name = $3"),
        &[&stored(failed), &until, &attempt.user],
    )
    .map_err(backend)?;
    Ok(Some(outcome))
}

/// One failure from the address, under its lock: the failures in its window, and whether
/// this one blocked it.
fn count_address_failure(
    tx: &mut Transaction<'_>,
    address: &str,
    now: i64,
    l: &AttemptLimits,
) -> Result<(u32, bool), StoreError> {
    let row = tx
        .query_opt(
            "SELECT window_start, failures, blocked_until, forget_at FROM address_failures WHERE address = $1",
            &[&address],
        )
        .map_err(backend)?;
    // A row whose window and block have run out is as good as none.
    let window = match row {
        Some(r) if col::<i64>(&r, 3)? > now => {
            Some(AddressWindow { window_start: col(&r, 0)?, failures: count(col(&r, 1)?), blocked_until: col(&r, 2)? })
        }
        _ => None,
    };
    if let Some(w) = window.as_ref().filter(|w| w.blocked_at(now).is_some()) {
        return Ok((w.failures, false));
    }
    let (window_start, failures) = match window {
        Some(w) if w.live_failures(now, l.address_window_secs) > 0 => (w.window_start, w.failures.saturating_add(1)),
        _ => (now, 1),
    };
    let blocked_until = (failures >= l.address_max_failures).then(|| now.saturating_add(l.address_block_secs));
    let forget_at = blocked_until.unwrap_or_else(|| window_start.saturating_add(l.address_window_secs));
    tx.execute(
        "INSERT INTO address_failures (address, window_start, failures, blocked_until, forget_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (address) DO UPDATE SET window_start = excluded.window_start, failures = excluded.failures,
         blocked_until = excluded.blocked_until, forget_at = excluded.forget_at",
        &[&address, &window_start, &stored(failures), &blocked_until, &forget_at],
    )
    .map_err(backend)?;
    Ok((failures, blocked_until.is_some()))
}

/// Deletes a batch of run-out address windows and expired reservations, skipping rows
/// another transaction holds (so this housekeeping never waits, nor deadlocks, on other
/// logins). Done when a failure is counted: the tables grow only with failures and with
/// the reservations of instances that stopped mid-attempt.
fn forget_expired(tx: &mut Transaction<'_>, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM address_failures WHERE address IN (
             SELECT address FROM address_failures WHERE forget_at <= $1 LIMIT 100 FOR UPDATE SKIP LOCKED)",
        &[&now],
    )
    .map_err(backend)?;
    tx.execute(
        "DELETE FROM login_attempts WHERE id IN (
             SELECT id FROM login_attempts WHERE expires_at <= $1 LIMIT 100 FOR UPDATE SKIP LOCKED)",
        &[&now],
    )
    .map_err(backend)?;
    Ok(())
}
