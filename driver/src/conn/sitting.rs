//! Single-flight logins: one code per sitting, not per connection (docs/pooling.md).
//!
//! Within one process, the connects for the same (host, port, user) that overlap in
//! time form a *flight*: the first is its leader and logs in as usual (a stored ticket,
//! or Login and the code from its sources); the others are followers and wait, each
//! bounded by its own login timeout, until the leader knows the result. Then:
//!
//! - verified (by a code or a ticket): the followers log in with the ticket the leader
//!   left in the Memory store; with no ticket (tickets off) they fail with 28000 (native
//!   1020) without contacting the server: the leader's code is spent, and sending it
//!   again would count as a failed attempt and could lock the user;
//! - failed (wrong code, helper error, timeout, a dead link): every follower fails at
//!   once with the leader's error, so one bad code is one prompt and one failure, not
//!   one per connection;
//! - no second factor needed, or none supplied (the factor left pending): the followers
//!   log in on their own; the pending case re-forms a flight for the next one.
//!
//! A leader that goes away without a result (its thread panicked, its guard dropped on
//! an early return) wakes its followers with `Abandoned`, and they form a new flight.
//! The flight is joined before the TCP connection is opened, so a follower holds no
//! server connection while it waits (the server's hello timeout cannot strike it), and
//! the ticket attempt itself is in the flight too: a revoked ticket is refused (and
//! counted) once, not once per parallel connection.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use crate::diag::{OdbcError, OdbcResult, SqlState};

/// Whose logins share one flight: the server (as the connection string names it) and
/// the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SittingKey {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// What the leader's login came to, as its followers need it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The second factor was verified (a code, or a ticket); a ticket, if the server
    /// issued one, is in the Memory store now.
    Verified,
    /// The server needed no second factor for this user.
    NotRequired,
    /// The leader's login failed; the followers fail with the same error.
    Failed(OdbcError),
    /// No shared result: the leader left its factor pending (no code source had a code)
    /// or went away. The followers form a new flight.
    Abandoned,
}

#[derive(Default)]
struct Flight {
    outcome: Mutex<Option<Outcome>>,
    done: Condvar,
}

impl Flight {
    fn outcome(&self) -> MutexGuard<'_, Option<Outcome>> {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The flights in progress, by key. A flight leaves the map when its leader finishes.
#[derive(Default)]
pub struct Sittings {
    flights: Mutex<HashMap<SittingKey, Arc<Flight>>>,
}

/// The role a connect got in its flight.
pub enum Role<'a> {
    Leader(LeaderGuard<'a>),
    /// The leader's result, waited for.
    Follower(Outcome),
}

/// Held by the leader while it logs in; `finish` publishes the result. Dropped without
/// `finish`, it publishes `Abandoned`, so no follower waits for a leader that is gone.
pub struct LeaderGuard<'a> {
    sittings: &'a Sittings,
    key: SittingKey,
    flight: Arc<Flight>,
    finished: bool,
}

impl LeaderGuard<'_> {
    pub fn finish(mut self, outcome: Outcome) {
        self.publish(outcome);
    }

    fn publish(&mut self, outcome: Outcome) {
        if self.finished {
            return;
        }
        self.finished = true;
        {
            let mut flights = self.sittings.flights.lock().unwrap_or_else(|e| e.into_inner());
            if flights.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight)) {
                flights.remove(&self.key);
            }
        }
        *self.flight.outcome() = Some(outcome);
        self.flight.done.notify_all();
    }
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        self.publish(Outcome::Abandoned);
    }
}

impl Sittings {
    /// Joins the flight for `key`: leads a new one when none is in progress, else waits
    /// for its leader's outcome until `deadline` (HYT00 when it passes first).
    pub fn join(&self, key: &SittingKey, deadline: Option<Instant>) -> OdbcResult<Role<'_>> {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(key) {
                Some(flight) => Arc::clone(flight),
                None => {
                    let flight = Arc::new(Flight::default());
                    flights.insert(key.clone(), Arc::clone(&flight));
                    return Ok(Role::Leader(LeaderGuard { sittings: self, key: key.clone(), flight, finished: false }));
                }
            }
        };
        log::debug!("a parallel connection of this process is logging in as {:?}; waiting for its result", key.user);
        let mut outcome = flight.outcome();
        loop {
            if let Some(o) = outcome.as_ref() {
                return Ok(Role::Follower(o.clone()));
            }
            outcome = match deadline {
                None => flight.done.wait(outcome).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(waited_too_long(key));
                    }
                    flight.done.wait_timeout(outcome, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// Flights in progress (tests).
    #[cfg(test)]
    fn in_progress(&self) -> usize {
        self.flights.lock().unwrap().len()
    }
}

fn waited_too_long(key: &SittingKey) -> OdbcError {
    OdbcError::new(
        SqlState::TIMEOUT_EXPIRED,
        format!(
            "login timeout expired while a parallel connection of this process verified the second factor \
             for {}@{}:{}",
            key.user, key.host, key.port
        ),
    )
}

/// The process-wide flights: the connections of a pool may live in different
/// environment handles, and they must still share one code.
pub fn process_sittings() -> &'static Sittings {
    static SITTINGS: OnceLock<Sittings> = OnceLock::new();
    SITTINGS.get_or_init(Sittings::default)
}

