//! The listener: accepts TCP, finishes TLS within the handshake timeout and runs the login
//! (all three on the handshake runtime, [`crate::handshake_runtime`]), bounds the number
//! of connections, and serves each logged-in session as a task of the caller's runtime
//! until shutdown; and the
//! drain that ends it gracefully (see [`ServerHandle::drain`] and [`crate::lifecycle`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::audit::AuditLog;
use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::Config;
use crate::config::SqlBackend;
use crate::connection::FrameBudget;
use crate::crypto::{SecretsKey, KEY_FILE};
use crate::handshake_runtime::{self, MovableTcp};
use crate::health::{self, Readiness};
use crate::lifecycle::{Lifecycle, Stage};
use crate::notify::Notifier;
use crate::password::{HashCost, PasswordChecker};
use crate::sql::postgres::PgSettings;
use crate::sql::{CancelHandle, SqlLimits, SqlSettings, WorkerSettings};
use crate::store::UserStore;
use crate::throttle::LoginAdmission;
use crate::{proxy_protocol, resources, session, tls};

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
    #[error("cannot listen on {addr} (server.health_listen): {source}")]
    HealthBind { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    KeyMismatch(String),
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("code delivery: {0}")]
    Notify(String),
    #[error("[sql.postgres]: {0}")]
    Sql(String),
    #[error("service accounts' client CAs: {0}")]
    ClientCa(String),
    #[error("enrolment page ([enrol_web]): {0}")]
    EnrolWeb(String),
    #[error("{0}")]
    Hook(String),
    /// A bad `[ldap]`: an unreadable or non-private service-account password file, a CA
    /// file that does not load.
    #[error("directory ([ldap]): {0}")]
    Ldap(String),
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
    /// The mechanisms that check passwords, in the server's order (docs/ldap.md).
    pub first_factors: crate::first_factor::FirstFactors,
    pub audit: AuditLog,
    pub notifier: Notifier,
    pub admission: LoginAdmission,
    pub sessions: Mutex<HashMap<u64, SessionEntry>>,
    /// Memory for frames still arriving, shared by all connections.
    pub frame_budget: FrameBudget,
    /// What each session's SQL thread is started with.
    pub sql_settings: SqlSettings,
    /// Serving, draining, closing: what sessions and the accept loop watch.
    pub lifecycle: Arc<Lifecycle>,
    /// Relays cancels for sessions held elsewhere (PostgreSQL store only).
    pub cancel_relay: Option<crate::cancel_relay::CancelRelay>,
}

impl State {
    pub fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<u64, SessionEntry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Server;

pub struct ServerHandle {
    local_addr: SocketAddr,
    health_addr: Option<SocketAddr>,
    lifecycle: Arc<Lifecycle>,
    /// One permit per open connection.
    connections: Arc<Semaphore>,
    max_connections: usize,
    drain_grace: Duration,
    drain_timeout: Duration,
    /// The accept loop; it ends once every session has ended.
    task: JoinHandle<()>,
    health: Option<JoinHandle<()>>,
    /// The enrolment page (`[enrol_web]`), when it is on.
    enrol_web: Option<(SocketAddr, JoinHandle<()>)>,
}

/// How long the accept loop waits for sessions after telling them to close at once.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the readiness check listens (`server.health_listen`), if it is on.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_addr
    }

    /// Where the enrolment page listens (`[enrol_web]`), if it is on.
    pub fn enrol_web_addr(&self) -> Option<SocketAddr> {
        self.enrol_web.as_ref().map(|(a, _)| *a)
    }

    /// Stops accepting, tells every session to close (rolling back open transactions)
    /// and waits up to five seconds for them.
    pub async fn shutdown(self) {
        self.lifecycle.advance(Stage::Closing);
        self.finish().await;
    }

    /// The graceful end (SIGTERM): readiness answers 503 at once; for
    /// `server.drain_grace_secs` nothing else changes, so balancers that probe notice
    /// before connections are refused; then the listener closes, logins in progress end
    /// and every session ends at its next idle moment (outside a request, transaction or
    /// cursor). Sessions still busy `server.drain_timeout_secs` after the call are closed,
    /// their statements interrupted and their transactions rolled back. `hurry` (a second
    /// signal, say) skips to that at once. Returns when every session has ended.
    pub async fn drain(mut self, hurry: impl std::future::Future<Output = ()>) {
        tokio::pin!(hurry);
        let started = Instant::now();
        let deadline = started + self.drain_timeout;
        self.lifecycle.advance(Stage::Draining);
        log::info!(
            "draining: readiness answers 503; {} connections open; accepting for {}s more \
             (server.drain_grace_secs), closing busy sessions after {}s (server.drain_timeout_secs)",
            self.open_connections(),
            self.drain_grace.as_secs(),
            self.drain_timeout.as_secs()
        );
        let mut hurried = tokio::select! {
            _ = tokio::time::sleep(self.drain_grace) => false,
            _ = &mut hurry => true,
        };
        self.lifecycle.advance(Stage::Refusing);
        let mut ended = false;
        if !hurried {
            log::info!("drain: no longer accepting; {} sessions end when idle", self.open_connections());
            tokio::select! {
                _ = &mut self.task => ended = true,
                _ = tokio::time::sleep_until(deadline) => {}
                _ = &mut hurry => hurried = true,
            }
        }
        if !ended {
            let why = if hurried { "asked to hurry" } else { "server.drain_timeout_secs is over" };
            log::warn!(
                "drain: {why}; closing the {} sessions still open (open transactions are rolled back)",
                self.open_connections()
            );
        }
        self.lifecycle.advance(Stage::Closing);
        if !ended {
            let _ = (&mut self.task).await;
        }
        let (left, took) = (self.open_connections(), started.elapsed().as_secs_f64());
        log::info!("drain: done in {took:.1}s; {left} connections left");
        self.finish().await;
    }

    fn open_connections(&self) -> usize {
        self.max_connections.saturating_sub(self.connections.available_permits())
    }

    async fn finish(self) {
        if !self.task.is_finished() {
            let _ = self.task.await;
        }
        if let Some(h) = self.health {
            h.abort();
        }
        if let Some((_, h)) = self.enrol_web {
            h.abort();
        }
    }
}

