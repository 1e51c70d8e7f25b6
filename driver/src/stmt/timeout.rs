//! SQL_ATTR_QUERY_TIMEOUT. A request that outlives the timeout is cancelled the way
//! SQLCancel does it, over a second connection from a timer thread, and reports HYT00.
//! A socket read timeout would not do: the reply may still arrive later, so the session
//! could not be trusted any more and would have to be dropped. A cancel keeps it usable.
//!
//! A cancel needs a server that answers. When the link is frozen (a stopped server, a
//! black-holed route), the cancel reaches no one or the interrupted request's answer
//! never comes back; then, CANCEL_GRACE after the timeout, the timer shuts the socket
//! down. The blocked read returns at once, the call reports HYT00, and the connection is
//! dead from then on (08S01, SQL_ATTR_CONNECTION_DEAD = SQL_CD_TRUE).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::conn::config::MAX_TIMEOUT_SECS;
use crate::conn::Connection;
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// How long the server has, once the timer's cancel is under way, to answer the
/// interrupted request before the driver gives up on the link. It also bounds the cancel
/// connection itself (TCP, TLS, Cancel and its answer).
pub const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// A thread that runs an action unless stopped before `after` has passed. The action
/// gets the stop signal, so it can wait for the stop within a bound of its own.
pub struct Timer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    fired: Arc<AtomicBool>,
}

/// What a fired timer's action sees of the stop signal.
pub struct StopSignal(Receiver<()>);

impl StopSignal {
    /// Waits until the timer is stopped or `until` passes; true if it was stopped.
    pub fn stopped_by(&self, until: Option<Instant>) -> bool {
        let Some(until) = until else { return self.0.recv().is_err() };
        let left = until.saturating_duration_since(Instant::now());
        !matches!(self.0.recv_timeout(left), Err(RecvTimeoutError::Timeout))
    }
}

impl Timer {
    /// `None` when the thread cannot be started: the request then simply runs without a
    /// timeout rather than failing.
    pub fn start(after: Duration, on_expiry: impl FnOnce(&StopSignal) + Send + 'static) -> Option<Timer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&fired);
        let thread = std::thread::Builder::new().name("twofactor-query-timeout".into()).stack_size(128 * 1024).spawn(
            move || {
                crate::ffi::panic_hook::in_driver(|| {
                    let signal = StopSignal(stopped);
                    // Stopping drops the sender, which wakes this up as Disconnected. A
                    // timeout too long for a deadline never expires.
                    let deadline = Instant::now().checked_add(after);
                    if !signal.stopped_by(deadline) {
                        flag.store(true, Ordering::Release);
                        on_expiry(&signal);
                    }
                })
            },
        );
        match thread {
            Ok(thread) => Some(Timer { stop: Some(stop), thread: Some(thread), fired }),
            Err(e) => {
                log::warn!("query timeout not enforced: cannot start the timer thread: {e}");
                None
            }
        }
    }

    /// Stops the timer and says whether it fired. Waits for an expiry action under way,
    /// so that a cancel sent for this request cannot land on the next one.
    pub fn stop(mut self) -> bool {
        self.finish()
    }