/// A follower's error when the leader's code was verified but left no ticket to share.
pub fn code_used_by_parallel_connection() -> OdbcError {
    OdbcError::new(
        SqlState::INVALID_AUTHORIZATION,
        "the two-factor code was used by a parallel connection of this process, which is connected; \
         a code is valid once, so this connection was not attempted (nothing was sent, no failed attempt \
         was counted). Server-side two-factor tickets (TwoFactorTicket=Memory and the server's [tickets] \
         policy, docs/tickets.md) let parallel connections share one verification",
    )
    .with_native(super::code_ledger::NATIVE_CODE_ALREADY_USED)
}

/// Native code of a refused two-factor ticket (`SQL_TWO_FACTOR_ERR_TICKET_REFUSED`).
pub const NATIVE_TICKET_REFUSED: i32 = 1011;

/// A follower's error when the ticket its leader left was refused (revoked between the
/// two logins): the server counted that like a wrong code, and the code it stood for is
/// spent, so this connection runs no code source of its own.
pub fn shared_ticket_refused() -> OdbcError {
    OdbcError::new(
        SqlState::INVALID_AUTHORIZATION,
        "the two-factor ticket a parallel connection of this process had just obtained was refused by the \
         server (revoked or expired; counted like a wrong code); it was removed. Connect again for a new code",
    )
    .with_native(NATIVE_TICKET_REFUSED)
}

/// A follower's copy of the leader's error: same SQLSTATE and native code, and a message
/// that says where it came from.
pub fn leader_failed(error: &OdbcError) -> OdbcError {
    let mut e = error.clone();
    e.message = format!("a parallel connection of this process for the same user failed: {}", error.message);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn key(user: &str) -> SittingKey {
        SittingKey { host: "db".into(), port: 7443, user: user.into() }
    }

    fn soon(ms: u64) -> Option<Instant> {
        Some(Instant::now() + Duration::from_millis(ms))
    }

    #[test]
    fn the_first_connect_leads_and_the_others_get_its_outcome() {
        let s = Sittings::default();
        let leaders = AtomicUsize::new(0);
        let verified = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..10 {
                scope.spawn(|| match s.join(&key("alice"), soon(5000)).unwrap() {
                    Role::Leader(guard) => {
                        leaders.fetch_add(1, Ordering::SeqCst);
                        // The others must have time to queue up behind this one.
                        std::thread::sleep(Duration::from_millis(200));
                        guard.finish(Outcome::Verified);
                    }
                    Role::Follower(Outcome::Verified) => {
                        verified.fetch_add(1, Ordering::SeqCst);
                    }
                    Role::Follower(other) => panic!("unexpected {other:?}"),
                });
            }
        });
        // A thread that arrives after the leader finished leads its own flight.
        let l = leaders.load(Ordering::SeqCst);
        assert!(l >= 1 && l + verified.load(Ordering::SeqCst) == 10);
        assert!(verified.load(Ordering::SeqCst) >= 5, "most threads waited for the first");
        assert_eq!(s.in_progress(), 0);
    }

    #[test]
    fn followers_get_the_leaders_error() {
        let s = Sittings::default();
        let Role::Leader(guard) = s.join(&key("bob"), None).unwrap() else { panic!("first is leader") };
        std::thread::scope(|scope| {
            let follower = scope.spawn(|| s.join(&key("bob"), soon(5000)).map(|r| matches!(r, Role::Follower(_))));
            std::thread::sleep(Duration::from_millis(100));
            guard.finish(Outcome::Failed(OdbcError::new(SqlState::INVALID_AUTHORIZATION, "wrong code")));
            assert!(follower.join().unwrap().unwrap());
        });
        let e = leader_failed(&OdbcError::new(SqlState::INVALID_AUTHORIZATION, "wrong code").with_native(1003));
        assert_eq!((e.state, e.native), (SqlState::INVALID_AUTHORIZATION, 1003));
        assert!(e.message.contains("parallel connection") && e.message.contains("wrong code"));
    }

    #[test]
    fn a_follower_gives_up_at_its_own_deadline_with_hyt00() {
        let s = Sittings::default();
        let _leader = s.join(&key("carol"), None).unwrap();
        let start = Instant::now();
        let Err(e) = s.join(&key("carol"), soon(300)) else { panic!("follower must time out") };
        assert_eq!(e.state, SqlState::TIMEOUT_EXPIRED);
        assert!(start.elapsed() >= Duration::from_millis(300) && start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_leader_that_goes_away_wakes_its_followers_and_a_new_flight_forms() {
        let s = Sittings::default();
        let leader = s.join(&key("dave"), None).unwrap();
        std::thread::scope(|scope| {
            let follower =
                scope.spawn(|| matches!(s.join(&key("dave"), soon(5000)).unwrap(), Role::Follower(Outcome::Abandoned)));
            std::thread::sleep(Duration::from_millis(100));
            drop(leader);
            assert!(follower.join().unwrap(), "the follower was woken with Abandoned");
        });
        assert!(matches!(s.join(&key("dave"), None).unwrap(), Role::Leader(_)));
    }

    #[test]
    fn other_users_and_servers_fly_apart() {
        let s = Sittings::default();
        let _a = s.join(&key("erin"), None).unwrap();
        assert!(matches!(s.join(&key("frank"), soon(10)).unwrap(), Role::Leader(_)));
        let other_port = SittingKey { port: 7444, ..key("erin") };
        assert!(matches!(s.join(&other_port, soon(10)).unwrap(), Role::Leader(_)));
    }
}
