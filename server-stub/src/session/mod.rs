//! One connection: a state machine whose states are named for what they await. Each
//! state accepts its own messages only; anything else is a protocol violation that closes
//! this connection alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use twofactor_protocol::{
    negotiate_version, ClientMessage, ErrorInfo, ServerMessage, MAX_FRAME_LEN, MAX_PREAUTH_FRAME_LEN,
};

use crate::connection::{Conn, IoLimits, ReadError};
use crate::lifecycle::Stage;
use crate::server::State;
use crate::sql::{Request, SqlWorker};
use crate::store::AttemptFinished;
use crate::tls::TlsFacts;

mod delegated;
mod first_factor;
mod login;
mod second_factor;
mod service_login;
mod sql;
mod ticket;

use login::login;
use second_factor::second_factor;
use service_login::{service_login, ServiceProof};
pub(crate) use sql::cancel_here;
use sql::{cancel, run_sql};
use ticket::{request_ticket, TicketOffer};

const LOCKED: &str = "account is locked; ask the administrator to unlock it";
const THROTTLED: &str = "too many failed logins from this address; try again later";
const CODE_REJECTED: &str = "two-factor code rejected";
const BUSY: &str = "too many login attempts at once; try again later";
const SEND_FAILED: &str = "could not send the two-factor code; try again later or ask the administrator";

enum Phase {
    AwaitingHello,
    AwaitingFirstFactor,
    AwaitingSecondFactor(LoggedIn),
    Ready(LoggedIn, Sql),
    Closed,
}

/// A ready session's SQL side. The worker (a thread and an open database connection)
/// starts at the first request that needs it, so an idle session costs neither; until then
/// the autocommit setting is only remembered, and there is nothing to commit or cancel.
struct Sql {
    worker: Option<SqlWorker>,
    autocommit: bool,
}

impl Sql {
    /// A transaction or cursor is open (the database holds a snapshot for it).
    fn holds_snapshot(&self) -> bool {
        self.worker.as_ref().is_some_and(SqlWorker::holds_snapshot)
    }
}

struct LoggedIn {
    user: String,
    session_id: u64,
    /// The active second-factor method, for the audit.
    method: &'static str,
    /// A ticket was issued on this session (one per session).
    ticket_issued: bool,
    /// How the login was completed. Only a Ready session whose second factor was a code
    /// (`Code`: Ready is reached from AwaitingSecondFactor only through an accepted code)
    /// may ask for a ticket; a service account never gets a second factor.
    via: LoginVia,
    /// The PostgreSQL role a service account's sessions take instead of the mapping.
    sql_role: Option<String>,
}

/// How a session came to be logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginVia {
    /// Password, then a second-factor code.
    Code,
    /// Password, then a two-factor ticket instead of the code.
    Ticket,
    /// Password alone: no second factor is due for this user (or the server).
    NoSecondFactor,
    /// A service account's key or client certificate (KeyLogin, CertLogin).
    ServiceAccount,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Sends a fatal error and closes the connection.
    async fn fail(&mut self, state: &[u8; 5], native: i32, message: &str) -> Phase {
        self.send(ServerMessage::Error(ErrorInfo::new(state, native, message).fatal())).await;
        self.close().await;
        Phase::Closed
    }

    /// Sends `msg` and goes on to `next`; a peer that cannot be written to is gone.
    async fn reply(&mut self, msg: ServerMessage, next: Phase) -> Phase {
        if self.send(msg).await {
            next
        } else {
            Phase::Closed
        }
    }

    /// A message the current state does not accept.
    async fn out_of_turn(&mut self, msg: &ClientMessage, when: &str) -> Phase {
        self.violation(format!("{} {when}", name_of(msg))).await
    }

    async fn store_unavailable(&mut self) -> Phase {
        self.fail(b"HY000", 0, "the user store is unavailable").await
    }

    async fn violation(&mut self, reason: impl std::fmt::Display) -> Phase {
        log::warn!("{}: protocol violation: {reason}; connection closed", self.peer);
        self.fail(b"08S01", 2001, &format!("protocol violation: {reason}")).await
    }
}