impl Server {
    /// Binds `config.server.listen` (port 0 picks a free port) and serves, its sessions on
    /// the current tokio runtime, until [`ServerHandle::shutdown`].
    /// Also sets the process umask to 077 and raises its file descriptor limit
    /// ([`resources`]).
    pub async fn start(mut config: Config, clock: Arc<dyn Clock>) -> Result<ServerHandle, StartError> {
        resources::private_files();
        if let Err(e) = resources::tighten_data_dir(&config.data_dir) {
            log::warn!("{}: cannot take group and other permissions away: {e}", config.data_dir.display());
        }
        config.server.max_connections = resources::fit_connections(config.server.max_connections).max_connections;
        let client_roots = crate::client_ca::roots(&config).map_err(|e| StartError::ClientCa(e.to_string()))?;
        let tls =
            tls::server_config(&config.path(&config.server.cert), &config.path(&config.server.key), client_roots)?;
        let store: Arc<dyn UserStore> = crate::store::open_for_server(&config).await?;
        let key = SecretsKey::load(&config.data_dir.join(KEY_FILE))?;
        // On the blocking pool: the PostgreSQL store's calls must not run on a worker.
        let (checked_store, key_path) = (store.clone(), config.data_dir.join(KEY_FILE));
        tokio::task::spawn_blocking(move || {
            let key = SecretsKey::load(&key_path)?;
            crate::key_check::check(checked_store.as_ref(), &key, &key_path).map_err(StartError::KeyMismatch)
        })
        .await
        .map_err(|e| StartError::KeyMismatch(e.to_string()))??;
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
        let health_listener = match config.health_addr() {
            Some(addr) => {
                let l = health::bind(addr).await.map_err(|source| StartError::HealthBind { addr, source })?;
                let bound = l.local_addr().map_err(|source| StartError::HealthBind { addr, source })?;
                Some((l, bound))
            }
            None => None,
        };
        let enrol_web = crate::enrol_web::prepare(&config).await?;
        let notifier = Notifier::new(&config).map_err(StartError::Notify)?;
        let admission = LoginAdmission::new(config.auth.address_max_pending_logins);
        let hook = crate::hook::Hook::open(&config).map_err(StartError::Hook)?;
        let first_factors = crate::first_factor::FirstFactors::open(&config).map_err(StartError::Ldap)?;
        let auth = Authenticator::new(&config, store, key, clock).with_hook(hook);
        let frame_budget = FrameBudget::new(config.server.frame_memory_mib);
        let sql_settings = sql_settings(&config)?;
        let lifecycle = Arc::new(Lifecycle::new());
        let health_addr = health_listener.as_ref().map(|(_, a)| *a);
        let health = health_listener.map(|(listener, _)| {
            let store = auth.store.clone();
            let readiness = Readiness::new(Arc::new(move || store.check_health()), lifecycle.clone());
            tokio::spawn(health::serve(listener, Arc::new(readiness)))
        });
        let (max_connections, drain_grace, drain_timeout) = (
            config.server.max_connections,
            Duration::from_secs(config.server.drain_grace_secs),
            Duration::from_secs(config.server.drain_timeout_secs),
        );
        let connections = Arc::new(Semaphore::new(max_connections));
        let (cancel_relay, relay_listener) = crate::cancel_relay::prepare(&config)?.unzip();
        let state = Arc::new(State {
            config,
            auth,
            passwords,
            first_factors,
            audit,
            notifier,
            admission,
            sessions: Mutex::new(HashMap::new()),
            frame_budget,
            sql_settings,
            lifecycle: lifecycle.clone(),
            cancel_relay,
        });
        if let Some(listener) = relay_listener {
            listener.start(&state);
        }
        let enrol_web = enrol_web.map(|web| (web.local_addr(), web.start(&state)));
        // The listener moves to the handshake runtime, the sessions come back here.
        let listener = listener.into_std().map_err(|source| StartError::Bind { addr, source })?;
        let sessions = tokio::runtime::Handle::current();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let permits = connections.clone();
        let task = handshake_runtime::spawn_accept_loop(crate::config::cores_but_one(), async move {
            match TcpListener::from_std(listener) {
                Ok(listener) => accept_loop(state, listener, acceptor, permits, sessions).await,
                Err(e) => log::error!("cannot listen on the handshake runtime: {e}"),
            }
        })
        .map_err(|source| StartError::Bind { addr, source })?;
        Ok(ServerHandle {
            local_addr,
            health_addr,
            lifecycle,
            connections,
            max_connections,
            drain_grace,
            drain_timeout,
            task,
            health,
            enrol_web,
        })
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
                mmap_bytes: u64::from(config.sql.mmap_mib) << 20,
            },
        }),
        SqlBackend::Postgres => {
            SqlSettings::Postgres(Arc::new(PgSettings::from_config(config).map_err(StartError::Sql)?))
        }
    })
}

