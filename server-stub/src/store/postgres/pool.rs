//! Pooled connections to PostgreSQL: `r2d2` over the sync `postgres` client, TLS by
//! rustls (ring) verifying PostgreSQL's certificate and host name against the CA file or
//! the public web roots.
//!
//! Every wait is bounded by `connect_timeout`: connecting, waiting for a free
//! connection, and (in the settings) each statement. A connection is checked with an empty
//! query when it is taken from the pool, so after PostgreSQL restarts the first call gets
//! a fresh connection instead of an error; one that broke is dropped when handed back.

use std::sync::Arc;

use r2d2_postgres::{r2d2, PostgresConnectionManager};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::settings::PgStoreSettings;
use crate::store::StoreError;

pub(super) type Manager = PostgresConnectionManager<MakeRustlsConnect>;
pub(super) type Pool = r2d2::Pool<Manager>;
pub(super) type Conn = r2d2::PooledConnection<Manager>;

/// The rustls client configuration: TLS 1.2/1.3 with the ring provider, trusting the CA
/// file's certificates (only those) or, without one, the public web roots.
pub(super) fn tls_config(settings: &PgStoreSettings) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match &settings.ca_file {
        Some(path) => {
            let certs = crate::tls::load_certs(path).map_err(|e| StoreError::Backend(format!("store.ca_file: {e}")))?;
            for cert in certs {
                roots.add(cert).map_err(|e| StoreError::Backend(format!("store.ca_file {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Connection failures seen by the pool's own threads (reconnecting in the background),
/// logged with the URL they concern; the URL carries no password.
#[derive(Debug)]
struct LogWithUrl(String);

impl r2d2::HandleError<postgres::Error> for LogWithUrl {
    fn handle_error(&self, error: postgres::Error) {
        log::warn!("user store {}: {error}", self.0);
    }
}

/// A pool of at most `pool_size` connections; none is opened yet (the first checkout,
/// the migrations at start, says whether PostgreSQL is there).
pub(super) fn build(settings: &PgStoreSettings) -> Result<Pool, StoreError> {
    let manager =
        PostgresConnectionManager::new(settings.client_config()?, MakeRustlsConnect::new(tls_config(settings)?));
    Ok(r2d2::Pool::builder()
        .max_size(settings.pool_size)
        // A few connections stay open for a quiet server; the rest close after idling.
        .min_idle(Some(settings.pool_size.min(2)))
        .connection_timeout(settings.connect_timeout)
        .test_on_check_out(true)
        .error_handler(Box::new(LogWithUrl(settings.display_url())))
        .build_unchecked(manager))
}

/// A connection from the pool within `connect_timeout`, or Backend naming the URL.
pub(super) fn checkout(pool: &Pool, url: &str) -> Result<Conn, StoreError> {
    pool.get().map_err(|e| StoreError::Backend(format!("PostgreSQL at {url} is unavailable: {e}")))
}

/// A statement's error as the store reports it.
pub(super) fn backend(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!("PostgreSQL: {} ({})", db.message(), db.code().code())),
        None => StoreError::Backend(format!("PostgreSQL: {e}")),
    }
}

/// The SQLSTATE of a unique violation (a name that exists already).
pub(super) fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
}
