//! SQLConnect / SQLDriverConnect: TCP and TLS within the login timeout, Hello, the first
//! factor, and the second factor from the first source that has a code.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use twofactor_protocol::{
    ClientMessage, SecondFactor, Secret, ServerMessage, DRIVER_MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};

use super::code_source::{CodeSources, RealWorld};
use super::config::{ConnectConfig, Settings};
use super::session::{self, Session};
use super::sitting::SittingKey;
use super::ticket_exchange;
use super::tickets::{self, Stores, Warnings};
use super::{lock, unexpected, Connection, SessionInfo};
use crate::diag::{OdbcError, OdbcResult, SqlState};

const CLIENT_NAME: &str = concat!("TwoFactor ODBC ", env!("CARGO_PKG_VERSION"));

/// What a login gives: the server's name, the protocol version agreed, the session id and
/// cancel key, and how the second factor stands.
pub(super) struct LoginOutcome {
    pub server_name: String,
    pub protocol_version: u16,
    pub session_id: u64,
    pub cancel_key: Secret<[u8; 16]>,
    pub verification: Verification,
}

/// How a login met the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    NotRequired,
    /// A code from the code sources.
    Code,
    /// A two-factor ticket (docs/tickets.md), valid until `expires_at` (Unix seconds).
    Ticket {
        expires_at: i64,
    },
    /// No source had a code: the application sets attribute 1002 later.
    Pending,
}

/// What `login` may do besides the usual.
pub(super) struct LoginPlan<'a> {
    /// Where tickets are kept (None: TwoFactorTicket=Off).
    pub tickets: Option<&'a Stores>,
    /// A follower of a flight (`sitting`) whose leader's code was verified: it logs in
    /// with the ticket or not at all, never with a code of its own.
    pub ticket_only: bool,
}

/// Hello → HelloOk: agrees on a protocol version; returns the server's name and it.
pub(super) fn hello(s: &mut Session) -> OdbcResult<(String, u16)> {
    let hello = ClientMessage::Hello {
        min_version: DRIVER_MIN_PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        client_name: CLIENT_NAME.into(),
    };
    match s.request(&hello).map_err(connect_error)? {
        ServerMessage::HelloOk { version, server_name }
            if (DRIVER_MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) =>
        {
            Ok((server_name, version))
        }
        ServerMessage::HelloOk { version, .. } => Err(OdbcError::new(
            SqlState::UNABLE_TO_CONNECT,
            format!("the server chose protocol version {version}, which this driver does not speak"),
        )),
        other => Err(unexpected(&other)),
    }
}

/// Errors of the login phase that the application should read as "could not connect".
pub(super) fn connect_error(e: OdbcError) -> OdbcError {
    if e.state == SqlState::COMMUNICATION_LINK_FAILURE {
        OdbcError { state: SqlState::UNABLE_TO_CONNECT, ..e }
    } else {
        e
    }
}

/// SecondFactor → SecondFactorOk, or the server's error (28000, fatal: the server drops
/// the session, which `receive` records).
pub(super) fn send_second_factor(s: &mut Session, code: Secret<String>) -> OdbcResult<()> {
    match s.request(&ClientMessage::SecondFactor { code })? {
        ServerMessage::SecondFactorOk => {
            s.set_ready();
            Ok(())
        }
        other => Err(unexpected(&other)),
    }
}

