//! The enrolment, step by step: open the link (checked, and counted against the address
//! when it is not valid), the password (a login's first factor: reserved and counted
//! under the same budgets), the new key shown, its first code (counted like a second
//! factor), and only then the key stored, the link spent and the backup codes shown.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use twofactor_protocol::Secret;

use super::http::{self, Reply};
use super::pages::{self, NewKey};
use super::sessions::{Enrolment, Stage};
use super::{qr, Web};
use crate::store::{
    ticket_id_hash, AttemptEnd, AttemptFinished, DriftState, EnrolLinkRecord, EnrolLinkState, Factor, FailureOutcome,
    Reservation, StoreError, TotpEnrolment, UserRecord,
};
use crate::totp::{self, TotpParams};

/// The name opening a link is reserved under: `:` is refused in user names, so this is
/// nobody's and only the address's budget counts it.
const LINK_OPENER: &str = "enrol-link:";

const THROTTLED: &str = "Too many failed attempts came from your network. Try again later.";
const LOCKED: &str =
    "Your account is locked after too many failed attempts. Try again later or ask your administrator.";
const BUSY: &str = "Too many attempts are in progress for this account. Try again in a moment.";

// Store calls run on the blocking pool (PostgreSQL's client blocks), as the login's do.
use crate::first_factor::Verdict;
use crate::session::blocking;

fn unavailable() -> Reply {
    http::html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::message("Service unavailable", "The server cannot complete this now. Try again in a few minutes."),
    )
}

fn refused(status: StatusCode, title: &str, text: &str) -> Reply {
    http::html(status, pages::message(title, text))
}

/// Why this link cannot enrol now, or None when it can: its own state, then its user
/// (gone, or enrolled since an enrol link that was not a reset was issued).
fn unusable(link: Option<&EnrolLinkRecord>, user: Option<&UserRecord>, now: i64) -> Option<&'static str> {
    let Some(link) = link else { return Some("unknown") };
    match link.state(now) {
        EnrolLinkState::Active => {}
        s => return Some(s.as_str()),
    }
    match user {
        None => Some("no such user"),
        Some(u) if u.totp.is_some() && !link.reset => Some("enrolled since"),
        Some(_) => None,
    }
}

fn link_and_user(web: &Web, hash: &[u8]) -> Result<(Option<EnrolLinkRecord>, Option<UserRecord>), StoreError> {
    let store = &web.state.auth.store;
    let link = store.enrol_link(hash)?;
    let user = match &link {
        Some(l) => store.user(&l.user)?,
        None => None,
    };
    Ok((link, user))
}

fn invalid(web: &Web, short: &str, user: Option<&str>, peer: &str, why: &str) -> Reply {
    let now = web.state.auth.now();
    log::info!("{peer}: enrolment link {short} refused: {why}");
    web.state.audit.record_why(
        now,
        user.unwrap_or("*"),
        peer,
        "enrol_web_open",
        "invalid",
        None,
        Some(&format!("link {short}: {why}")),
    );
    http::html(StatusCode::NOT_FOUND, pages::invalid_link())
}

/// After a counted failure: the lock or block it caused goes to the audit, then the
/// address's backoff (as a failed ODBC login waits).
async fn after_failure(web: &Web, counted: &AttemptFinished, user: &str, peer: &str) {
    if counted.address_blocked_now {
        let why = Some("too many failed logins from this address");
        web.state.audit.record_why(web.state.auth.now(), user, peer, "address_block", "blocked", None, why);
    }
    tokio::time::sleep(web.state.auth.backoff(counted.address_failures)).await;
}

fn refusal_reply(web: &Web, r: &Reservation, user: &str, peer: &str, event: &str) -> Reply {
    let now = web.state.auth.now();
    let (outcome, text) = match r {
        Reservation::AddressBlocked { .. } => ("throttled", THROTTLED),
        Reservation::Locked { .. } => ("locked", LOCKED),
        _ => ("busy", BUSY),
    };
    web.state.audit.record_why(now, user, peer, event, outcome, None, None);
    refused(StatusCode::TOO_MANY_REQUESTS, "Please wait", text)
}