fn name_of(msg: &ClientMessage) -> &'static str {
    match msg {
        ClientMessage::Hello { .. } => "Hello",
        ClientMessage::Login { .. } => "Login",
        ClientMessage::SecondFactor { .. } => "SecondFactor",
        ClientMessage::ExecDirect { .. } => "ExecDirect",
        ClientMessage::Prepare { .. } => "Prepare",
        ClientMessage::Execute { .. } => "Execute",
        ClientMessage::Fetch { .. } => "Fetch",
        ClientMessage::CloseCursor => "CloseCursor",
        ClientMessage::CloseStatement { .. } => "CloseStatement",
        ClientMessage::SetAutocommit { .. } => "SetAutocommit",
        ClientMessage::SessionOptions(_) => "SessionOptions",
        ClientMessage::EndTransaction { .. } => "EndTransaction",
        ClientMessage::Catalog { .. } => "Catalog",
        ClientMessage::Cancel { .. } => "Cancel",
        ClientMessage::Ping => "Ping",
        ClientMessage::Terminate => "Terminate",
        ClientMessage::LoginWithTicket { .. } => "LoginWithTicket",
        ClientMessage::RequestTicket { .. } => "RequestTicket",
        ClientMessage::KeyLogin { .. } => "KeyLogin",
        ClientMessage::CertLogin { .. } => "CertLogin",
    }
}

/// The SQL requests, which only a Ready session may make.
fn sql_request(msg: ClientMessage) -> Result<Request, ClientMessage> {
    Ok(match msg {
        ClientMessage::ExecDirect { sql, params, fetch_rows } => Request::ExecDirect { sql, params, fetch_rows },
        ClientMessage::Prepare { sql } => Request::Prepare { sql },
        ClientMessage::Execute { statement_id, params, fetch_rows } => {
            Request::Execute { statement_id, params, fetch_rows }
        }
        ClientMessage::Fetch { max_rows } => Request::Fetch { max_rows },
        ClientMessage::CloseCursor => Request::CloseCursor,
        ClientMessage::CloseStatement { statement_id } => Request::CloseStatement { statement_id },
        ClientMessage::SetAutocommit { on } => Request::SetAutocommit { on },
        ClientMessage::SessionOptions(options) => Request::SessionOptions(options),
        ClientMessage::EndTransaction { commit } => Request::EndTransaction { commit },
        ClientMessage::Catalog { request, fetch_rows } => Request::Catalog { request, fetch_rows },
        other => return Err(other),
    })
}

/// Removes the session from the cancel registry however the connection ends.
struct Registration {
    state: Arc<State>,
    id: Option<u64>,
}

impl Registration {
    /// Registers the session a login phase produced, if it produced one.
    fn track(&mut self, next: Phase) -> Phase {
        if let Phase::AwaitingSecondFactor(ref l) | Phase::Ready(ref l, _) = next {
            self.id = Some(l.session_id);
        }
        next
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.state.sessions().remove(&id);
        }
    }
}

/// A connection past its login, to be served by [`ReadySession::serve`]: what [`log_in`]
/// hands over, so that the login and the session can run on different runtimes
/// ([`crate::handshake_runtime`]).
pub(crate) struct ReadySession<S> {
    conn: Conn<S>,
    reg: Registration,
    login: LoggedIn,
    sql: Sql,
}