    fn finish(&mut self) -> bool {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.fired.load(Ordering::Acquire)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What the timer did to the request it watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    NotFired,
    /// Fired and cancelled; the server answered (or the request ended) in time.
    Cancelled,
    /// Fired, and the link was shut down because nothing came back within the grace.
    Severed,
}

/// The outcome of a request run under a timer: the server's HY008 for the timer's own
/// cancel becomes HYT00, and so does the link failure of a link the timer shut down.
fn timed_out<R>(result: OdbcResult<R>, expiry: Expiry) -> OdbcResult<R> {
    match (result, expiry) {
        (Err(e), Expiry::Cancelled | Expiry::Severed) if e.state == SqlState::OPERATION_CANCELLED => {
            Err(OdbcError::new(SqlState::TIMEOUT_EXPIRED, "query timeout expired"))
        }
        (Err(_), Expiry::Severed) => Err(OdbcError::new(
            SqlState::TIMEOUT_EXPIRED,
            format!(
                "query timeout expired, and the server did not answer within {} s of the cancel: \
                 the connection was closed (disconnect and connect again)",
                CANCEL_GRACE.as_secs()
            ),
        )),
        (other, _) => other,
    }
}

/// Runs `request` (which talks to the server over `conn`'s session) under a query
/// timeout of `seconds`; 0 means none, and then no thread is started.
pub fn with_query_timeout<R>(
    conn: &Arc<Connection>,
    seconds: usize,
    request: impl FnOnce() -> OdbcResult<R>,
) -> OdbcResult<R> {
    if seconds == 0 {
        return request();
    }
    let seconds = u64::try_from(seconds).unwrap_or(MAX_TIMEOUT_SECS).min(MAX_TIMEOUT_SECS);
    let severer = conn.severer();
    let severed = Arc::new(AtomicBool::new(false));
    let marked = Arc::clone(&severed);
    let c = Arc::clone(conn);
    let timer = Timer::start(Duration::from_secs(seconds), move |stop| {
        log::info!("query timeout of {seconds} s expired: cancelling the request");
        let grace_end = Instant::now().checked_add(CANCEL_GRACE);
        if let Err(e) = c.cancel_within(CANCEL_GRACE) {
            log::warn!("query timeout: the cancel request failed: {e}");
        }
        if !stop.stopped_by(grace_end) {
            if let Some(severer) = severer {
                log::warn!(
                    "query timeout: no answer from the server {} s after the cancel; closing the connection",
                    CANCEL_GRACE.as_secs()
                );
                marked.store(true, Ordering::Release);
                severer.sever();
            }
        }
    });
    let result = request();
    let fired = timer.is_some_and(Timer::stop);
    let expiry = match (fired, severed.load(Ordering::Acquire)) {
        (false, _) => Expiry::NotFired,
        (true, false) => Expiry::Cancelled,
        (true, true) => Expiry::Severed,
    };
    timed_out(result, expiry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_timer_stopped_in_time_never_runs_its_action() {
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        let t = Timer::start(Duration::from_secs(30), move |_| r.store(true, Ordering::SeqCst)).unwrap();
        let begun = Instant::now();
        assert!(!t.stop());
        assert!(begun.elapsed() < Duration::from_secs(5), "stopping does not wait for the deadline");
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[test]
    fn a_timer_that_expires_runs_its_action_once_and_says_so() {
        let (tx, rx) = mpsc::channel();
        let t = Timer::start(Duration::from_millis(20), move |_| tx.send(()).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).expect("the action ran");
        assert!(t.stop());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn only_a_cancellation_after_the_timer_fired_becomes_hyt00() {
        let cancelled = || OdbcError::new(SqlState::OPERATION_CANCELLED, "operation cancelled");
        assert_eq!(timed_out::<()>(Err(cancelled()), Expiry::Cancelled).unwrap_err().state, SqlState::TIMEOUT_EXPIRED);
        assert_eq!(
            timed_out::<()>(Err(cancelled()), Expiry::NotFired).unwrap_err().state,
            SqlState::OPERATION_CANCELLED,
            "an SQLCancel of the application"
        );
        let syntax = || OdbcError::new(SqlState::SYNTAX_ERROR, "syntax error");
        assert_eq!(timed_out::<()>(Err(syntax()), Expiry::Cancelled).unwrap_err().state, SqlState::SYNTAX_ERROR);
        assert_eq!(timed_out(Ok(7), Expiry::Cancelled).unwrap(), 7, "a request that finished before the cancel landed");
        assert_eq!(
            timed_out(Ok(7), Expiry::Severed).unwrap(),
            7,
            "a request that finished just before the link was cut"
        );
    }

    #[test]
    fn the_link_failure_of_a_link_the_timer_cut_is_a_timeout() {
        let cut = crate::conn::session::closed_by_server();
        let e = timed_out::<()>(Err(cut), Expiry::Severed).unwrap_err();
        assert_eq!(e.state, SqlState::TIMEOUT_EXPIRED);
        assert!(e.message.contains("connection was closed"), "{}", e.message);
        let cut = crate::conn::session::closed_by_server();
        assert_eq!(
            timed_out::<()>(Err(cut), Expiry::Cancelled).unwrap_err().state,
            SqlState::COMMUNICATION_LINK_FAILURE,
            "a link that failed on its own"
        );
    }

    #[test]
    fn an_expired_timer_action_can_wait_a_bounded_time_for_the_stop() {
        let (tx, rx) = mpsc::channel();
        let t = Timer::start(Duration::from_millis(10), move |stop| {
            let begun = Instant::now();
            let stopped = stop.stopped_by(Instant::now().checked_add(Duration::from_millis(100)));
            tx.send((stopped, begun.elapsed())).unwrap();
        })
        .unwrap();
        let (stopped, waited) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(!stopped && waited >= Duration::from_millis(100), "not stopped: waited out the bound");
        assert!(t.stop());
    }

    #[test]
    fn a_timeout_too_long_for_a_deadline_never_fires_and_stops_at_once() {
        let t = Timer::start(Duration::MAX, |_| panic!("never")).unwrap();
        assert!(!t.stop());
    }

    #[test]
    fn a_zero_timeout_runs_the_request_on_this_thread_without_a_timer() {
        let env = Arc::new(crate::env::Environment::new());
        let conn = Arc::new(Connection::new(env, 0));
        let here = std::thread::current().id();
        let r = with_query_timeout(&conn, 0, || Ok(std::thread::current().id() == here));
        assert!(r.unwrap());
    }
}