/// GET /enrol/TOKEN.
pub(super) async fn open_link(web: &Arc<Web>, token: &str, ip: IpAddr, peer: &str) -> Reply {
    let hash = ticket_id_hash(token.as_bytes());
    let short = crate::store::short_id(&hash);
    let w = web.clone();
    let h = hash.clone();
    let Some((reservation, found)) = blocking(move || {
        let r = w.state.auth.reserve(Factor::Password, LINK_OPENER, ip)?;
        let found = match r {
            Reservation::Reserved(_) => Some(link_and_user(&w, &h)?),
            _ => None,
        };
        Ok((r, found))
    })
    .await
    else {
        return unavailable();
    };
    let (attempt, (link, user)) = match (reservation, found) {
        (Reservation::Reserved(a), Some(found)) => (a, found),
        (Reservation::Reserved(_), None) => return unavailable(),
        (r, _) => return refusal_reply(web, &r, "*", peer, "enrol_web_open"),
    };
    let now = web.state.auth.now();
    let why = unusable(link.as_ref(), user.as_ref(), now);
    let end = if why.is_some() { AttemptEnd::Failed } else { AttemptEnd::Abandoned };
    let w = web.clone();
    let counted = blocking(move || w.state.auth.finish(&attempt, end)).await.unwrap_or_default();
    if let Some(why) = why {
        let reply = invalid(web, &short, link.as_ref().map(|l| l.user.as_str()), peer, why);
        after_failure(web, &counted, "*", peer).await;
        return reply;
    }
    let Some(link) = link else { return unavailable() };
    let Some((session_id, e)) = web.sessions.start(&hash, &link.user, &short) else {
        log::warn!("{peer}: enrolment refused: enrol_web.max_sessions enrolments in progress");
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "Too many enrolments are in progress. Try again later.",
        );
    };
    web.state.audit.record_why(now, &link.user, peer, "enrol_web_open", "ok", None, Some(&format!("link {short}")));
    let mut reply =
        http::html(StatusCode::OK, pages::password_form(&web.account(&e.user), &action(token), &e.csrf, None));
    http::set_cookie(&mut reply, &session_id, web.state.config.enrol_web.session_secs);
    reply
}

fn action(token: &str) -> String {
    format!("/enrol/{token}")
}

/// POST /enrol/TOKEN: the password or the first code, with the form's CSRF token.
pub(super) async fn post(
    web: &Arc<Web>,
    token: &str,
    ip: IpAddr,
    peer: &str,
    cookie: Option<String>,
    body: Bytes,
) -> Reply {
    let Some(fields) = http::form(&body) else {
        return refused(StatusCode::BAD_REQUEST, "Bad request", "The form could not be read.");
    };
    let hash = ticket_id_hash(token.as_bytes());
    let short = crate::store::short_id(&hash);
    let (csrf, step) = (http::field(&fields, "csrf"), http::field(&fields, "step"));
    let found = match (&cookie, csrf) {
        (Some(sid), Some(csrf)) => web.sessions.get(sid, &hash, Some(csrf)),
        _ => None,
    };
    let (Some(session_id), Some(e)) = (cookie, found) else {
        let now = web.state.auth.now();
        let why = format!("link {short}: no enrolment for this cookie and CSRF token");
        web.state.audit.record_why(now, "*", peer, "enrol_web_csrf", "refused", None, Some(&why));
        return refused(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "This form is no longer valid or did not come from this page. Open your enrolment link again.",
        );
    };
    // The link may have been revoked, or spent by another browser, since it was opened.
    let w = web.clone();
    let h = hash.clone();
    let Some((link, user)) = blocking(move || link_and_user(&w, &h)).await else { return unavailable() };
    if let Some(why) = unusable(link.as_ref(), user.as_ref(), web.state.auth.now()) {
        web.sessions.end(&session_id);
        return invalid(web, &short, Some(&e.user), peer, why);
    }
    match (step, e.stage.clone()) {
        (Some("password"), Stage::Password) => {
            let password = http::field(&fields, "password").unwrap_or_default().to_owned();
            password_step(web, token, &session_id, &e, password, ip, peer).await
        }
        (Some("confirm"), Stage::Confirm { secret, algorithm, digits }) => {
            let code: String =
                http::field(&fields, "code").unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
            let key = PendingKey { secret, algorithm, digits };
            confirm_step(web, token, &session_id, &e, &key, &code, ip, peer).await
        }
        _ => refused(
            StatusCode::CONFLICT,
            "Step done already",
            "This step is over. Open your enrolment link again to start afresh.",
        ),
    }
}