/// The connection from its Hello to the end of its login: None when it closed before
/// (refused, failed, gone), else the session to serve.
pub(crate) async fn log_in<S>(
    state: Arc<State>,
    stream: S,
    tls: TlsFacts,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> Option<ReadySession<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = IoLimits {
        frame_timeout: Duration::from_secs(state.config.server.frame_timeout_secs),
        write_timeout: Duration::from_secs(state.config.server.write_timeout_secs),
    };
    let mut conn = Conn::new(stream, peer, shutdown, state.frame_budget.clone(), limits, tls);
    let mut reg = Registration { state: state.clone(), id: None };
    // Held until the login ends (Ready or closed): one address's logins in progress are capped.
    let Some(admitted) = state.admission.admit(peer.ip()) else {
        log::warn!("{peer}: refused: too many logins in progress from this address");
        conn.fail(b"08004", 1022, "too many logins in progress from this address; try again later").await;
        return None;
    };
    let mut admitted = Some(admitted);
    let login_deadline = Instant::now() + Duration::from_secs(state.config.server.login_timeout_secs);
    let mut phase = Phase::AwaitingHello;
    let mut second_factor_deadline = Instant::now();
    loop {
        phase = match phase {
            Phase::Closed => return None,
            Phase::Ready(login, sql) => return Some(ReadySession { conn, reg, login, sql }),
            Phase::AwaitingHello => match login_read(&state, &mut conn, login_deadline).await {
                Ok(ClientMessage::Hello { min_version, max_version, .. }) => {
                    match negotiate_version(min_version, max_version) {
                        Some(version) => {
                            conn.protocol_version = version;
                            let server_name = state.config.server.name.clone();
                            let ok = ServerMessage::HelloOk { version, server_name };
                            conn.reply(ok, Phase::AwaitingFirstFactor).await
                        }
                        None => conn.fail(b"08001", 2002, "unsupported protocol version").await,
                    }
                }
                Ok(other) => conn.out_of_turn(&other, "before Hello").await,
                Err(e) => on_read_error(&mut conn, e, "hello").await,
            },
            Phase::AwaitingFirstFactor => match login_read(&state, &mut conn, login_deadline).await {
                Ok(msg @ (ClientMessage::Login { .. } | ClientMessage::LoginWithTicket { .. })) => {
                    let next = match msg {
                        ClientMessage::LoginWithTicket { user, password, ticket_id, proof } => {
                            let offer = Some(TicketOffer { ticket_id, proof });
                            login(&state, &mut conn, user, password, offer, login_deadline, &mut admitted).await
                        }
                        ClientMessage::Login { user, password } => {
                            login(&state, &mut conn, user, password, None, login_deadline, &mut admitted).await
                        }
                        other => conn.out_of_turn(&other, "before Login").await,
                    };
                    if let Phase::AwaitingSecondFactor(ref l) | Phase::Ready(ref l, _) = next {
                        reg.id = Some(l.session_id);
                    }
                    if matches!(next, Phase::AwaitingSecondFactor(_)) {
                        second_factor_deadline =
                            Instant::now() + Duration::from_secs(state.config.auth.two_factor_timeout_secs);
                    }
                    next
                }
                Ok(ClientMessage::KeyLogin { user, proof }) => {
                    let proof = ServiceProof::Key(proof);
                    let next = service_login(&state, &mut conn, user, proof, login_deadline, &mut admitted).await;
                    reg.track(next)
                }
                Ok(ClientMessage::CertLogin { user }) => {
                    let proof = ServiceProof::Certificate;
                    let next = service_login(&state, &mut conn, user, proof, login_deadline, &mut admitted).await;
                    reg.track(next)
                }
                Ok(ClientMessage::Cancel { session_id, key }) => cancel(&state, &mut conn, session_id, key).await,
                Ok(ClientMessage::Ping) => conn.reply(ServerMessage::Pong, Phase::AwaitingFirstFactor).await,
                Ok(ClientMessage::Terminate) => Phase::Closed,
                Ok(other) => conn.out_of_turn(&other, "before Login").await,
                Err(e) => on_read_error(&mut conn, e, "login").await,
            },
            Phase::AwaitingSecondFactor(l) => match login_read(&state, &mut conn, second_factor_deadline).await {
                Ok(ClientMessage::SecondFactor { code }) => {
                    second_factor(&state, &mut conn, l, code, &mut admitted).await
                }
                Ok(ClientMessage::Ping) => conn.reply(ServerMessage::Pong, Phase::AwaitingSecondFactor(l)).await,
                Ok(ClientMessage::Terminate) => Phase::Closed,
                Ok(
                    msg @ (ClientMessage::Hello { .. }
                    | ClientMessage::Login { .. }
                    | ClientMessage::LoginWithTicket { .. }
                    | ClientMessage::Cancel { .. }),
                ) => conn.out_of_turn(&msg, "while awaiting the second factor").await,
                Ok(_) => {
                    let e = ErrorInfo::new(b"28000", 1004, "two-factor authentication required");
                    conn.reply(ServerMessage::Error(e), Phase::AwaitingSecondFactor(l)).await
                }
                Err(ReadError::Timeout) => {
                    log::info!("{}: user `{}`: no second factor within the timeout", conn.peer, l.user);
                    state.audit.record(
                        state.auth.now(),
                        &l.user,
                        &conn.peer,
                        "second_factor",
                        "timeout",
                        Some(l.method),
                    );
                    conn.fail(b"08S01", 1005, "two-factor code not received in time; connection closed").await
                }
                Err(e) => on_read_error(&mut conn, e, "second factor").await,
            },
        };
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadySession<S> {
    /// The connection's stream, to move it to the runtime that serves the session.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.conn.stream
    }

    /// Serves the session's requests until it ends.
    pub async fn serve(self) {
        let ReadySession { mut conn, reg, login, sql } = self;
        // `reg` leaves the cancel registry when it drops, at the end.
        let state = &reg.state;
        let mut phase = Phase::Ready(login, sql);
        loop {
            phase = match phase {
                Phase::Ready(l, sql) => match next_request(state, &mut conn, &sql).await {
                    Ok(ClientMessage::Ping) => conn.reply(ServerMessage::Pong, Phase::Ready(l, sql)).await,
                    Ok(ClientMessage::Terminate) => Phase::Closed,
                    // Nothing is pending; the driver reports that itself.
                    Ok(ClientMessage::SecondFactor { .. }) => conn.reply(ServerMessage::Ok, Phase::Ready(l, sql)).await,
                    Ok(ClientMessage::RequestTicket { public_key }) => {
                        request_ticket(state, &mut conn, l, sql, public_key).await
                    }
                    Ok(msg) => match sql_request(msg) {
                        Ok(req) => run_sql(state, &mut conn, l, sql, req).await,
                        Err(other) => conn.out_of_turn(&other, "after login").await,
                    },
                    Err(ReadError::Timeout) => {
                        let (key, secs) = idle_limit(state, &sql);
                        log::info!("{}: user `{}`: idle for {secs}s ({key}); connection closed", conn.peer, l.user);
                        let message = format!("session idle for {secs}s ({key}); connection closed");
                        conn.fail(b"08S01", 2004, &message).await
                    }
                    Err(e) => on_read_error(&mut conn, e, "request").await,
                },
                // Nothing after Ready leads back to the login's states.
                _ => break,
            };
        }
    }
}

/// The next request of a ready session. Times out (`ReadError::Timeout`) after
/// `idle_timeout_secs` with no request, or sooner, after `idle_in_transaction_timeout_secs`,
/// while a transaction or cursor is open. Which one applies is decided when the shorter
/// one runs out, by which time the SQL thread has long said whether it holds a snapshot.
async fn next_request<S: AsyncRead + AsyncWrite + Unpin>(
    state: &State,
    conn: &mut Conn<S>,
    sql: &Sql,
) -> Result<ClientMessage, ReadError> {
    let since = Instant::now();
    let after = |secs: u64| (secs > 0).then(|| since + Duration::from_secs(secs));
    let idle = after(state.config.server.idle_timeout_secs);
    let in_transaction = after(state.config.server.idle_in_transaction_timeout_secs).filter(|_| sql.worker.is_some());
    let mut deadline = match (idle, in_transaction) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    loop {
        let read = tokio::select! {
            biased;
            r = conn.read(MAX_FRAME_LEN, deadline) => r,
            _ = idle_while_draining(state, sql) => Err(ReadError::Shutdown),
        };
        match read {
            Err(ReadError::Timeout) if deadline != idle && !sql.holds_snapshot() => deadline = idle,
            other => return other,
        }
    }
}

/// A login step's next message. Once a drain stops taking connections, logins in
/// progress end too (the client connects again, through the balancer to another
/// instance).
async fn login_read<S: AsyncRead + AsyncWrite + Unpin>(
    state: &State,
    conn: &mut Conn<S>,
    deadline: Instant,
) -> Result<ClientMessage, ReadError> {
    tokio::select! {
        biased;
        r = conn.read(MAX_PREAUTH_FRAME_LEN, Some(deadline)) => r,
        _ = state.lifecycle.reached(Stage::Refusing) => Err(ReadError::Shutdown),
    }
}

/// How long a draining session must have been between requests, outside any transaction
/// or cursor, before it is closed: the SQL thread says whether it holds a snapshot just
/// after its answer, so a check right after the answer could see the state before it.
const DRAIN_SETTLE: Duration = Duration::from_millis(100);

/// Resolves once a drain stops taking connections and this ready session is idle outside
/// a transaction or cursor; a session inside one may finish it until the drain's deadline.
async fn idle_while_draining(state: &State, sql: &Sql) {
    state.lifecycle.reached(Stage::Refusing).await;
    loop {
        tokio::time::sleep(DRAIN_SETTLE).await;
        if !sql.holds_snapshot() {
            return;
        }
    }
}

/// The idle limit that closed a session, for the log and the client.
fn idle_limit(state: &State, sql: &Sql) -> (&'static str, u64) {
    let s = &state.config.server;
    let in_transaction = s.idle_in_transaction_timeout_secs;
    if sql.holds_snapshot() && in_transaction > 0 && (s.idle_timeout_secs == 0 || in_transaction < s.idle_timeout_secs)
    {
        ("server.idle_in_transaction_timeout_secs, a transaction or cursor was open", in_transaction)
    } else {
        ("server.idle_timeout_secs", s.idle_timeout_secs)
    }
}

async fn on_read_error<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>, e: ReadError, awaiting: &str) -> Phase {
    match e {
        ReadError::Gone => Phase::Closed,
        ReadError::Protocol(p) => conn.violation(p).await,
        ReadError::SlowFrame => {
            log::info!("{}: a frame was not complete within server.frame_timeout_secs; connection closed", conn.peer);
            conn.fail(b"08S01", 2004, "request not received in time (server.frame_timeout_secs); connection closed")
                .await
        }
        ReadError::FrameOverBudget { len } => {
            conn.violation(format!("a frame of {len} bytes is larger than server.frame_memory_mib")).await
        }
        ReadError::Timeout => {
            log::info!("{}: no {awaiting} within the login timeout; connection closed", conn.peer);
            conn.fail(b"HYT00", 0, "login timeout expired").await
        }
        ReadError::Shutdown => conn.fail(b"08S01", 2003, "server shutting down").await,
    }
}

