//! Cancel across instances. The driver cancels by opening a new connection with the
//! session's id and cancel key; behind a balancer that connection may reach an instance
//! that does not hold the session. With the PostgreSQL store such an instance relays the
//! request to the others through the store's database (`NOTIFY` on [`CHANNEL`]); each
//! instance keeps one listener connection of its own and cancels the session if it holds
//! it and the proof matches its key. With the SQLite store there is no relay.
//!
//! Bounds: a payload has a fixed length ([`proof::PAYLOAD_LEN`]); at most
//! [`SEND_PER_SECOND`] relayed cancels leave an instance per second and at most
//! [`QUEUE`] wait for the listener thread (the rest are dropped: a flood of bogus cancels
//! is not a NOTIFY flood); a cancel that waited over [`MAX_AGE`] (PostgreSQL away) is
//! dropped; the listener handles at most [`HANDLE_PER_SECOND`] notifications per second.
//! The canceller's reply does not change: it never says whether anything was cancelled.

mod listener;
mod proof;
mod rate;

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::server::State;
use crate::store::{PgStoreSettings, StoreError};

pub use proof::RelayedCancel;

/// The PostgreSQL notification channel, in the store's database.
pub const CHANNEL: &str = "twofactor_cancel";
/// Relayed cancels one instance sends per second at most.
pub const SEND_PER_SECOND: u32 = 50;
/// Relayed cancels waiting for the listener thread at most.
pub const QUEUE: usize = 64;
/// A relayed cancel still unsent this long after it arrived is dropped (the statement
/// has likely ended, or its client given up).
pub const MAX_AGE: Duration = Duration::from_secs(3);
/// Notifications the listener handles per second at most (other instances send at most
/// [`SEND_PER_SECOND`] each; anything beyond is not ours or is a flood).
pub const HANDLE_PER_SECOND: u32 = 500;

/// A cancel waiting to be sent, and since when.
struct Outgoing {
    cancel: RelayedCancel,
    since: Instant,
}

/// The sending side, held in the server's state: hands cancels for sessions this
/// instance does not hold to the listener thread, which sends them.
pub(crate) struct CancelRelay {
    queue: SyncSender<Outgoing>,
    sent: Mutex<rate::PerSecond>,
}

/// The listener thread, before it is started with the state it cancels in.
pub(crate) struct PendingListener(listener::Listener);

/// The relay and its listener when the store is PostgreSQL; none with SQLite.
pub(crate) fn prepare(config: &Config) -> Result<Option<(CancelRelay, PendingListener)>, StoreError> {
    let Some(settings) = PgStoreSettings::from_config(config)? else {
        return Ok(None);
    };
    let (queue, outgoing) = mpsc::sync_channel(QUEUE);
    let relay = CancelRelay { queue, sent: Mutex::new(rate::PerSecond::new(SEND_PER_SECOND)) };
    Ok(Some((relay, PendingListener(listener::Listener::new(&settings, outgoing)?))))
}

impl PendingListener {
    /// Starts the listener thread; it ends when the server's state is dropped.
    pub(crate) fn start(self, state: &Arc<State>) {
        let weak: Weak<State> = Arc::downgrade(state);
        let listener = self.0;
        if let Err(e) = std::thread::Builder::new().name("cancel-relay".into()).spawn(move || listener.run(weak)) {
            log::error!("cancel relay: cannot start its thread: {e}; cancels reach only this instance's sessions");
        }
    }
}

impl CancelRelay {
    /// Relays a cancel for a session this instance does not hold. Never blocks; beyond
    /// the rate or the queue the cancel is dropped (logged once per second).
    pub(crate) fn forward(&self, session_id: u64, key: &[u8; 16]) {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let taken = sent.take(Instant::now());
        if taken.dropped_before > 0 {
            log::warn!(
                "cancel relay: {} cancels for sessions not on this instance were not relayed in the last second \
                 (over {SEND_PER_SECOND}/s, or {QUEUE} already waiting for PostgreSQL)",
                taken.dropped_before
            );
        }
        if !taken.allowed {
            return;
        }
        let out = Outgoing { cancel: RelayedCancel::new(session_id, key), since: Instant::now() };
        match self.queue.try_send(out) {
            Ok(()) => log::debug!("cancel relay: session {session_id:x} is not here; relaying"),
            // PostgreSQL is away or slow: reported with the rest, once a second.
            Err(TrySendError::Full(_)) => sent.count_dropped(),
            Err(TrySendError::Disconnected(_)) => log::warn!("cancel relay: its thread has ended; cancel dropped"),
        }
    }
}

/// Relays `key`'s cancel when there is a relay (the PostgreSQL store).
pub(crate) fn forward(state: &State, session_id: u64, key: &[u8; 16]) {
    if let Some(relay) = &state.cancel_relay {
        relay.forward(session_id, key);
    }
}
