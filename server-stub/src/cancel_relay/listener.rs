//! The listener thread: one PostgreSQL connection of its own (not pooled: LISTEN belongs
//! to the session that ran it), opened with the store pool's settings and TLS. It sends
//! this instance's relayed cancels (NOTIFY) and handles the other instances' ones,
//! reconnecting with backoff while PostgreSQL is away. The sync client needs a thread
//! outside tokio's workers: this one.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Weak;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use tokio_postgres_rustls::MakeRustlsConnect;
use twofactor_protocol::Secret;

use super::proof::RelayedCancel;
use super::rate::PerSecond;
use super::{Outgoing, CHANNEL, HANDLE_PER_SECOND, MAX_AGE, QUEUE};
use crate::server::State;
use crate::store::{PgStoreSettings, StoreError};

/// How long the thread waits for notifications before it looks at this instance's own
/// cancels to send: the most a relayed cancel waits before it leaves.
const POLL: Duration = Duration::from_millis(20);
/// A connection that has carried nothing this long is checked (a round trip), so one
/// that died silently is replaced.
const CHECK_IDLE_EVERY: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Notifications handled before the thread looks at its queue again.
const PER_PASS: usize = 256;

pub(super) struct Listener {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    /// For messages: carries no password.
    url: String,
    timeout: Duration,
    outgoing: Receiver<Outgoing>,
    handled: PerSecond,
}

/// Why serving on one connection ended.
enum Ended {
    /// The server's state is gone: the thread ends.
    ServerGone,
    /// The connection failed; the thread reconnects.
    Lost(String),
}

impl Listener {
    pub(super) fn new(settings: &PgStoreSettings, outgoing: Receiver<Outgoing>) -> Result<Listener, StoreError> {
        let (config, tls) = crate::store::postgres::connect_settings(settings)?;
        Ok(Listener {
            config,
            tls,
            url: settings.display_url(),
            timeout: settings.connect_timeout,
            outgoing,
            handled: PerSecond::new(HANDLE_PER_SECOND),
        })
    }

    /// Connects, serves, reconnects; returns once the server's state is dropped.
    pub(super) fn run(mut self, state: Weak<State>) {
        let mut backoff = FIRST_BACKOFF;
        let mut failures = 0u32;
        while state.strong_count() > 0 {
            match self.connect() {
                Ok((mut client, own_pid)) => {
                    if failures > 0 {
                        log::info!("cancel relay: listening again on {} after {failures} failed attempts", self.url);
                    } else {
                        log::info!("cancel relay: listening on channel {CHANNEL} of {}", self.url);
                    }
                    failures = 0;
                    backoff = FIRST_BACKOFF;
                    match self.serve(&mut client, own_pid, &state) {
                        Ended::ServerGone => return,
                        Ended::Lost(why) => log::warn!("cancel relay: connection to {} lost: {why}", self.url),
                    }
                }
                Err(why) => {
                    // The first failure of a streak, then every tenth: PostgreSQL's outage
                    // is reported by the store and readiness too.
                    if failures.is_multiple_of(10) {
                        log::warn!(
                            "cancel relay: cannot listen on {}: {why}; retrying (cancels reach only this \
                             instance's sessions meanwhile)",
                            self.url
                        );
                    }
                    failures = failures.saturating_add(1);
                }
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// A connection listening on [`CHANNEL`], and its backend's process id (its own
    /// notifications carry it and are skipped).
    fn connect(&self) -> Result<(postgres::Client, i32), String> {
        let mut client = self.config.connect(self.tls.clone()).map_err(|e| with_causes(&e))?;
        client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(|e| with_causes(&e))?;
        let row = client.query_one("SELECT pg_backend_pid()", &[]).map_err(|e| with_causes(&e))?;
        let pid: i32 = row.try_get(0).map_err(|e| with_causes(&e))?;
        Ok((client, pid))
    }

    fn serve(&mut self, client: &mut postgres::Client, own_pid: i32, state: &Weak<State>) -> Ended {
        let mut alive_at = Instant::now();
        loop {
            if state.strong_count() == 0 {
                return Ended::ServerGone;
            }
            for _ in 0..QUEUE {
                match self.outgoing.try_recv() {
                    Ok(out) => {
                        if send(client, out) {
                            alive_at = Instant::now();
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ended::ServerGone,
                }
            }
            {
                // Waiting (not the non-blocking `iter`) lets the client's runtime see the
                // socket become readable; without a wait nothing new is ever read.
                let mut notifications = client.notifications();
                let mut pending = notifications.timeout_iter(POLL);
                for _ in 0..PER_PASS {
                    match pending.next() {
                        Ok(Some(n)) => {
                            alive_at = Instant::now();
                            self.handle(&n, own_pid, state);
                        }
                        Ok(None) => break,
                        Err(e) => return Ended::Lost(with_causes(&e)),
                    }
                }
            }
            if client.is_closed() {
                return Ended::Lost("closed by PostgreSQL".into());
            }
            if alive_at.elapsed() >= CHECK_IDLE_EVERY {
                if let Err(e) = client.is_valid(self.timeout) {
                    return Ended::Lost(with_causes(&e));
                }
                alive_at = Instant::now();
            }
        }
    }

    /// Another instance's relayed cancel: cancels the session if it is here and the
    /// proof matches its key. Nothing else is done for it, whatever it holds.
    fn handle(&mut self, n: &postgres::Notification, own_pid: i32, state: &Weak<State>) {
        if n.channel() != CHANNEL || n.process_id() == own_pid {
            return;
        }
        let taken = self.handled.take(Instant::now());
        if taken.dropped_before > 0 {
            log::warn!(
                "cancel relay: {} notifications ignored in the last second (over {}/s)",
                taken.dropped_before,
                self.handled.cap()
            );
        }
        if !taken.allowed {
            return;
        }
        let Some(cancel) = RelayedCancel::decode(n.payload()) else {
            log::debug!("cancel relay: a notification on {CHANNEL} that is not a relayed cancel; ignored");
            return;
        };
        let Some(state) = state.upgrade() else { return };
        // Most relayed cancels are for another instance's session: nothing to say then.
        let key = state.sessions().get(&cancel.session_id).map(|e| Secret::new(e.cancel_key));
        let Some(key) = key else { return };
        if !cancel.proves(key.expose()) {
            log::info!("cancel relay: a relayed cancel for session {:x} with a wrong key; ignored", cancel.session_id);
            return;
        }
        crate::session::cancel_here(&state, &"cancel relayed through PostgreSQL", cancel.session_id, &key);
    }
}

/// Sends one relayed cancel unless it waited too long; whether PostgreSQL took it.
fn send(client: &mut postgres::Client, out: Outgoing) -> bool {
    let waited = out.since.elapsed();
    if waited > MAX_AGE {
        log::info!(
            "cancel relay: a cancel for session {:x} waited {:.1}s for PostgreSQL; dropped",
            out.cancel.session_id,
            waited.as_secs_f64()
        );
        return false;
    }
    match client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &out.cancel.encode()]) {
        Ok(_) => true,
        Err(e) => {
            log::warn!(
                "cancel relay: cannot relay a cancel for session {:x}: {}",
                out.cancel.session_id,
                with_causes(&e)
            );
            false
        }
    }
}

/// An error with its causes (a connect error's reason, such as "Connection refused", is
/// its source).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
