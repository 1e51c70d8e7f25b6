//! What every first-factor login shares, whatever proves it (a password, a service
//! account's key or certificate): the attempt reserved under the user's and the address's
//! budgets before anything is verified, the refusals of a blocked address or a locked
//! account, what a counted failure leaves in the audit, and the new session's ids.

use std::sync::Arc;

use rand::RngCore;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::{audit_address_block, blocking, delay, BusyWait, Phase, BUSY, LOCKED, THROTTLED};
use crate::connection::Conn;
use crate::server::{SessionEntry, State};
use crate::store::{Attempt, AttemptFinished, Factor, FailureOutcome, Reservation, StoreError};

/// Reserves a first-factor attempt for `user` from this peer (waiting while attempts in
/// flight hold the budget, until `deadline`) and loads what verifying needs in the same
/// blocking call. A refusal has been audited under `event` and the connection failed:
/// the phase to go on with comes back as the error.
pub(super) async fn reserve<S, T>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    user: &str,
    event: &'static str,
    deadline: Instant,
    load: fn(&State, &str) -> Result<T, StoreError>,
) -> Result<(Attempt, T), Phase>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Send + 'static,
{
    let now = state.auth.now();
    let peer = conn.peer.clone();
    let mut wait = BusyWait::until(deadline);
    let (reservation, loaded) = loop {
        let st = state.clone();
        let (name, ip) = (user.to_owned(), conn.ip);
        let reserved = blocking(move || {
            let reservation = st.auth.reserve(Factor::Password, &name, ip)?;
            let loaded = match reservation {
                Reservation::Reserved(_) => Some(load(&st, &name)?),
                _ => None,
            };
            Ok((reservation, loaded))
        })
        .await;
        match reserved {
            None => return Err(conn.store_unavailable().await),
            Some((Reservation::Busy, _)) if wait.again().await => {}
            Some(done) => break done,
        }
    };
    match (reservation, loaded) {
        (Reservation::Reserved(attempt), Some(loaded)) => Ok((attempt, loaded)),
        (Reservation::Reserved(_), None) => Err(conn.store_unavailable().await),
        (Reservation::AddressBlocked { .. }, _) => {
            log::info!("{peer}: {event} as `{user}` refused: address throttled");
            let why = Some("too many failed logins from this address");
            state.audit.record_why(now, user, &peer, event, "throttled", None, why);
            Err(conn.fail(b"28000", 1009, THROTTLED).await)
        }
        // A locked first factor refuses every attempt, so guessing stops while it lasts.
        (Reservation::Locked { .. }, _) => {
            let why = Some("password locked after too many wrong passwords");
            state.audit.record_why(now, user, &peer, event, "locked", None, why);
            Err(conn.fail(b"28000", 1003, LOCKED).await)
        }
        (Reservation::Busy, _) => {
            log::info!("{peer}: {event} as `{user}` refused: the failure budget is held by attempts in flight");
            let why = Some("the remaining failure budget is held by attempts in flight");
            state.audit.record_why(now, user, &peer, event, "busy", None, why);
            Err(conn.fail(b"28000", 1021, BUSY).await)
        }
    }
}

/// After a counted failure: audits the lock or the address block it caused, then waits
/// the backoff of the address's failures (the same for known and unknown users).
pub(super) async fn after_failure(state: &State, counted: &AttemptFinished, user: &str, peer: &str) {
    let now = state.auth.now();
    if let Some(FailureOutcome::LockedNow { .. }) = counted.user {
        log::warn!("{peer}: user `{user}`: password locked after too many wrong passwords");
        let why = Some("too many wrong passwords");
        state.audit.record_why(now, user, peer, "lockout", "locked", Some("password"), why);
    }
    audit_address_block(state, counted, user, peer, now);
    delay(state.auth.backoff(counted.address_failures)).await;
}

/// A new session's id (never 0, unused here) and cancel key, registered for Cancel.
pub(super) fn register_session(state: &State) -> (u64, [u8; 16]) {
    let mut session_id = 0u64;
    while session_id == 0 || state.sessions().contains_key(&session_id) {
        session_id = rand::rngs::OsRng.next_u64();
    }
    let mut cancel_key = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut cancel_key);
    state.sessions().insert(session_id, SessionEntry { cancel_key, interrupt: None });
    (session_id, cancel_key)
}
