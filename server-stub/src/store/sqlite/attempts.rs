//! Login attempts in SQLite: reservations in flight (`login_attempts`), per-user failure
//! counters (columns of `users`) and per-address failure windows (`address_failures`).
//! Each function runs inside the caller's IMMEDIATE transaction, which holds SQLite's
//! write lock, so a check and the update it decides are one step for every process that
//! shares the file.

use super::cached::Cached;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::store::{
    Attempt, AttemptEnd, AttemptFinished, AttemptLimits, AttemptRequest, Factor, FailureOutcome, Reservation,
    StoreError,
};

/// The `users` columns that count and lock `factor`.
fn columns(factor: Factor) -> (&'static str, &'static str) {
    match factor {
        Factor::Password => ("failed_first_factor", "password_locked_until"),
        Factor::SecondFactor => ("failed_second_factor", "locked_until"),
    }
}

/// An address's failure window as stored: failures in the window, and the block.
struct AddressWindow {
    window_start: i64,
    failures: u32,
    blocked_until: Option<i64>,
}

impl AddressWindow {
    fn load(tx: &Transaction<'_>, address: &str) -> Result<Option<AddressWindow>, StoreError> {
        Ok(tx
            .one(
                "SELECT window_start, failures, blocked_until FROM address_failures WHERE address = ?1",
                [address],
                |r| Ok(AddressWindow { window_start: r.get(0)?, failures: r.get(1)?, blocked_until: r.get(2)? }),
            )
            .optional()?)
    }

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

fn count_in_flight(tx: &Transaction<'_>, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<u32, StoreError> {
    Ok(tx.one(sql, p, |r| r.get(0))?)
}

pub(super) fn reserve(
    tx: &Transaction<'_>,
    req: &AttemptRequest<'_>,
    l: &AttemptLimits,
) -> Result<Reservation, StoreError> {
    let now = req.now;
    // Reservations of a server that stopped mid-attempt give their place back.
    tx.exec("DELETE FROM login_attempts WHERE expires_at <= ?1", [now])?;

    let window = AddressWindow::load(tx, req.address)?;
    if let Some(until) = window.as_ref().and_then(|w| w.blocked_at(now)) {
        return Ok(Reservation::AddressBlocked { until });
    }
    let failed = window.map_or(0, |w| w.live_failures(now, l.address_window_secs));
    let in_flight = count_in_flight(tx, "SELECT COUNT(*) FROM login_attempts WHERE address = ?1", &[&req.address])?;
    if failed.saturating_add(in_flight) >= l.address_max_failures {
        return Ok(Reservation::Busy);
    }

    let (count_col, lock_col) = columns(req.factor);
    let row: Option<(u32, Option<i64>)> = tx
        .one(&format!("SELECT {count_col}, {lock_col} FROM users WHERE name = ?1"), [req.user], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let known_user = row.is_some();
    if let Some((failed, locked_until)) = row {
        if let Some(until) = locked_until.filter(|t| *t > now) {
            return Ok(Reservation::Locked { until });
        }
        // A lock that has run out starts a fresh count.
        let failed = if locked_until.is_some() { 0 } else { failed };
        let in_flight = count_in_flight(
            tx,
            "SELECT COUNT(*) FROM login_attempts WHERE name = ?1 AND factor = ?2",
            &[&req.user, &req.factor.as_str()],
        )?;
        if failed.saturating_add(in_flight) >= l.max_failures {
            return Ok(Reservation::Busy);
        }
    }

    tx.exec(
        "INSERT INTO login_attempts (name, address, factor, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![req.user, req.address, req.factor.as_str(), now.saturating_add(l.hold_secs)],
    )?;
    Ok(Reservation::Reserved(Attempt {
        id: tx.last_insert_rowid(),
        user: req.user.to_owned(),
        address: req.address.to_owned(),
        factor: req.factor,
        known_user,
    }))
}

pub(super) fn finish(
    tx: &Transaction<'_>,
    attempt: &Attempt,
    end: AttemptEnd,
    now: i64,
    l: &AttemptLimits,
) -> Result<AttemptFinished, StoreError> {
    tx.exec("DELETE FROM login_attempts WHERE id = ?1", [attempt.id])?;
    match end {
        AttemptEnd::Failed => {}
        AttemptEnd::LoggedIn => {
            tx.exec(
                "UPDATE users SET failed_second_factor = 0, locked_until = NULL,
                 failed_first_factor = 0, password_locked_until = NULL WHERE name = ?1",
                [&attempt.user],
            )?;
            return Ok(AttemptFinished::default());
        }
        AttemptEnd::Succeeded | AttemptEnd::Replayed | AttemptEnd::Abandoned => return Ok(AttemptFinished::default()),
    }
    // Counted even if the reservation had expired meanwhile: a verified guess always costs.
    let user = if attempt.known_user { count_user_failure(tx, &attempt.user, attempt.factor, now, l)? } else { None };
    let (address_failures, address_blocked_now) = count_address_failure(tx, &attempt.address, now, l)?;
    Ok(AttemptFinished { user, address_failures, address_blocked_now })
}

/// One failure of the user's factor; None if the user is gone.
fn count_user_failure(
    tx: &Transaction<'_>,
    name: &str,
    factor: Factor,
    now: i64,
    l: &AttemptLimits,
) -> Result<Option<FailureOutcome>, StoreError> {
    let (count_col, lock_col) = columns(factor);
    let row: Option<(u32, Option<i64>)> = tx
        .one(&format!("SELECT {count_col}, {lock_col} FROM users WHERE name = ?1"), [name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((failed, locked_until)) = row else {
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
    tx.exec(
        &format!("UPDATE users SET {count_col} = ?1, {lock_col} = ?2 WHERE name = ?3"),
        params![failed, until, name],
    )?;
    Ok(Some(outcome))
}

/// One failure from the address: the failures in its window, and whether this one blocked it.
fn count_address_failure(
    tx: &Transaction<'_>,
    address: &str,
    now: i64,
    l: &AttemptLimits,
) -> Result<(u32, bool), StoreError> {
    // Addresses whose window and block have run out are forgotten, so the table holds only
    // the addresses that failed recently.
    tx.exec("DELETE FROM address_failures WHERE forget_at <= ?1", [now])?;
    let window = AddressWindow::load(tx, address)?;
    if let Some(w) = window.as_ref().filter(|w| w.blocked_at(now).is_some()) {
        return Ok((w.failures, false));
    }
    let (window_start, failures) = match window {
        Some(w) if w.live_failures(now, l.address_window_secs) > 0 => (w.window_start, w.failures.saturating_add(1)),
        _ => (now, 1),
    };
    let blocked_until = (failures >= l.address_max_failures).then(|| now.saturating_add(l.address_block_secs));
    let forget_at = blocked_until.unwrap_or_else(|| window_start.saturating_add(l.address_window_secs));
    tx.exec(
        "INSERT INTO address_failures (address, window_start, failures, blocked_until, forget_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(address) DO UPDATE SET window_start = excluded.window_start, failures = excluded.failures,
         blocked_until = excluded.blocked_until, forget_at = excluded.forget_at",
        params![address, window_start, failures, blocked_until, forget_at],
    )?;
    Ok((failures, blocked_until.is_some()))
}
