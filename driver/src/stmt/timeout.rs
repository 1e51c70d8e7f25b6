//! SQL_ATTR_QUERY_TIMEOUT. A request that outlives the timeout is cancelled the way
//! SQLCancel does it, over a second connection from a timer thread, and reports HYT00.
//! A socket read timeout would not do: the reply may still arrive later, so the session
//! could not be trusted any more and would have to be dropped. A cancel keeps it usable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::conn::Connection;
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// A thread that runs an action unless stopped before `after` has passed.
pub struct Timer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    fired: Arc<AtomicBool>,
}

impl Timer {
    /// `None` when the thread cannot be started: the request then simply runs without a
    /// timeout rather than failing.
    pub fn start(after: Duration, on_expiry: impl FnOnce() + Send + 'static) -> Option<Timer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&fired);
        let thread = std::thread::Builder::new().name("twofactor-query-timeout".into()).stack_size(128 * 1024).spawn(
            move || {
                // Stopping drops the sender, which wakes this up as Disconnected.
                if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(after) {
                    flag.store(true, Ordering::Release);
                    on_expiry();
                }
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

/// The outcome of a request run under a timer: the server's HY008 for the timer's own
/// cancel becomes HYT00.
fn timed_out<R>(result: OdbcResult<R>, fired: bool) -> OdbcResult<R> {
    match result {
        Err(e) if fired && e.state == SqlState::OPERATION_CANCELLED => {
            Err(OdbcError::new(SqlState::TIMEOUT_EXPIRED, "query timeout expired"))
        }
        other => other,
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
    let c = Arc::clone(conn);
    let timer = Timer::start(Duration::from_secs(seconds as u64), move || {
        log::info!("query timeout of {seconds} s expired: cancelling the request");
        if let Err(e) = c.cancel() {
            log::warn!("query timeout: the cancel request failed: {e}");
        }
    });
    let result = request();
    let fired = timer.is_some_and(Timer::stop);
    timed_out(result, fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_timer_stopped_in_time_never_runs_its_action() {
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        let t = Timer::start(Duration::from_secs(30), move || r.store(true, Ordering::SeqCst)).unwrap();
        let begun = Instant::now();
        assert!(!t.stop());
        assert!(begun.elapsed() < Duration::from_secs(5), "stopping does not wait for the deadline");
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[test]
    fn a_timer_that_expires_runs_its_action_once_and_says_so() {
        let (tx, rx) = mpsc::channel();
        let t = Timer::start(Duration::from_millis(20), move || tx.send(()).unwrap()).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).expect("the action ran");
        assert!(t.stop());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn only_a_cancellation_after_the_timer_fired_becomes_hyt00() {
        let cancelled = || OdbcError::new(SqlState::OPERATION_CANCELLED, "operation cancelled");
        assert_eq!(timed_out::<()>(Err(cancelled()), true).unwrap_err().state, SqlState::TIMEOUT_EXPIRED);
        assert_eq!(
            timed_out::<()>(Err(cancelled()), false).unwrap_err().state,
            SqlState::OPERATION_CANCELLED,
            "an SQLCancel of the application"
        );
        let syntax = OdbcError::new(SqlState::SYNTAX_ERROR, "syntax error");
        assert_eq!(timed_out::<()>(Err(syntax), true).unwrap_err().state, SqlState::SYNTAX_ERROR);
        assert_eq!(timed_out(Ok(7), true).unwrap(), 7, "a request that finished before the cancel landed");
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
