//! The connection handle: its attributes, its session with the server, and the state of
//! the second factor.

pub mod attributes;
pub mod browse;
pub mod code_ledger;
pub mod code_source;
pub mod config;
mod connect;
pub mod connection_string;
pub mod dm_attributes;
pub mod dsn;
mod files;
mod pool;
mod service_login;
pub mod session;
mod shared_login;
pub mod sitting;
mod socket;
mod ticket_exchange;
pub mod tickets;
pub mod tls;
pub mod two_factor_state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::ClientConfig;
use twofactor_protocol::{ClientMessage, Secret, ServerMessage};

pub use attributes::{AttrOut, Attributes};
pub use session::Session;

use crate::diag::{DiagArea, OdbcError, OdbcResult, SqlState};
use crate::env::Environment;
use crate::handles::RawHandle;

/// Native code of "two-factor authentication required" (shared with the server).
pub const NATIVE_SECOND_FACTOR_REQUIRED: i32 = 1004;

/// What the server told us at login, kept for SQLGetInfo and SQLCancel.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub dsn: String,
    pub server_name: String,
    /// The protocol version the server agreed to.
    pub protocol_version: u16,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub fetch_rows: u32,
    pub static_cursor_max_bytes: usize,
    pub query_timeout: Option<u64>,
    pub session_id: u64,
    pub cancel_key: Secret<[u8; 16]>,
    pub tls: Arc<ClientConfig>,
    pub tls_server_name: String,
    /// `TwoFactorTicket` of the connect, for a code set with attribute 1002 afterwards.
    pub ticket_mode: tickets::TicketMode,
    /// Shuts the session's socket down from a query timer (see `stmt::timeout`); taken
    /// without the session lock, which the request it bounds holds.
    pub severer: Option<Arc<socket::Severer>>,
}

pub struct Connection {
    pub(crate) diagnostics: DiagArea,
    env: Arc<Environment>,
    /// The environment handle this connection was allocated on.
    pub(crate) env_handle: RawHandle,
    session: Mutex<Option<Session>>,
    info: Mutex<Option<SessionInfo>>,
    /// Between a successful connect and SQLDisconnect, even after the server dropped us.
    open: AtomicBool,
    /// The link is unusable (fatal server error, I/O failure); calls report 08S01.
    dead: Arc<AtomicBool>,
    second_factor_pending: AtomicBool,
    /// Attributes 0x4000-0x4004 (two_factor_state.rs).
    two_factor_state: Mutex<two_factor_state::TwoFactorState>,
    pub(crate) attributes: Mutex<Attributes>,
    /// Statement handles allocated on this connection (the statement module keeps it).
    pub(crate) statements: Mutex<Vec<RawHandle>>,
    /// Explicit descriptor handles allocated on this connection.
    pub(crate) descriptors: Mutex<Vec<RawHandle>>,
    /// Between SQLBrowseConnect calls that answered SQL_NEED_DATA.
    pub(crate) browse: Mutex<Option<browse::Browse>>,
}

