//! The per-session SQL backend. Each logged-in session owns one [`SqlWorker`]: a thread
//! holding the session's database connection (SQLite, or a PostgreSQL session), so the
//! database never blocks the async executor, and an open cursor can stay alive between
//! Fetch requests without holding the result in memory. The session sees only this
//! interface: requests in, encoded reply frames out, a cancel handle, and whether a
//! transaction or cursor is open.

pub mod catalog_layout;
pub mod column_size;
pub mod cursor;
pub mod datetime;
pub mod postgres;
pub mod read_ahead;
pub mod sqlite;
pub mod thread;

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::oneshot;
use twofactor_protocol::{CatalogRequest, ErrorInfo, RowBatch, SessionOptions};

pub use sqlite::{SqlLimits, WorkerSettings};
use thread::{Job, Shared};

#[derive(Debug)]
pub enum Request {
    ExecDirect { sql: String, params: RowBatch, fetch_rows: u32 },
    Prepare { sql: String },
    Execute { statement_id: u32, params: RowBatch, fetch_rows: u32 },
    Fetch { max_rows: u32 },
    CloseCursor,
    CloseStatement { statement_id: u32 },
    SetAutocommit { on: bool },
    SessionOptions(SessionOptions),
    EndTransaction { commit: bool },
    Catalog { request: CatalogRequest, fetch_rows: u32 },
}

/// Which backend the sessions of a server run their SQL on (`[sql] backend`).
#[derive(Debug, Clone)]
pub enum SqlSettings {
    Sqlite(WorkerSettings),
    Postgres(Arc<postgres::PgSettings>),
}

/// Stops the statement a session is running, from another task (a Cancel request).
pub trait CancelSql: Send + Sync {
    fn cancel(&self);
}

pub type CancelHandle = Arc<dyn CancelSql>;

/// Why a session's SQL could not start: what the client is told, and what the log says
/// (which may name more, never a password).
#[derive(Debug)]
pub struct StartError {
    pub client: ErrorInfo,
    pub log: String,
}

impl StartError {
    pub fn new(client: ErrorInfo, log: impl Into<String>) -> Self {
        StartError { client, log: log.into() }
    }
}

/// The session's handle on its SQL thread. Dropping it stops any running statement and
/// ends the thread, which rolls back an open transaction.
pub struct SqlWorker {
    jobs: Option<mpsc::Sender<Job>>,
    cancel: CancelHandle,
    shared: Arc<Shared>,
}

impl SqlWorker {
    /// Starts the thread and opens the session's database connection as `user`; blocks
    /// until it is open (run it on the blocking pool). `autocommit` is the session's
    /// setting so far (the session starts its worker at its first SQL request, and may
    /// have switched autocommit off before). `role`: a service account's own PostgreSQL
    /// role, taken instead of the `[sql.roles]` / `role_map` mapping.
    pub fn spawn(
        settings: &SqlSettings,
        user: &str,
        role: Option<&str>,
        autocommit: bool,
    ) -> Result<SqlWorker, StartError> {
        let shared = Arc::new(Shared::default());
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let cancel = match settings {
            SqlSettings::Sqlite(s) => sqlite::start(s, autocommit, shared.clone(), jobs_rx)?,
            SqlSettings::Postgres(s) => postgres::start(s, user, role, autocommit, shared.clone(), jobs_rx)?,
        };
        Ok(SqlWorker { jobs: Some(jobs_tx), cancel, shared })
    }

    /// True while the session has a transaction or a cursor open (read right after a
    /// reply it may still show the state before; it is exact once the thread waits).
    pub fn holds_snapshot(&self) -> bool {
        self.shared.holds_snapshot.load(Ordering::Acquire)
    }

    /// True once the database connection is lost; the session should end.
    pub fn ended(&self) -> bool {
        self.shared.ended.load(Ordering::Acquire)
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Runs one request; `None` if the thread is gone.
    pub async fn call(&self, request: Request) -> Option<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.jobs.as_ref()?.send((request, tx)).ok()?;
        rx.await.ok()
    }
}

impl Drop for SqlWorker {
    fn drop(&mut self) {
        self.shared.abandoned.store(true, Ordering::Release);
        self.cancel.cancel();
        self.jobs.take();
    }
}