/// Accepts until the drain stops taking connections, then waits for the sessions to end.
async fn accept_loop(
    state: Arc<State>,
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    permits: Arc<Semaphore>,
    sessions: tokio::runtime::Handle,
) {
    let max = state.config.server.max_connections;
    let refusing = state.lifecycle.reached(Stage::Refusing);
    tokio::pin!(refusing);
    let handshake_timeout = Duration::from_secs(state.config.server.tls_handshake_timeout_secs);
    let balancers = Arc::new(state.config.proxy_protocol_from());
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
                        _ = &mut refusing => break,
                    }
                    continue;
                }
            },
            _ = &mut refusing => break,
        };
        failures.succeeded();
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            log::warn!("{peer}: refused, {max} connections already open (server.max_connections)");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let acceptor = acceptor.clone();
        let shutdown = state.lifecycle.closing();
        let balancers = balancers.clone();
        let sessions = sessions.clone();
        tokio::spawn(async move {
            let mut tcp = tcp;
            // The PROXY header and the TLS handshake share the handshake timeout.
            let deadline = Instant::now() + handshake_timeout;
            let peer = if balancers.contains(&peer.ip().to_canonical()) {
                match tokio::time::timeout_at(deadline, proxy_protocol::read_client_addr(&mut tcp, peer)).await {
                    Ok(Ok(client)) => client,
                    Ok(Err(e)) => {
                        log::warn!("{peer}: {e} (server.proxy_protocol_from lists this address); dropped");
                        return;
                    }
                    Err(_) => {
                        log::info!("{peer}: no PROXY header within {}s; dropped", handshake_timeout.as_secs());
                        return;
                    }
                }
            } else {
                peer
            };
            let tls = match tokio::time::timeout_at(deadline, acceptor.accept(MovableTcp::new(tcp))).await {
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
            let Some(facts) = crate::tls::TlsFacts::of(tls.get_ref().1) else {
                log::warn!("{peer}: no TLS exporter after the handshake; dropped");
                return;
            };
            // The login runs here too; only a logged-in session moves to the sessions' runtime.
            let Some(mut session) = session::log_in(state, tls, facts, peer, shutdown).await else {
                return;
            };
            let transit = match session.stream_mut().get_mut().0.depart() {
                Ok(t) => t,
                Err(e) => {
                    log::warn!("{peer}: cannot hand the session to the sessions' runtime: {e}; closed");
                    return;
                }
            };
            // Spawned on a runtime that has shut down, the task is dropped and the
            // connection closed.
            sessions.spawn(async move {
                let _permit = permit;
                if let Err(e) = session.stream_mut().get_mut().0.arrive(transit) {
                    log::warn!("{peer}: cannot register the session with the sessions' runtime: {e}; closed");
                    return;
                }
                session.serve().await;
            });
        });
    }
    // Closed at once, so a balancer's next connection is refused and goes elsewhere.
    drop(listener);
    // Sessions end by themselves when idle, and all of them once the stage is Closing;
    // wait for them to hand back their permits, at most CLOSE_WAIT after Closing.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let closed_and_waited = async {
        state.lifecycle.reached(Stage::Closing).await;
        tokio::time::sleep(CLOSE_WAIT).await;
    };
    tokio::select! {
        _ = permits.acquire_many(all) => {}
        _ = closed_and_waited => log::warn!("sessions still open {}s after closing; exiting anyway", CLOSE_WAIT.as_secs()),
    }
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