/// Store calls that may run on the blocking pool at once, process-wide: one per core, at
/// least two.
///
/// The SQLite store serialises its calls on one connection, and the PostgreSQL store's
/// pool is a few connections, so more calls in flight only wait on their lock; but each
/// waits as a runnable thread. At the start of a login burst a thousand attempts were
/// reserved at once, a hundred threads queued on the store's lock, and the scheduler shared
/// the CPU between them and the logged-in sessions' threads. Queued here they are tasks
/// that nobody polls.
static STORE_CALLS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::sync::Semaphore::new(cores.max(2))
});

/// How long a call keeps its place in [`STORE_CALLS`]. A store call takes well under a
/// millisecond; one that takes longer (a delegated-factor hook, a PostgreSQL server that
/// is slow to answer) gives its place back and goes on, so slow calls never hold up the
/// others.
const STORE_CALL_PLACE: Duration = Duration::from_millis(20);

/// Runs a store call on the blocking pool; a store failure is logged and comes back as
/// None (the login closes the connection, the enrolment page answers with an error page).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Option<T> {
    // The semaphore is never closed.
    let place = STORE_CALLS.acquire().await.ok();
    let mut call = tokio::task::spawn_blocking(f);
    let joined = tokio::select! {
        joined = &mut call => Some(joined),
        _ = tokio::time::sleep(STORE_CALL_PLACE) => None,
    };
    drop(place);
    let joined = match joined {
        Some(joined) => joined,
        None => call.await,
    };
    match joined {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            log::error!("{e}");
            None
        }
        Err(e) => {
            log::error!("store task failed: {e}");
            None
        }
    }
}