impl Connection {
    /// Connects with the merged keys. `prompting_allowed`: SQLDriverConnect with a
    /// completion other than SQL_DRIVER_NOPROMPT.
    pub fn connect(&self, settings: &Settings, prompting_allowed: bool) -> OdbcResult<()> {
        if self.is_open() {
            return Err(OdbcError::new(SqlState::CONNECTION_IN_USE, "connection already open"));
        }
        crate::log::configure_from_dsn(settings.get("LogFile"), settings.get("LogLevel"));
        log::info!("connecting with {settings:?}");
        for key in settings.unknown_keys() {
            log::debug!("ignoring unknown key {key:?}");
        }
        let cfg = ConnectConfig::from_settings(settings)?;
        if let Some(dm_attributes) = settings.get("DMConnAttr") {
            self.apply_dm_attributes(dm_attributes)?;
        }
        {
            let mut a = lock(&self.attributes);
            if cfg.read_only {
                a.access_mode = super::attributes::SQL_MODE_READ_ONLY;
            }
            a.long_column_size = cfg.long_column_size;
        }
        let (login_timeout, connection_timeout) = {
            let a = lock(&self.attributes);
            let login = match a.login_timeout {
                Some(0) => None,
                Some(s) => Some(Duration::from_secs(s.into())),
                None => cfg.login_timeout,
            };
            let conn = match a.connection_timeout {
                0 => cfg.connection_timeout,
                s => Some(Duration::from_secs(s.into())),
            };
            (login, conn)
        };
        let deadline = login_timeout.and_then(session::deadline_after);
        let (service, tls) = super::service_login::prepare(&cfg)?;
        let mut warnings = Warnings::new();
        let stores = Stores::for_mode(cfg.ticket_mode, &mut warnings);
        let key = SittingKey { host: cfg.host.clone(), port: cfg.port, user: cfg.user.clone() };
        let attempt = super::shared_login::Attempt {
            key: &key,
            cfg: &cfg,
            tls: &tls,
            stores: stores.as_ref(),
            deadline,
            login_timeout,
            prompting_allowed,
        };
        let result = match &service {
            // A service account has no second factor to share and no ticket to keep.
            Some(service) => self.log_in_as_service_account(service, &cfg, &tls, deadline),
            None => self.log_in_once_per_sitting(&attempt, &mut warnings),
        };
        {
            let mut diagnostics = self.diagnostics.lock().unwrap_or_else(|e| e.into_inner());
            for w in warnings {
                diagnostics.push(w);
            }
        }
        let (mut s, outcome) = match result {
            Ok(v) => v,
            Err(e) => {
                self.two_factor().mark_connect_failed(e.native);
                log::info!("connect to {} failed: {}", s_peer(&cfg), e.message);
                return Err(e);
            }
        };
        let LoginOutcome { server_name, protocol_version, session_id, cancel_key, verification } = outcome;
        let pending = verification == Verification::Pending;
        s.set_timeout(connection_timeout, SqlState::CONNECTION_TIMEOUT);
        *lock(&self.info) = Some(SessionInfo {
            dsn: cfg.dsn.clone().unwrap_or_default(),
            server_name,
            protocol_version,
            host: cfg.host.clone(),
            port: cfg.port,
            user: cfg.user.clone(),
            fetch_rows: cfg.fetch_rows,
            static_cursor_max_bytes: cfg.static_cursor_max_bytes,
            query_timeout: cfg.query_timeout,
            session_id,
            cancel_key,
            tls,
            tls_server_name: cfg.tls_server_name.clone(),
            ticket_mode: cfg.ticket_mode,
            severer: s.severer().map(Arc::new),
        });
        *lock(&self.session) = Some(s);
        self.second_factor_pending.store(pending, Ordering::Release);
        self.open.store(true, Ordering::Release);
        if !pending {
            if self.has_settings_to_apply() {
                // Applied now that SQL may run; a failure leaves no half-open connection.
                if let Err(e) = self.second_factor_verified() {
                    let _ = self.disconnect();
                    return Err(e);
                }
            }
            log::info!("connected to {} as {:?}", s_peer(&cfg), cfg.user);
        } else {
            log::info!(
                "connected to {} as {:?}; the server waits for the second factor (connection attribute 1002)",
                s_peer(&cfg),
                cfg.user
            );
        }
        Ok(())
    }