struct PendingKey {
    secret: crate::crypto::SecretBytes,
    algorithm: totp::Algorithm,
    digits: u32,
}

impl PendingKey {
    fn params(&self, web: &Web) -> TotpParams {
        TotpParams { algorithm: self.algorithm, digits: self.digits, period_secs: web.state.config.totp.period_secs }
    }
}

fn key_page(web: &Web, token: &str, e: &Enrolment, key: &PendingKey, error: Option<&str>) -> Reply {
    let issuer = &web.state.config.totp.issuer;
    let uri = totp::otpauth_uri(issuer, &e.user, key.secret.expose(), &key.params(web));
    let Ok(qr_data_uri) = qr::png_data_uri(&uri) else { return unavailable() };
    let groups = qr::groups_of_four(&totp::to_base32(key.secret.expose()));
    let shown = NewKey {
        qr_data_uri: &qr_data_uri,
        secret_groups: &groups,
        algorithm: key.algorithm.name(),
        digits: key.digits,
        period_secs: web.state.config.totp.period_secs,
    };
    http::html(StatusCode::OK, pages::key_form(&web.account(&e.user), &shown, &action(token), &e.csrf, error))
}

async fn password_step(
    web: &Arc<Web>,
    token: &str,
    session_id: &str,
    e: &Enrolment,
    password: String,
    ip: IpAddr,
    peer: &str,
) -> Reply {
    let (w, user) = (web.clone(), e.user.clone());
    let Some((reservation, stored)) = blocking(move || {
        let r = w.state.auth.reserve(Factor::Password, &user, ip)?;
        let stored = match r {
            Reservation::Reserved(_) => w.state.auth.store.user(&user)?,
            _ => None,
        };
        Ok((r, stored))
    })
    .await
    else {
        return unavailable();
    };
    let attempt = match reservation {
        Reservation::Reserved(a) => a,
        r => return refusal_reply(web, &r, &e.user, peer, "enrol_web_password"),
    };
    // The password a login would take: the same cascade of mechanisms as the ODBC login
    // (a directory user's password is the directory's, not a local hash left over).
    let order = web.state.first_factors.order_for(stored.as_ref().and_then(|u| u.first_factor));
    let hash = stored.map(|u| u.password_hash);
    let secret = Secret::new(password);
    let decision = web.state.first_factors.check(&web.state.passwords, &order, &e.user, &secret, hash, ip).await;
    let ok = decision.verdict == Verdict::Accepted;
    let end = match decision.verdict {
        Verdict::Accepted => AttemptEnd::Succeeded,
        // No answer from the directory: nothing was guessed, so nothing is counted.
        Verdict::Unavailable(_) => AttemptEnd::Abandoned,
        Verdict::NotFound | Verdict::Rejected(_) => AttemptEnd::Failed,
    };
    let w = web.clone();
    let Some(counted) = blocking(move || w.state.auth.finish(&attempt, end)).await else { return unavailable() };
    let now = web.state.auth.now();
    let link = format!("link {}", e.short_id);
    if let Verdict::Unavailable(why) = &decision.verdict {
        let why = format!("{link}: {why}");
        web.state.audit.record_why(now, &e.user, peer, "enrol_web_password", "unavailable", None, Some(&why));
        return unavailable();
    }
    if !ok {
        let locked = matches!(counted.user, Some(FailureOutcome::LockedNow { .. }));
        let why =
            if locked { format!("{link}: wrong password; password locked") } else { format!("{link}: wrong password") };
        web.state.audit.record_why(now, &e.user, peer, "enrol_web_password", "failed", None, Some(&why));
        after_failure(web, &counted, &e.user, peer).await;
        if locked {
            return refused(StatusCode::TOO_MANY_REQUESTS, "Account locked", LOCKED);
        }
        let page = pages::password_form(
            &web.account(&e.user),
            &action(token),
            &e.csrf,
            Some("That password is not right. Try again."),
        );
        return http::html(StatusCode::OK, page);
    }
    web.state.audit.record_why(now, &e.user, peer, "enrol_web_password", "ok", None, Some(&link));
    let algorithm = web.state.config.totp_algorithm();
    let key = PendingKey {
        secret: crate::crypto::SecretBytes::new(totp::generate_secret(algorithm)),
        algorithm,
        digits: web.state.config.totp.digits,
    };
    web.sessions.set_stage(
        session_id,
        Stage::Confirm { secret: key.secret.clone(), algorithm: key.algorithm, digits: key.digits },
    );
    key_page(web, token, e, &key, None)
}

