//! The first factor (Login, LoginWithTicket): the password, then what the user's second
//! factor needs: nothing, a TOTP code, or an SMS or e-mail code sent now; or, for
//! LoginWithTicket, nothing more if the ticket is accepted (session/ticket.rs), so no
//! code is sent for a login a ticket completes.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use twofactor_protocol::{SecondFactor, SecondFactorMethod, Secret, ServerMessage};

use super::first_factor::{after_failure, register_session, reserve};
use super::ticket::{check_offered, TicketOffer, TicketOutcome};
use super::{blocking, ready, LoggedIn, LoginVia, Phase, LOCKED, SEND_FAILED};
use crate::auth::{CodeIssue, Requirement, TICKET_METHOD};
use crate::connection::Conn;
use crate::first_factor::{Decision, Mechanism, Verdict, DIRECTORY_ONLY_HASH};
use crate::server::State;
use crate::store::{AttemptEnd, Method};
use crate::throttle::Admitted;

pub(super) async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    user: String,
    password: Secret<String>,
    ticket: Option<TicketOffer>,
    deadline: Instant,
    admitted: &mut Option<Admitted<'_>>,
) -> Phase {
    let peer = conn.peer.clone();
    // The attempt is reserved before the password is checked, so attempts in flight count
    // against the user's and the address's budgets; a locked user gets no check at all (so
    // no directory bind either: our retries never trip the directory's own lockout).
    let load = |st: &State, name: &str| st.auth.store.user(name);
    let (attempt, record) = match reserve(state, conn, &user, "login", deadline, load).await {
        Ok(reserved) => reserved,
        Err(phase) => return phase,
    };
    let order = state.first_factors.order_for(record.as_ref().and_then(|r| r.first_factor));
    let hash = record.as_ref().map(|r| r.password_hash.clone());
    let checking = state.first_factors.check(&state.passwords, &order, &user, &password, hash, conn.ip);
    let decision = tokio::time::timeout_at(deadline, checking).await.ok();
    let mechanism = decision.as_ref().and_then(|d| d.mechanism);
    conn.first_factor = mechanism.map(Mechanism::as_str);
    let mut record = record;
    if matches!(decision, Some(Decision { verdict: Verdict::Accepted, .. })) && record.is_none() {
        // Only a directory accepts a user the store does not have.
        record = match provision(state, &user, &peer).await {
            Ok(provisioned) => provisioned,
            Err(()) => return conn.store_unavailable().await,
        };
    }
    let ok = record.is_some() && matches!(decision, Some(Decision { verdict: Verdict::Accepted, .. }));
    let end = match &decision {
        Some(_) if ok => AttemptEnd::Succeeded,
        // Still checking at the login deadline, or a directory that could not answer: no
        // answer, so no guess to count.
        None | Some(Decision { verdict: Verdict::Unavailable(_), .. }) => AttemptEnd::Abandoned,
        Some(_) => AttemptEnd::Failed,
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
    let now = state.auth.now();
    let audit = |outcome: &str, reason: &str| {
        let by = mechanism.map(Mechanism::as_str);
        state.audit.record_first_factor(now, &user, &peer, "login", outcome, None, Some(reason), by);
    };
    let Some(decision) = decision else {
        log::info!("{peer}: login as `{user}`: password not checked within the login timeout");
        return conn.fail(b"HYT00", 0, "login timeout expired").await;
    };
    if let Verdict::Unavailable(reason) = &decision.verdict {
        // Fails closed: the cascade never falls through to another password (docs/ldap.md).
        log::warn!("{peer}: login as `{user}` refused: {reason}");
        audit("unavailable", reason);
        return conn.fail(b"08004", 1023, DIRECTORY_UNAVAILABLE).await;
    }
    let Some(record) = record.filter(|_| ok) else {
        log::info!("{peer}: login as `{user}` refused: invalid user name or password");
        let why = match decision.verdict {
            Verdict::Rejected(why) => why,
            Verdict::Accepted => "accepted by the directory but not a user here (ldap.auto_provision is off)",
            _ => "unknown user",
        };
        audit("rejected", why);
        after_failure(state, &counted, &user, &peer).await;
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
    // A ticket is examined only now: the password was right and a second factor is due
    // (for a user who owes none it is ignored).
    if let (Some(offer), Some(_)) = (ticket, requirement.method()) {
        match check_offered(state, conn, &user, method_name, offer, deadline).await {
            TicketOutcome::Accepted { expires_at } => {
                let second = SecondFactor::VerifiedByTicket { expires_at };
                return first_factor_ok(state, conn, &user, second, TICKET_METHOD, admitted).await;
            }
            TicketOutcome::Refused => {}
            TicketOutcome::Closed(phase) => return phase,
        }
    }
    if requirement == Requirement::Delegated {
        return super::delegated::begin(state, conn, &user, deadline, admitted).await;
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
    first_factor_ok(state, conn, &user, second, method, admitted).await
}

/// What a login whose directory is down is told (08004, native 1023).
const DIRECTORY_UNAVAILABLE: &str = "the directory that checks passwords is unavailable; try again later";

/// A user the directory accepted but the store does not have: created when
/// `ldap.auto_provision` is on (no local password, first factor `ldap`, two-factor
/// required and nothing enrolled, so the login goes on to "not enrolled" until the admin
/// enrols them). Ok(None) when it is off; Err when the store failed.
async fn provision(state: &Arc<State>, user: &str, peer: &str) -> Result<Option<crate::store::UserRecord>, ()> {
    if !state.first_factors.directory().is_some_and(|d| d.auto_provision()) {
        return Ok(None);
    }
    let st = state.clone();
    let name = user.to_owned();
    let created = blocking(move || {
        let store = &st.auth.store;
        match store.create_user(&name, DIRECTORY_ONLY_HASH) {
            // A concurrent first login created it: the same user, take it as it is.
            Ok(()) | Err(crate::store::StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
        store.set_first_factor(&name, Some(Mechanism::Ldap))?;
        store.user(&name)
    })
    .await;
    match created {
        Some(record) => {
            log::info!("{peer}: user `{user}` provisioned from the directory");
            let why = Some("first directory login (ldap.auto_provision)");
            state.audit.record_first_factor(state.auth.now(), user, peer, "provision", "ok", None, why, Some("ldap"));
            Ok(record)
        }
        None => Err(()),
    }
}

/// Answers FirstFactorOk: a new session (identifier and cancel key) awaiting the code
/// `second` asks for, or logged in (no code due, or a ticket stood in for it).
async fn first_factor_ok<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    user: &str,
    second: SecondFactor,
    method: &'static str,
    admitted: &mut Option<Admitted<'_>>,
) -> Phase {
    let registered = register_session(state);
    first_factor_ok_registered(state, conn, user, registered, second, method, admitted).await
}

/// As [`first_factor_ok`], for a session registered already (the delegated hook is told
/// the session's identifier before the answer).
pub(super) async fn first_factor_ok_registered<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    user: &str,
    (session_id, cancel_key): (u64, [u8; 16]),
    second: SecondFactor,
    method: &'static str,
    admitted: &mut Option<Admitted<'_>>,
) -> Phase {
    let now = state.auth.now();
    let needs_code = matches!(second, SecondFactor::Required { .. });
    let via = match second {
        SecondFactor::Required { .. } => LoginVia::Code,
        SecondFactor::VerifiedByTicket { .. } => LoginVia::Ticket,
        SecondFactor::NotRequired => LoginVia::NoSecondFactor,
    };
    let logged_in = LoggedIn { user: user.to_owned(), session_id, method, ticket_issued: false, via, sql_role: None };
    let (peer, mechanism) = (&conn.peer, conn.first_factor);
    state.audit.record_first_factor(
        now,
        user,
        peer,
        "first_factor",
        "ok",
        needs_code.then_some(method),
        None,
        mechanism,
    );
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