/// A connection handle of its own environment, not connected (unit tests).
#[cfg(test)]
pub(crate) fn unconnected() -> Connection {
    Connection::new(Arc::new(Environment::new()), 0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Connection {
    pub fn new(env: Arc<Environment>, env_handle: RawHandle) -> Self {
        Connection {
            diagnostics: DiagArea::default(),
            env,
            env_handle,
            session: Mutex::new(None),
            info: Mutex::new(None),
            open: AtomicBool::new(false),
            dead: Arc::new(AtomicBool::new(false)),
            second_factor_pending: AtomicBool::new(false),
            two_factor_state: Mutex::default(),
            attributes: Mutex::new(Attributes::default()),
            statements: Mutex::default(),
            descriptors: Mutex::default(),
            browse: Mutex::default(),
        }
    }

    pub fn environment(&self) -> &Arc<Environment> {
        &self.env
    }

    /// 2 for an ODBC 2 application (isql), else 3.
    pub fn odbc_version(&self) -> u32 {
        self.env.odbc_version()
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    pub fn second_factor_pending(&self) -> bool {
        self.second_factor_pending.load(Ordering::Acquire)
    }

    pub fn autocommit(&self) -> bool {
        lock(&self.attributes).autocommit
    }

    pub fn metadata_id(&self) -> bool {
        lock(&self.attributes).metadata_id
    }

    pub fn access_mode_read_only(&self) -> bool {
        lock(&self.attributes).access_mode == attributes::SQL_MODE_READ_ONLY
    }

    /// Rows the server should send per batch (DSN key FetchRows, default 4096).
    pub fn fetch_rows(&self) -> u32 {
        lock(&self.info).as_ref().map_or(config::DEFAULT_FETCH_ROWS, |i| i.fetch_rows)
    }

    /// The most a static cursor keeps (DSN key StaticCursorMaxBytes).
    pub fn static_cursor_max_bytes(&self) -> usize {
        lock(&self.info).as_ref().map_or(crate::stmt::scroll::STATIC_CURSOR_MAX_BYTES, |i| i.static_cursor_max_bytes)
    }

    /// QueryTimeout from the DSN: the default for SQL_ATTR_QUERY_TIMEOUT of statements.
    pub fn default_query_timeout(&self) -> Option<u64> {
        lock(&self.info).as_ref().and_then(|i| i.query_timeout)
    }

    /// A statement attribute the application set on the connection (ODBC 2 apps do),
    /// to be inherited by statements allocated afterwards.
    pub fn statement_default(&self, attr: i32) -> Option<usize> {
        lock(&self.attributes).statement_defaults.get(&attr).copied()
    }

    pub fn info(&self) -> Option<SessionInfo> {
        lock(&self.info).clone()
    }

    /// The protocol version of the open session (0 when not connected).
    pub fn protocol_version(&self) -> u16 {
        lock(&self.info).as_ref().map_or(0, |i| i.protocol_version)
    }

    /// Checks the connection is usable for SQL and runs `f` with the session locked.
    /// Not connected → 08003; dropped by the server → 08S01; second factor not yet
    /// verified → 28000 (native 1004), refused here without a round trip.
    pub fn with_session<R>(&self, f: impl FnOnce(&mut Session) -> OdbcResult<R>) -> OdbcResult<R> {
        if !self.is_open() {
            return Err(OdbcError::not_connected());
        }
        if self.is_dead() {
            return Err(session::closed_by_server());
        }
        if self.second_factor_pending() {
            // The server may have given up waiting for the code (its two-factor timeout)
            // and closed the session: one ping lets the application see that (08S01)
            // instead of a 28000 that no code could cure any more.
            self.with_session_unchecked(|s| s.request(&ClientMessage::Ping).map(drop))?;
            return Err(OdbcError::new(SqlState::INVALID_AUTHORIZATION, "two-factor authentication required")
                .with_native(NATIVE_SECOND_FACTOR_REQUIRED));
        }
        self.with_session_unchecked(f)
    }

    /// The session, whatever the state of the second factor.
    fn with_session_unchecked<R>(&self, f: impl FnOnce(&mut Session) -> OdbcResult<R>) -> OdbcResult<R> {
        let mut guard = lock(&self.session);
        let session = guard.as_mut().ok_or_else(session::closed_by_server)?;
        let result = f(session);
        if session.is_dead() {
            // Nothing more will be read from it; free the socket now.
            if let Some(s) = guard.take() {
                s.close();
            }
        }
        result
    }

    /// Interrupts the request running on this connection, from another thread: a new TLS
    /// connection sends Hello, then Cancel with the session's key.
    pub fn cancel(&self) -> OdbcResult<()> {
        self.cancel_within(Duration::from_secs(10))
    }

    /// `cancel`, with the whole exchange bounded by `timeout`.
    pub fn cancel_within(&self, timeout: Duration) -> OdbcResult<()> {
        let Some(info) = self.info().filter(|_| self.is_open()) else {
            return Err(OdbcError::not_connected());
        };
        let deadline = session::deadline_after(timeout);
        let mut s = session::open(
            &info.host,
            info.port,
            info.tls.clone(),
            &info.tls_server_name,
            deadline,
            Arc::new(AtomicBool::new(false)),
        )?;
        connect::hello(&mut s)?;
        let reply = s.request(&ClientMessage::Cancel { session_id: info.session_id, key: info.cancel_key.clone() });
        s.close();
        match reply? {
            ServerMessage::Ok => Ok(()),
            other => Err(OdbcError::new(SqlState::GENERAL_ERROR, format!("unexpected answer to Cancel: {other:?}"))),
        }
    }

    /// SQLDisconnect: frees the statements, says goodbye, forgets the session. An open
    /// manual transaction is rolled back by the server when the session ends.
    pub fn disconnect(&self) -> OdbcResult<()> {
        if !self.is_open() {
            return Err(OdbcError::not_connected());
        }
        self.free_children();
        if let Some(s) = lock(&self.session).take() {
            s.close();
        }
        self.reset_link_state();
        log::info!("disconnected");
        Ok(())
    }

    /// Frees the statements and explicit descriptors allocated on this connection.
    pub(crate) fn free_children(&self) {
        // Taken out first: freeing a statement may lock the list or use the session.
        let statements = std::mem::take(&mut *lock(&self.statements));
        for handle in statements {
            crate::stmt::free(handle);
        }
        let descriptors = std::mem::take(&mut *lock(&self.descriptors));
        for handle in descriptors {
            crate::desc::free_explicit(handle);
        }
    }

    fn reset_link_state(&self) {
        self.open.store(false, Ordering::Release);
        self.second_factor_pending.store(false, Ordering::Release);
        self.two_factor().reset();
        *lock(&self.info) = None;
        self.dead.store(false, Ordering::Release);
    }

    /// SQLEndTran for this connection. In autocommit mode there is nothing to end.
    pub fn end_transaction(&self, commit: bool) -> OdbcResult<()> {
        if !self.is_open() {
            return Err(OdbcError::not_connected());
        }
        if self.is_dead() {
            return Err(session::closed_by_server());
        }
        if self.autocommit() {
            return Ok(());
        }
        self.with_session(|s| {
            let reply = s.request(&ClientMessage::EndTransaction { commit });
            // The server closes any open cursor before it ends the transaction
            // (SQL_CURSOR_COMMIT_BEHAVIOR = SQL_CB_CLOSE), whatever the outcome: no
            // statement owns a server cursor any more. The answer to a Fetch sent ahead
            // for it was read before EndTransaction went out; its rows are dropped.
            let _ = s.release_cursor();
            match reply? {
                ServerMessage::Ok => Ok(()),
                other => Err(unexpected(&other)),
            }
        })
    }
}

pub(crate) fn unexpected(message: &ServerMessage) -> OdbcError {
    let name = format!("{message:?}");
    let name = name.split([' ', '{', '(']).next().unwrap_or("message");
    session::link_failure(&format!("unexpected {name} from the server"))
}

#[cfg(test)]
mod live_tests {
    use super::*;

    /// Runs only with TWOFACTOR_LIVE_CONN set to a connection string of a running server
    /// for a user without a second factor (the end-to-end suite in tests/ covers more).
    #[test]
    fn a_live_connection_can_be_cancelled_and_disconnected() {
        let Ok(cs) = std::env::var("TWOFACTOR_LIVE_CONN") else { return };
        let c = Connection::new(Arc::new(Environment::new()), 0);
        let mut settings = config::Settings::default();
        settings.extend(connection_string::parse(&cs).unwrap());
        c.connect(&settings, false).unwrap();
        assert!(!c.second_factor_pending());
        c.cancel().unwrap();
        c.with_session(|s| match s.request(&ClientMessage::Ping)? {
            ServerMessage::Pong => Ok(()),
            other => Err(unexpected(&other)),
        })
        .unwrap();
        c.disconnect().unwrap();
        assert_eq!(c.disconnect().unwrap_err().state, SqlState::CONNECTION_NOT_OPEN);
    }
}