    /// Hello; a stored ticket (LoginWithTicket) or Login; when the server asks, the
    /// second factor from the code sources; then, with tickets on, a new ticket.
    pub(super) fn login(
        &self,
        s: &mut Session,
        cfg: &ConnectConfig,
        plan: &LoginPlan<'_>,
        prompting_allowed: bool,
        login_timeout: Option<Duration>,
        warnings: &mut Warnings,
    ) -> OdbcResult<LoginOutcome> {
        let (server_name, protocol_version) = hello(s)?;
        let key = SittingKey { host: cfg.host.clone(), port: cfg.port, user: cfg.user.clone() };
        let stores = plan.tickets.filter(|_| protocol_version >= twofactor_protocol::TICKETS_SINCE_VERSION);
        let ticket = stores.and_then(|st| st.find(&key, warnings)).filter(|t| t.server_name == server_name);
        let login = match &ticket {
            Some(t) => ticket_exchange::login_message(s, t, cfg.password.clone())?,
            None if plan.ticket_only => return Err(super::sitting::code_used_by_parallel_connection()),
            None => ClientMessage::Login { user: cfg.user.clone(), password: cfg.password.clone() },
        };
        let (session_id, cancel_key, second_factor) = match s.request(&login).map_err(connect_error)? {
            ServerMessage::FirstFactorOk { session_id, cancel_key, second_factor } => {
                (session_id, cancel_key, second_factor)
            }
            other => return Err(unexpected(&other)),
        };
        let outcome = |verification| LoginOutcome {
            server_name: server_name.clone(),
            protocol_version,
            session_id,
            cancel_key: cancel_key.clone(),
            verification,
        };
        // Taken in every case: a code set before connect is for this login only.
        let attribute_code = lock(&self.attributes).code_before_connect.take();
        let (method, seconds_left, hint) = match second_factor {
            SecondFactor::NotRequired => {
                if attribute_code.is_some() || cfg.code_key.is_some() {
                    log::debug!("the server needs no second factor for this user; the supplied code is dropped");
                }
                s.set_ready();
                self.two_factor().mark_not_required();
                return Ok(outcome(Verification::NotRequired));
            }
            SecondFactor::VerifiedByTicket { expires_at } => {
                let (Some(mut t), Some(stores)) = (ticket, stores) else {
                    return Err(OdbcError::new(
                        SqlState::GENERAL_ERROR,
                        "the server reported a ticket login, but this login offered no ticket",
                    ));
                };
                s.set_ready();
                t.last_used = tickets::unix_now();
                t.expires_at = expires_at;
                stores.save(&t, warnings);
                warnings.push(tickets::warning(format!(
                    "second factor verified by a two-factor ticket (expires {})",
                    ticket_exchange::describe_expiry(expires_at)
                )));
                log::info!("the second factor was verified by a two-factor ticket");
                self.two_factor().mark_verified_by_ticket(expires_at);
                return Ok(outcome(Verification::Ticket { expires_at }));
            }
            SecondFactor::Required { method, seconds_left, hint } => {
                self.two_factor().mark_pending(method, &hint, seconds_left, std::time::Instant::now());
                (method, seconds_left, hint)
            }
        };
        if ticket.is_some() {
            // Refused (revoked, expired, another key): the server counted it like a wrong
            // code. Never offered again; the login goes on as after Login.
            if let Some(stores) = stores {
                stores.evict(&key, warnings);
            }
            warnings.push(tickets::warning(
                "the stored two-factor ticket was refused by the server (revoked or expired); it was removed \
                 and the second factor is asked for as usual",
            ));
            if plan.ticket_only {
                return Err(super::sitting::shared_ticket_refused());
            }
        }
        let sources = CodeSources {
            attribute: attribute_code,
            key: cfg.code_key.clone(),
            password_suffix: cfg.password_suffix.clone(),
            env_var: cfg.code_env.clone(),
            command: cfg.code_command.clone(),
            command_timeout: cfg.code_command_timeout,
            prompt: cfg.prompt,
            prompting_allowed,
        };
        let prompt = if hint.is_empty() {
            format!("{} code for {}@{}: ", method.name(), cfg.user, cfg.host)
        } else {
            // The hint is a phrase ("code sent by SMS to +1 ***-***-4567"): only its address.
            let to = super::two_factor_state::masked_address(&hint);
            format!("{} code sent to {to} for {}@{}: ", method.name(), cfg.user, cfg.host)
        };
        let found = sources.find(&RealWorld, &prompt)?;
        // A person typing the code at a prompt, or a helper with its own timeout, is not
        // the network: the exchange that sends the code gets a login timeout of its own.
        s.restart_deadline(login_timeout);
        match found {
            Some((code, origin)) => {
                // Never the same code twice (docs/pooling.md): refused here, not counted.
                super::code_ledger::claim(&s_peer(cfg), &cfg.user, code.expose())?;
                log::info!("submitting the {} second factor from the {}", method.name(), origin.describe());
                let backup_code = super::two_factor_state::is_backup_code(code.expose());
                send_second_factor(s, code)?;
                self.two_factor().mark_verified(backup_code);
                if let Some(stores) = stores {
                    ticket_exchange::take_ticket(s, &key, &server_name, stores, warnings)?;
                }
                Ok(outcome(Verification::Code))
            }
            None => {
                log::info!("no two-factor code supplied; {} s left to set attribute 1002", seconds_left);
                Ok(outcome(Verification::Pending))
            }
        }
    }
}

fn s_peer(cfg: &ConnectConfig) -> String {
    format!("{}:{}", cfg.host, cfg.port)
}
