//! SQL on PostgreSQL. One PostgreSQL session per ready ODBC session, opened at its first
//! SQL request (after the second factor) on the session's own thread with the sync
//! `postgres` crate, over TLS verified against `[sql.postgres] ca_file`. The server logs
//! in as the login role of the URL and runs `SET ROLE` to the user's mapped role before
//! any user SQL, so the DBA's GRANTs decide what each user may do.

mod catalog;
mod catalog_keys;
mod catalog_procs;
mod connect;
mod cursor;
mod errors;
mod guard;
mod markers;
mod params;
mod savepoint;
mod statement;
mod type_info;
mod types;
mod values;
mod worker;

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use postgres::CancelToken;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use connect::PgSettings;

use crate::sql::thread::{Job, Shared};
use crate::sql::{CancelHandle, CancelSql, StartError};

/// Connects as the login role, takes on `user`'s role and starts the session's thread;
/// blocks until the PostgreSQL session is ready or refused.
pub fn start(
    settings: &Arc<PgSettings>,
    user: &str,
    role: Option<&str>,
    autocommit: bool,
    shared: Arc<Shared>,
    jobs: mpsc::Receiver<Job>,
) -> Result<CancelHandle, StartError> {
    let thread_settings = settings.clone();
    let user = user.to_owned();
    let role = role.map(str::to_owned);
    let cancel_shared = shared.clone();
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("sql-session-pg".into())
        .spawn(move || {
            // The sync client drives its own small runtime: this thread is not a tokio one.
            let settings = thread_settings;
            let session = match connect::open_session(&settings, &user, role.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(session.client.cancel_token()));
            worker::Worker::new(session, &settings, autocommit, shared).run(jobs);
        })
        .map_err(|e| {
            StartError::new(errors::backend_unavailable(), format!("cannot start a PostgreSQL session thread: {e}"))
        })?;
    let token = ready_rx
        .recv()
        .map_err(|_| StartError::new(errors::backend_unavailable(), "PostgreSQL session thread died at start"))??;
    Ok(Arc::new(PgCancel { token, tls: settings.tls.clone(), shared: cancel_shared }))
}

/// A Cancel request becomes PostgreSQL's own cancel request (a new connection to the
/// server with the backend's key), sent only while a statement runs.
struct PgCancel {
    token: CancelToken,
    tls: MakeRustlsConnect,
    /// Says whether the session thread is working on a request.
    shared: Arc<Shared>,
}

/// How often, and how many times, a cancel is sent again while the same request still
/// runs: PostgreSQL drops a cancel that arrives between two messages of a request (while
/// the statement is parsed, say), which would leave a query timeout without effect.
const CANCEL_RETRY: std::time::Duration = std::time::Duration::from_millis(300);
const CANCEL_TRIES: usize = 10;

impl CancelSql for PgCancel {
    fn cancel(&self) {
        if !self.shared.busy.load(Ordering::Acquire) {
            return;
        }
        let request = self.shared.requests.load(Ordering::Acquire);
        let token = self.token.clone();
        let tls = self.tls.clone();
        let shared = self.shared.clone();
        // The sync cancel blocks on its own runtime, which must not be a tokio worker's.
        let sent = std::thread::Builder::new().name("pg-cancel".into()).spawn(move || {
            for _ in 0..CANCEL_TRIES {
                if let Err(e) = token.cancel_query(tls.clone()) {
                    log::warn!("PostgreSQL cancel request failed: {e}");
                    return;
                }
                std::thread::sleep(CANCEL_RETRY);
                let same = shared.requests.load(Ordering::Acquire) == request;
                if !(same && shared.busy.load(Ordering::Acquire)) {
                    return;
                }
            }
        });
        if let Err(e) = sent {
            log::warn!("cannot start the PostgreSQL cancel request: {e}");
        }
    }
}
