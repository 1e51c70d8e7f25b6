//! The listener: accepts TCP, finishes TLS within the handshake timeout, bounds the number
//! of connections, and runs one session task per connection until shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::audit::AuditLog;
use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::Config;
use crate::config::SqlBackend;
use crate::connection::FrameBudget;
use crate::crypto::{SecretsKey, KEY_FILE};
use crate::notify::Notifier;
use crate::password::{HashCost, PasswordChecker};
use crate::sql::postgres::PgSettings;
use crate::sql::{CancelHandle, SqlLimits, SqlSettings, WorkerSettings};
use crate::store::UserStore;
use crate::throttle::LoginAdmission;
use crate::{resources, session, tls};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("cannot open the audit log {path}: {source}")]
    Audit { path: String, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("code delivery: {0}")]
    Notify(String),
    #[error("[sql.postgres]: {0}")]
    Sql(String),
}

/// A live session as a cancel request finds it.
pub(crate) struct SessionEntry {
    pub cancel_key: [u8; 16],
    pub interrupt: Option<CancelHandle>,
}

/// Everything sessions share; one per server, so servers can run side by side.
pub(crate) struct State {
    pub config: Config,
    pub auth: Authenticator,
    pub passwords: PasswordChecker,
    pub audit: AuditLog,
    pub notifier: Notifier,
    pub admission: LoginAdmission,
    pub sessions: Mutex<HashMap<u64, SessionEntry>>,
    /// Memory for frames still arriving, shared by all connections.
    pub frame_budget: FrameBudget,
    /// What each session's SQL thread is started with.
    pub sql_settings: SqlSettings,
}

impl State {
    pub fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SessionEntry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Server;

pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, tells every session to close (rolling back open transactions)
    /// and waits up to five seconds for them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

impl Server {
    /// Binds `config.server.listen` (port 0 picks a free port) and serves on the current
    /// tokio runtime until [`ServerHandle::shutdown`].
    /// Also sets the process umask to 077 and raises its file descriptor limit
    /// ([`resources`]).
    pub async fn start(mut config: Config, clock: Arc<dyn Clock>) -> Result<ServerHandle, StartError> {
        resources::private_files();
        if let Err(e) = resources::tighten_data_dir(&config.data_dir) {
            log::warn!("{}: cannot take group and other permissions away: {e}", config.data_dir.display());
        }
        config.server.max_connections = resources::fit_connections(config.server.max_connections).max_connections;
        let tls = tls::server_config(&config.path(&config.server.cert), &config.path(&config.server.key))?;
        let store: Arc<dyn UserStore> = crate::store::open_for_server(&config).await?;
        let key = SecretsKey::load(&config.data_dir.join(KEY_FILE))?;
        let audit_path = config.path(&config.audit.file);
        let audit = AuditLog::open(&audit_path)
            .map_err(|source| StartError::Audit { path: audit_path.display().to_string(), source })?;
        let cost = HashCost::from_config(&config.auth);
        let workers = config.auth.hash_workers;
        let passwords = tokio::task::spawn_blocking(move || PasswordChecker::new(workers, cost))
            .await
            .map_err(|e| StartError::Hash(e.to_string()))?
            .map_err(StartError::Hash)?;
        let addr = config.listen_addr();
        let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
        let notifier = Notifier::new(&config).map_err(StartError::Notify)?;
        let admission = LoginAdmission::new(config.auth.address_max_pending_logins);
        let auth = Authenticator::new(&config, store, key, clock);
        let frame_budget = FrameBudget::new(config.server.frame_memory_mib);
        let sql_settings = sql_settings(&config)?;
        let state = Arc::new(State {
            config,
            auth,
            passwords,
            audit,
            notifier,
            admission,
            sessions: Mutex::new(HashMap::new()),
            frame_budget,
            sql_settings,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(state, listener, TlsAcceptor::from(tls), shutdown_rx));
        Ok(ServerHandle { local_addr, shutdown, task })
    }
}

/// What each session's SQL worker is started with: the `[sql] backend` chosen.
fn sql_settings(config: &Config) -> Result<SqlSettings, StartError> {
    Ok(match config.sql.backend {
        SqlBackend::Sqlite => SqlSettings::Sqlite(WorkerSettings {
            db_path: config.path(&config.sql.database),
            default_fetch: config.sql.fetch_rows,
            limits: SqlLimits {
                max_statement_bytes: config.sql.max_statement_bytes,
                max_value_bytes: config.sql.max_value_bytes,
            },
        }),
        SqlBackend::Postgres => {
            SqlSettings::Postgres(Arc::new(PgSettings::from_config(config).map_err(StartError::Sql)?))
        }
    })
}

async fn accept_loop(
    state: Arc<State>,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    mut shutdown: watch::Receiver<bool>,
) {
    let max = state.config.server.max_connections;
    let permits = Arc::new(Semaphore::new(max));
    let handshake_timeout = Duration::from_secs(state.config.server.tls_handshake_timeout_secs);
    let mut failures = AcceptFailures::default();
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: the connection stays in the
                    // backlog, so accepting again at once would spin. Wait, longer each
                    // time in a row, and log once per streak.
                    let pause = failures.failed(&e);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.changed() => break,
                    }
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        failures.succeeded();
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            log::warn!("{peer}: refused, {max} connections already open (server.max_connections)");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let acceptor = acceptor.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    log::info!("{peer}: TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    log::info!("{peer}: TLS handshake not finished within {}s; dropped", handshake_timeout.as_secs());
                    return;
                }
            };
            session::run(state, tls, peer, shutdown).await;
        });
    }
    drop(listener);
    // Sessions see the same shutdown signal; wait for them to hand back their permits.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), permits.acquire_many(all)).await;
}

/// A streak of failed `accept` calls.
#[derive(Default)]
struct AcceptFailures {
    in_a_row: u32,
}

impl AcceptFailures {
    /// How long to wait after this failure: 10 ms doubling to 1 s.
    fn failed(&mut self, e: &std::io::Error) -> Duration {
        if self.in_a_row == 0 {
            log::warn!("accept failed: {e}; retrying with backoff (is RLIMIT_NOFILE too low?)");
        }
        self.in_a_row = self.in_a_row.saturating_add(1);
        Duration::from_millis(10u64 << self.in_a_row.min(7)).min(Duration::from_secs(1))
    }

    fn succeeded(&mut self) {
        if self.in_a_row > 0 {
            log::info!("accepting again after {} failed accepts", self.in_a_row);
            self.in_a_row = 0;
        }
    }
}
