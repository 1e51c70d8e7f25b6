//! One connection: a state machine whose states are named for what they await. Each
//! state accepts its own messages only; anything else is a protocol violation that closes
//! this connection alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use twofactor_protocol::{
    negotiate_version, ClientMessage, ErrorInfo, SecondFactor, SecondFactorMethod, Secret, ServerMessage,
    MAX_FRAME_LEN, MAX_PREAUTH_FRAME_LEN,
};

use crate::auth::{CodeIssue, Requirement, Verdict};
use crate::connection::{Conn, IoLimits, ReadError};
use crate::lifecycle::Stage;
use crate::server::{SessionEntry, State};
use crate::sql::{Request, SqlWorker, StartError};
use crate::store::{AttemptEnd, AttemptFinished, Factor, FailureOutcome, Method, Reservation};
use crate::throttle::Admitted;

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
struct Registration<'a> {
    state: &'a State,
    id: Option<u64>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.state.sessions().remove(&id);
        }
    }
}

pub(crate) async fn run<S>(state: Arc<State>, stream: S, peer: SocketAddr, shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = IoLimits {
        frame_timeout: Duration::from_secs(state.config.server.frame_timeout_secs),
        write_timeout: Duration::from_secs(state.config.server.write_timeout_secs),
    };
    let mut conn = Conn::new(stream, peer, shutdown, state.frame_budget.clone(), limits);
    let mut reg = Registration { state: &state, id: None };
    // Held until the login ends (Ready or closed): one address's logins in progress are capped.
    let Some(admitted) = state.admission.admit(peer.ip()) else {
        log::warn!("{peer}: refused: too many logins in progress from this address");
        conn.fail(b"08004", 1022, "too many logins in progress from this address; try again later").await;
        return;
    };
    let mut admitted = Some(admitted);
    let login_deadline = Instant::now() + Duration::from_secs(state.config.server.login_timeout_secs);
    let mut phase = Phase::AwaitingHello;
    let mut second_factor_deadline = Instant::now();
    loop {
        if matches!(phase, Phase::Ready(..)) {
            admitted = None;
        }
        phase = match phase {
            Phase::Closed => break,
            Phase::AwaitingHello => match login_read(&state, &mut conn, login_deadline).await {
                Ok(ClientMessage::Hello { min_version, max_version, .. }) => {
                    match negotiate_version(min_version, max_version) {
                        Some(version) => {
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
                Ok(ClientMessage::Login { user, password }) => {
                    let next = login(&state, &mut conn, user, password, login_deadline, &mut admitted).await;
                    if let Phase::AwaitingSecondFactor(ref l) | Phase::Ready(ref l, _) = next {
                        reg.id = Some(l.session_id);
                    }
                    if matches!(next, Phase::AwaitingSecondFactor(_)) {
                        second_factor_deadline =
                            Instant::now() + Duration::from_secs(state.config.auth.two_factor_timeout_secs);
                    }
                    next
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
                    msg @ (ClientMessage::Hello { .. } | ClientMessage::Login { .. } | ClientMessage::Cancel { .. }),
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
            Phase::Ready(l, sql) => match next_request(&state, &mut conn, &sql).await {
                Ok(ClientMessage::Ping) => conn.reply(ServerMessage::Pong, Phase::Ready(l, sql)).await,
                Ok(ClientMessage::Terminate) => Phase::Closed,
                // Nothing is pending; the driver reports that itself.
                Ok(ClientMessage::SecondFactor { .. }) => conn.reply(ServerMessage::Ok, Phase::Ready(l, sql)).await,
                Ok(msg) => match sql_request(msg) {
                    Ok(req) => run_sql(&state, &mut conn, l, sql, req).await,
                    Err(other) => conn.out_of_turn(&other, "after login").await,
                },
                Err(ReadError::Timeout) => {
                    let (key, secs) = idle_limit(&state, &sql);
                    log::info!("{}: user `{}`: idle for {secs}s ({key}); connection closed", conn.peer, l.user);
                    let message = format!("session idle for {secs}s ({key}); connection closed");
                    conn.fail(b"08S01", 2004, &message).await
                }
                Err(e) => on_read_error(&mut conn, e, "request").await,
            },
        };
    }
    drop((reg, admitted));
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

/// Runs a store call on the blocking pool; a store failure closes the connection.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
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

async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    user: String,
    password: Secret<String>,
    deadline: Instant,
    admitted: &mut Option<Admitted<'_>>,
) -> Phase {
    let now = state.auth.now();
    let peer = conn.peer.clone();
    // The attempt is reserved before the password is checked, so attempts in flight count
    // against the user's and the address's budgets.
    let mut wait = BusyWait::until(deadline);
    let (reservation, record) = loop {
        let st = state.clone();
        let (name, ip) = (user.clone(), conn.ip);
        let reserved = blocking(move || {
            let reservation = st.auth.reserve(Factor::Password, &name, ip)?;
            let record = match reservation {
                Reservation::Reserved(_) => st.auth.store.user(&name)?,
                _ => None,
            };
            Ok((reservation, record))
        })
        .await;
        match reserved {
            None => return conn.store_unavailable().await,
            Some((Reservation::Busy, _)) if wait.again().await => {}
            Some(done) => break done,
        }
    };
    let attempt = match reservation {
        Reservation::Reserved(attempt) => attempt,
        Reservation::AddressBlocked { .. } => {
            log::info!("{peer}: login as `{user}` refused: address throttled");
            let why = Some("too many failed logins from this address");
            state.audit.record_why(now, &user, &peer, "login", "throttled", None, why);
            return conn.fail(b"28000", 1009, THROTTLED).await;
        }
        // A locked password refuses every password, so guessing stops while it lasts.
        Reservation::Locked { .. } => {
            let why = Some("password locked after too many wrong passwords");
            state.audit.record_why(now, &user, &peer, "login", "locked", None, why);
            return conn.fail(b"28000", 1003, LOCKED).await;
        }
        Reservation::Busy => {
            log::info!("{peer}: login as `{user}` refused: the failure budget is held by attempts in flight");
            let why = Some("the remaining failure budget is held by attempts in flight");
            state.audit.record_why(now, &user, &peer, "login", "busy", None, why);
            return conn.fail(b"28000", 1021, BUSY).await;
        }
    };
    let hash = record.as_ref().map(|r| r.password_hash.clone());
    let verified = tokio::time::timeout_at(deadline, state.passwords.verify(password, hash, conn.ip)).await;
    let ok = matches!(verified, Ok(true));
    let end = match verified {
        Ok(true) => AttemptEnd::Succeeded,
        Ok(false) => AttemptEnd::Failed,
        // Still queued at the login deadline: no answer, so no guess.
        Err(_) => AttemptEnd::Abandoned,
    };
    let st = state.clone();
    let accepted = record.clone().filter(|_| ok);
    let finished = blocking(move || {
        // A password that completes the login (no second factor due) resets the counters
        // in the same step as its attempt ends, so no failure counted meanwhile is undone.
        let requirement = accepted.as_ref().map(|r| st.auth.requirement(r)).transpose()?;
        let complete = requirement == Some(Requirement::NotRequired)
            && accepted.as_ref().is_some_and(|r| !r.is_locked(st.auth.now()));
        let counted = st.auth.finish(&attempt, if complete { AttemptEnd::LoggedIn } else { end })?;
        Ok((counted, requirement))
    })
    .await;
    let Some((counted, requirement)) = finished else {
        return conn.store_unavailable().await;
    };
    if end == AttemptEnd::Abandoned {
        log::info!("{peer}: login as `{user}`: password not checked within the login timeout");
        return conn.fail(b"HYT00", 0, "login timeout expired").await;
    }
    let now = state.auth.now();
    let known = record.is_some();
    let Some(record) = record.filter(|_| ok) else {
        log::info!("{peer}: login as `{user}` refused: invalid user name or password");
        state.audit.record_why(
            now,
            &user,
            &peer,
            "login",
            "rejected",
            None,
            Some(if known { "wrong password" } else { "unknown user" }),
        );
        if let Some(FailureOutcome::LockedNow { .. }) = counted.user {
            log::warn!("{peer}: user `{user}`: password locked after too many wrong passwords");
            state.audit.record_why(
                now,
                &user,
                &peer,
                "lockout",
                "locked",
                Some("password"),
                Some("too many wrong passwords"),
            );
        }
        audit_address_block(state, &counted, &user, &peer, now);
        // The delay follows the address's failures, the same for known and unknown users.
        delay(state.auth.backoff(counted.address_failures)).await;
        return conn.fail(b"28000", 1001, "invalid user name or password").await;
    };
    if record.is_locked(now) {
        state.audit.record_why(
            now,
            &user,
            &peer,
            "login",
            "locked",
            None,
            Some("second factor locked after too many rejected codes"),
        );
        return conn.fail(b"28000", 1003, LOCKED).await;
    }
    let Some(requirement) = requirement else {
        return conn.store_unavailable().await;
    };
    let method_name = record.active_method().as_str();
    match requirement {
        Requirement::Unenrolled => {
            state.audit.record_why(
                now,
                &user,
                &peer,
                "login",
                "unenrolled",
                Some(method_name),
                Some("the active method has nothing enrolled"),
            );
            return conn
                .fail(
                    b"28000",
                    1006,
                    "two-factor authentication is required but not enrolled for this user; ask the administrator",
                )
                .await;
        }
        Requirement::MethodOff(m) => {
            state.audit.record_why(
                now,
                &user,
                &peer,
                "login",
                "method_off",
                Some(m.as_str()),
                Some("the user's method is switched off in [methods]"),
            );
            return conn
                .fail(
                    b"28000",
                    1010,
                    "the two-factor method of this user is not enabled on this server; ask the administrator",
                )
                .await;
        }
        _ => {}
    }
    let timeout = state.config.auth.two_factor_timeout_secs;
    let (second, method) = match requirement {
        Requirement::Totp => (
            SecondFactor::Required {
                method: SecondFactorMethod::Totp,
                seconds_left: u32::try_from(timeout).unwrap_or(u32::MAX),
                hint: String::new(),
            },
            Method::Totp.as_str(),
        ),
        Requirement::Sms | Requirement::Email => {
            let Some((hint, expires_at)) = send_code(state, conn, &record, deadline).await else {
                return Phase::Closed;
            };
            let left = (expires_at - state.auth.now()).clamp(1, timeout as i64);
            (
                SecondFactor::Required {
                    method: if requirement == Requirement::Sms {
                        SecondFactorMethod::Sms
                    } else {
                        SecondFactorMethod::Email
                    },
                    seconds_left: u32::try_from(left).unwrap_or(u32::MAX),
                    hint,
                },
                method_name,
            )
        }
        _ => (SecondFactor::NotRequired, Method::None.as_str()),
    };
    let needs_code = matches!(second, SecondFactor::Required { .. });
    let mut session_id = 0u64;
    while session_id == 0 || state.sessions().contains_key(&session_id) {
        session_id = rand::rngs::OsRng.next_u64();
    }
    let mut cancel_key = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut cancel_key);
    state.sessions().insert(session_id, SessionEntry { cancel_key, interrupt: None });
    let logged_in = LoggedIn { user: user.clone(), session_id, method };
    state.audit.record(now, &user, &peer, "first_factor", "ok", needs_code.then_some(method));
    if !needs_code {
        // Logged in: the place is given back before the answer, so a client that
        // connects again at once finds it free.
        admitted.take();
    }
    if !conn
        .send(ServerMessage::FirstFactorOk { session_id, cancel_key: Secret::new(cancel_key), second_factor: second })
        .await
    {
        return Phase::Closed;
    }
    if needs_code {
        Phase::AwaitingSecondFactor(logged_in)
    } else {
        ready(conn, logged_in)
    }
}

/// Issues and sends an SMS or e-mail code. Returns the hint and the code's expiry, or
/// None after failing the connection (send error, send limit); a code that could not be
/// sent is withdrawn so it never stays valid.
async fn send_code<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    record: &crate::store::UserRecord,
    deadline: Instant,
) -> Option<(String, i64)> {
    let peer = conn.peer.clone();
    let user = record.name.clone();
    let method = record.active_method().as_str();
    let st = state.clone();
    let rec = record.clone();
    let Some(issue) = blocking(move || st.auth.issue_code(&rec)).await else {
        conn.store_unavailable().await;
        return None;
    };
    let now = state.auth.now();
    let audit = |at: i64, outcome: &str, reason: &str| {
        let (user, peer, method) = (user.as_str(), peer.as_str(), Some(method));
        state.audit.record_why(at, user, peer, "code_send", outcome, method, Some(reason));
    };
    match issue {
        CodeIssue::Send { code, code_hash, delivery, hint, expires_at } => {
            let lifetime = (expires_at - now).max(1) as u64;
            match state.notifier.send(&delivery, &code, lifetime, deadline).await {
                Ok(()) => {
                    log::info!("{peer}: user `{user}`: {hint}");
                    audit(now, "ok", delivery.channel());
                    Some((hint, expires_at))
                }
                Err(reason) => {
                    log::warn!("{peer}: user `{user}`: could not send the code: {reason}");
                    let st = state.clone();
                    let name = user.clone();
                    if blocking(move || st.auth.withdraw_code(&name, &code_hash)).await.is_none() {
                        log::error!("user `{user}`: a code that was not sent could not be withdrawn");
                    }
                    audit(state.auth.now(), "failed", &reason);
                    conn.fail(b"HY000", 1007, SEND_FAILED).await;
                    None
                }
            }
        }
        CodeIssue::Pending { hint, expires_at } => {
            audit(now, "pending", "an earlier code is still valid; nothing sent");
            Some((hint, expires_at))
        }
        CodeIssue::Limited { retry_at } => {
            let reason =
                format!("codes.max_sends_per_hour reached; next send after {}", crate::audit::rfc3339(retry_at));
            log::warn!("{peer}: user `{user}`: {reason}");
            audit(now, "limited", &reason);
            conn.fail(b"HY000", 1008, "too many two-factor codes sent for this user; try again later").await;
            None
        }
        CodeIssue::Undeliverable { reason } => {
            log::warn!("{peer}: user `{user}`: cannot send a code: {reason}");
            audit(now, "failed", &reason);
            conn.fail(b"HY000", 1007, SEND_FAILED).await;
            None
        }
    }
}

async fn second_factor<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    l: LoggedIn,
    code: Secret<String>,
    admitted: &mut Option<Admitted<'_>>,
) -> Phase {
    let st = state.clone();
    let name = l.user.clone();
    let ip = conn.ip;
    let mut wait = BusyWait::until(Instant::now() + Duration::from_secs(state.config.server.login_timeout_secs));
    let checked = loop {
        let (st, name, code) = (st.clone(), name.clone(), code.clone());
        match blocking(move || st.auth.check_second_factor(&name, code.expose(), ip)).await {
            None => return conn.store_unavailable().await,
            Some(c) if c.verdict == Verdict::Busy && wait.again().await => {}
            Some(c) => break c,
        }
    };
    let now = state.auth.now();
    let peer = conn.peer.clone();
    let method = Some(checked.method);
    match checked.verdict {
        Verdict::Accepted => {
            let reason = checked.backup_left.map(|n| format!("{n} backup codes left"));
            state.audit.record_why(now, &l.user, &peer, "second_factor", "ok", method, reason.as_deref());
            if let Some(d) = checked.drift_learned {
                log::info!("{peer}: user `{}`: TOTP drift learned: {d} steps", l.user);
                state.audit.record_why(
                    now,
                    &l.user,
                    &peer,
                    "totp_drift",
                    "learned",
                    method,
                    Some(&format!("{d:+} steps")),
                );
            }
            admitted.take(); // as in `login`: free before the answer
            if !conn.send(ServerMessage::SecondFactorOk).await {
                return Phase::Closed;
            }
            ready(conn, l)
        }
        Verdict::Rejected { failures } => {
            log::info!("{peer}: user `{}`: two-factor code rejected ({failures} in a row)", l.user);
            state.audit.record_why(
                now,
                &l.user,
                &peer,
                "second_factor",
                "rejected",
                method,
                Some(&format!("{failures} in a row")),
            );
            audit_address_block(state, &checked.counted, &l.user, &peer, now);
            delay(state.auth.backoff(failures)).await;
            conn.fail(b"28000", 1002, CODE_REJECTED).await
        }
        // The same answer as a wrong code; not counted (it proves the factor).
        Verdict::Replayed => {
            log::info!("{peer}: user `{}`: the code accepted last was sent again; refused, not counted", l.user);
            let why = Some("the code accepted last, sent again; not counted");
            state.audit.record_why(now, &l.user, &peer, "second_factor", "replay", method, why);
            conn.fail(b"28000", 1002, CODE_REJECTED).await
        }
        Verdict::Busy => {
            let why = Some("the remaining failure budget is held by attempts in flight");
            state.audit.record_why(now, &l.user, &peer, "second_factor", "busy", method, why);
            conn.fail(b"28000", 1021, BUSY).await
        }
        Verdict::AddressBlocked => {
            let why = Some("too many failed logins from this address");
            state.audit.record_why(now, &l.user, &peer, "second_factor", "throttled", method, why);
            conn.fail(b"28000", 1009, THROTTLED).await
        }
        Verdict::Locked { just_now } => {
            if just_now {
                log::warn!("{peer}: user `{}` locked after too many rejected codes", l.user);
                state.audit.record(now, &l.user, &peer, "second_factor", "rejected", method);
                state.audit.record_why(
                    now,
                    &l.user,
                    &peer,
                    "lockout",
                    "locked",
                    method,
                    Some("too many rejected codes"),
                );
                audit_address_block(state, &checked.counted, &l.user, &peer, now);
            } else {
                state.audit.record(now, &l.user, &peer, "second_factor", "locked", method);
            }
            conn.fail(b"28000", 1003, LOCKED).await
        }
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
    log::info!("{}: user `{}` logged in", conn.peer, l.user);
    Phase::Ready(l, Sql { worker: None, autocommit: true })
}

/// Runs one SQL request of a ready session, starting its worker first if it needs one.
async fn run_sql<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    l: LoggedIn,
    mut sql: Sql,
    req: Request,
) -> Phase {
    if sql.worker.is_none() {
        match req {
            // What a worker would answer with no statement, cursor or transaction open.
            Request::SetAutocommit { on } => {
                sql.autocommit = on;
                return conn.reply(ServerMessage::Ok, Phase::Ready(l, sql)).await;
            }
            Request::EndTransaction { .. } | Request::CloseCursor | Request::CloseStatement { .. } => {
                return conn.reply(ServerMessage::Ok, Phase::Ready(l, sql)).await;
            }
            _ => {}
        }
        match start_worker(state, &l, sql.autocommit).await {
            Ok(worker) => {
                log::debug!("{}: user `{}`: SQL worker started", conn.peer, l.user);
                sql.worker = Some(worker);
            }
            Err(e) => {
                // The session stays; its next request tries again (a transient shortage
                // of file descriptors, say, or PostgreSQL coming back).
                log::error!("{}: user `{}`: cannot start the session's SQL: {}", conn.peer, l.user, e.log);
                return conn.reply(ServerMessage::Error(e.client), Phase::Ready(l, sql)).await;
            }
        }
    }
    let Some(worker) = sql.worker.as_ref() else {
        return Phase::Closed;
    };
    // The socket is watched while the statement runs: a client that is killed or loses
    // its link ends the session here, and dropping the worker interrupts the statement
    // instead of letting it run on with nobody to answer.
    let answer = match conn.watching(worker.call(req)).await {
        Ok(answer) => answer,
        Err(ReadError::Gone) => {
            log::info!("{}: user `{}`: connection lost during a request; interrupting it", conn.peer, l.user);
            return Phase::Closed;
        }
        Err(e) => return on_read_error(conn, e, "request").await,
    };
    match answer {
        // The database connection was lost: the reply said so (08S01); the session ends.
        Some(bytes) if worker.ended() => {
            conn.send_bytes(&bytes).await;
            log::info!("{}: user `{}`: the SQL connection was lost; session closed", conn.peer, l.user);
            conn.close().await;
            Phase::Closed
        }
        Some(bytes) if conn.send_bytes(&bytes).await => Phase::Ready(l, sql),
        Some(_) => Phase::Closed,
        None => conn.fail(b"HY000", 0, "the SQL session ended unexpectedly").await,
    }
}

/// Starts a session's SQL worker and registers its cancel handle for Cancel.
async fn start_worker(state: &Arc<State>, l: &LoggedIn, autocommit: bool) -> Result<SqlWorker, StartError> {
    let settings = state.sql_settings.clone();
    let user = l.user.clone();
    let worker =
        tokio::task::spawn_blocking(move || SqlWorker::spawn(&settings, &user, autocommit)).await.map_err(|e| {
            StartError::new(ErrorInfo::new(b"HY000", 0, "the server cannot start the session's SQL"), e.to_string())
        })??;
    if let Some(entry) = state.sessions().get_mut(&l.session_id) {
        entry.interrupt = Some(worker.cancel_handle());
    }
    Ok(worker)
}

/// Interrupts another session's running statement. The reply is the same whether or not
/// the session exists and the key matches, so it cannot be used to probe sessions.
async fn cancel<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    session_id: u64,
    key: Secret<[u8; 16]>,
) -> Phase {
    if !cancel_here(state, &conn.peer, session_id, &key) {
        crate::cancel_relay::forward(state, session_id, key.expose());
    }
    conn.send(ServerMessage::Ok).await;
    conn.close().await;
    Phase::Closed
}

/// Interrupts the statement of `session_id` if this instance holds that session and
/// `key` is its key; false when it holds no such session (another instance may).
pub(crate) fn cancel_here(
    state: &State,
    from: &dyn std::fmt::Display,
    session_id: u64,
    key: &Secret<[u8; 16]>,
) -> bool {
    let handle = state.sessions().get(&session_id).and_then(|e| {
        let same: bool = e.cancel_key.ct_eq(key.expose()).into();
        same.then(|| e.interrupt.clone())
    });
    let found = handle.is_some();
    match handle {
        Some(Some(h)) => {
            log::info!("{}: cancel request for session {session_id:x}", from);
            h.cancel();
        }
        // A session that has not run SQL yet has no worker, so nothing to interrupt.
        Some(None) => log::info!("{}: cancel request for session {session_id:x}, which has run no SQL", from),
        None => log::info!("{}: cancel request for no matching session", from),
    }
    found
}