#[allow(clippy::too_many_arguments)]
async fn confirm_step(
    web: &Arc<Web>,
    token: &str,
    session_id: &str,
    e: &Enrolment,
    key: &PendingKey,
    code: &str,
    ip: IpAddr,
    peer: &str,
) -> Reply {
    let (w, user) = (web.clone(), e.user.clone());
    let Some(reservation) = blocking(move || w.state.auth.reserve(Factor::SecondFactor, &user, ip)).await else {
        return unavailable();
    };
    let attempt = match reservation {
        Reservation::Reserved(a) => a,
        r => return refusal_reply(web, &r, &e.user, peer, "enrol_web_confirm"),
    };
    let now = web.state.auth.now();
    let step = key.params(web).matching_step(key.secret.expose(), code, now, web.state.config.totp.skew_steps);
    let w = web.clone();
    let end = if step.is_some() { AttemptEnd::Succeeded } else { AttemptEnd::Failed };
    let Some(counted) = blocking(move || w.state.auth.finish(&attempt, end)).await else { return unavailable() };
    let link = format!("link {}", e.short_id);
    let Some(step) = step else {
        let locked = matches!(counted.user, Some(FailureOutcome::LockedNow { .. }));
        let why = format!("{link}: wrong first code{}", if locked { "; second factor locked" } else { "" });
        web.state.audit.record_why(now, &e.user, peer, "enrol_web_confirm", "failed", Some("TOTP"), Some(&why));
        after_failure(web, &counted, &e.user, peer).await;
        if locked {
            return refused(StatusCode::TOO_MANY_REQUESTS, "Account locked", LOCKED);
        }
        return key_page(web, token, e, key, Some("That code is not right. Enter the code your app shows now."));
    };
    // Spent first: of two browsers confirming one link, one wins; a link revoked a moment
    // ago is refused here and the old key stays.
    let sealed_secret = web.key.seal(&e.user, key.secret.expose());
    let enrolment = TotpEnrolment { sealed_secret, algorithm: key.algorithm.name().into(), digits: key.digits };
    let (w, user, hash) = (web.clone(), e.user.clone(), e.link_hash.clone());
    let done = blocking(move || {
        let store = &w.state.auth.store;
        if store.spend_enrol_link(&hash, now)?.is_none() {
            return Ok(None);
        }
        store.set_totp(&user, &enrolment)?;
        // The confirming code is used: it cannot log in as well.
        store.accept_totp(&user, step, DriftState { drift: 0, candidate: None, streak: 0 })?;
        Ok(Some(w.state.auth.new_backup_codes(&user)?))
    })
    .await;
    let codes = match done {
        None => return unavailable(),
        Some(None) => {
            web.sessions.end(session_id);
            return invalid(web, &e.short_id, Some(&e.user), peer, "spent or revoked during the enrolment");
        }
        Some(Some(codes)) => codes,
    };
    let why = format!("{link}: new key active, {} backup codes", codes.len());
    web.state.audit.record_why(now, &e.user, peer, "enrol_web_confirm", "ok", Some("TOTP"), Some(&why));
    log::info!("{peer}: user `{}` enrolled a TOTP key through enrolment link {}", e.user, e.short_id);
    web.sessions.set_stage(session_id, Stage::Done { codes: Some(codes.clone()) });
    let download = format!("/enrol/{token}/backup-codes.txt");
    http::html(StatusCode::OK, pages::done(&web.account(&e.user), &codes, &download))
}

/// GET /enrol/TOKEN/backup-codes.txt: once, by the browser that confirmed.
pub(super) fn download(web: &Web, token: &str, cookie: Option<String>) -> Reply {
    let hash = ticket_id_hash(token.as_bytes());
    let taken = cookie.as_deref().and_then(|sid| web.sessions.take_codes(sid, &hash).map(|t| (sid, t)));
    let Some((sid, (e, codes))) = taken else {
        return refused(
            StatusCode::NOT_FOUND,
            "Not available",
            "The backup codes can be downloaded once, right after the enrolment.",
        );
    };
    web.sessions.end(sid);
    http::attachment("backup-codes.txt", pages::codes_text(&web.account(&e.user), &codes))
}