/// Waiting for a place in a budget held by attempts in flight: they end within a check's
/// time, and then either give their place back or lock (or block), which the next try
/// reports. So an attempt over the budget is delayed, not refused, while time is left.
struct BusyWait {
    deadline: Instant,
    pause: Duration,
}

impl BusyWait {
    fn until(deadline: Instant) -> Self {
        BusyWait { deadline, pause: Duration::from_millis(10) }
    }

    /// Sleeps before the next try; false when the deadline leaves no time for one.
    async fn again(&mut self) -> bool {
        if Instant::now() + self.pause >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(250));
        true
    }
}

/// Sleeps before a failure reply (exponential backoff).
async fn delay(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// Audits the failure that blocked the source address, if this one did.
fn audit_address_block(state: &State, counted: &AttemptFinished, user: &str, peer: &str, now: i64) {
    if counted.address_blocked_now {
        log::warn!("{peer}: address blocked after {} failed logins", counted.address_failures);
        let why = Some("too many failed logins from this address");
        state.audit.record_why(now, user, peer, "address_block", "blocked", None, why);
    }
}

/// Logged in. The SQL worker waits for the first request that needs it.
fn ready<S>(conn: &Conn<S>, l: LoggedIn) -> Phase {
    log::info!("{}: user `{}` logged in ({:?})", conn.peer, l.user, l.via);
    Phase::Ready(l, Sql { worker: None, autocommit: true })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Calls slower than their place's time (a hook, a slow PostgreSQL) fill every place
    /// of `STORE_CALLS`; a quick call after them still runs at once, not after them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_store_calls_give_their_places_back() {
        let places = STORE_CALLS.available_permits().max(2);
        let slow: Vec<_> = (0..places)
            .map(|_| {
                tokio::spawn(blocking(|| {
                    std::thread::sleep(Duration::from_secs(3));
                    Ok(())
                }))
            })
            .collect();
        while STORE_CALLS.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let start = Instant::now();
        assert_eq!(blocking(|| Ok(7)).await, Some(7));
        let waited = start.elapsed();
        assert!(waited < Duration::from_millis(1500), "the quick call waited {waited:?}");
        for call in slow {
            assert_eq!(call.await.unwrap(), Some(()));
        }
    }
}
