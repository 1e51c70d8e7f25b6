//! Pooled connections to PostgreSQL: `r2d2` over the sync `postgres` client, TLS by
//! rustls (ring) verifying PostgreSQL's certificate and host name against the CA file or
//! the public web roots.
//!
//! Every wait is bounded by `connect_timeout`: connecting, waiting for a free
//! connection, and (in the settings) each statement. A connection taken from the pool is
//! checked with an empty query unless it proved alive within the last second, so after
//! PostgreSQL restarts the first call gets a fresh connection instead of an error, and a
//! busy server does not pay a round trip per call for it; one that broke is dropped when
//! handed back.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use r2d2::ManageConnection;
use r2d2_postgres::{r2d2, PostgresConnectionManager};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::settings::PgStoreSettings;
use crate::pg_link::{self, with_causes};
use crate::store::StoreError;

/// A connection that answered (a statement, or the check) this recently is handed out
/// without the check.
const PROVEN_FOR: Duration = Duration::from_secs(1);

/// A client and when it last proved alive.
pub(super) struct TrackedClient {
    client: postgres::Client,
    alive_at: Instant,
}

impl Deref for TrackedClient {
    type Target = postgres::Client;
    fn deref(&self) -> &postgres::Client {
        &self.client
    }
}

impl DerefMut for TrackedClient {
    fn deref_mut(&mut self) -> &mut postgres::Client {
        &mut self.client
    }
}

/// `r2d2_postgres`'s manager, checking on checkout only connections not proven alive
/// within [`PROVEN_FOR`] (the check is a round trip: a quarter of a login's).
pub(super) struct Manager(PostgresConnectionManager<MakeRustlsConnect>);

impl ManageConnection for Manager {
    type Connection = TrackedClient;
    type Error = postgres::Error;

    fn connect(&self) -> Result<TrackedClient, postgres::Error> {
        Ok(TrackedClient { client: self.0.connect()?, alive_at: Instant::now() })
    }

    fn is_valid(&self, c: &mut TrackedClient) -> Result<(), postgres::Error> {
        if c.alive_at.elapsed() < PROVEN_FOR {
            return Ok(());
        }
        self.0.is_valid(&mut c.client)?;
        c.alive_at = Instant::now();
        Ok(())
    }

    /// Called as a connection is handed back: a closed one is dropped; an open one just
    /// served its caller, so it is alive now.
    fn has_broken(&self, c: &mut TrackedClient) -> bool {
        if self.0.has_broken(&mut c.client) {
            return true;
        }
        c.alive_at = Instant::now();
        false
    }
}

pub(super) type Conn = r2d2::PooledConnection<Manager>;

pub(super) fn tls_config(settings: &PgStoreSettings) -> Result<rustls::ClientConfig, StoreError> {
    pg_link::tls_config(settings.ca_file.as_deref(), "store.ca_file").map_err(StoreError::Backend)
}

/// Connection failures seen by the pool's own threads (reconnecting in the background):
/// logged with the URL they concern (which carries no password), and the last one kept
/// for the error a caller gets when no connection came within the timeout.
#[derive(Debug)]
struct ConnectFailures {
    url: String,
    last: Arc<Mutex<Option<String>>>,
}

impl r2d2::HandleError<postgres::Error> for ConnectFailures {
    fn handle_error(&self, error: postgres::Error) {
        let text = with_causes(&error);
        log::warn!("user store {}: {text}", self.url);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
    }
}

/// The pool, and the last connection failure its threads saw.
pub(super) struct Pool {
    pool: r2d2::Pool<Manager>,
    last_failure: Arc<Mutex<Option<String>>>,
}

/// A pool of at most `pool_size` connections; none is opened yet (the first checkout,
/// the migrations at start, says whether PostgreSQL is there).
pub(super) fn build(settings: &PgStoreSettings) -> Result<Pool, StoreError> {
    let (config, tls) = super::connect_settings(settings)?;
    let manager = Manager(PostgresConnectionManager::new(config, tls));
    let last_failure = Arc::new(Mutex::new(None));
    let pool = r2d2::Pool::builder()
        .max_size(settings.pool_size)
        // A few connections stay open for a quiet server; the rest close after idling.
        .min_idle(Some(settings.pool_size.min(2)))
        .connection_timeout(settings.connect_timeout)
        .test_on_check_out(true)
        .error_handler(Box::new(ConnectFailures { url: settings.display_url(), last: last_failure.clone() }))
        .build_unchecked(manager);
    Ok(Pool { pool, last_failure })
}

/// A connection from the pool within `connect_timeout`, or Backend naming the URL and
/// why connecting failed.
pub(super) fn checkout(pool: &Pool, url: &str) -> Result<Conn, StoreError> {
    let result = pool.pool.get();
    let mut last = pool.last_failure.lock().unwrap_or_else(|p| p.into_inner());
    match result {
        Ok(conn) => {
            // A failure from before PostgreSQL came back must not explain a later timeout.
            *last = None;
            Ok(conn)
        }
        Err(e) => {
            let why = last.clone().unwrap_or_else(|| format!("{e} (all {} connections busy?)", pool.pool.max_size()));
            Err(StoreError::Backend(format!("PostgreSQL at {url} is unavailable: {why}")))
        }
    }
}

/// A statement's error as the store reports it.
pub(super) fn backend(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!("PostgreSQL: {} ({})", db.message(), db.code().code())),
        None => StoreError::Backend(format!("PostgreSQL: {}", with_causes(&e))),
    }
}

/// Column `i` of a row, or Backend if it does not hold a `T` (a schema changed by hand):
/// rows come from the network, so a surprise is an error, not a panic.
pub(super) fn col<'a, T: postgres::types::FromSql<'a>>(r: &'a postgres::Row, i: usize) -> Result<T, StoreError> {
    r.try_get(i).map_err(|e| StoreError::Backend(format!("PostgreSQL: column {i}: {}", with_causes(&e))))
}

/// The SQLSTATE of a unique violation (a name that exists already).
pub(super) fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
}
