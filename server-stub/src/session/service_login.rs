//! KeyLogin and CertLogin: a service account logs in with its Ed25519 key or its client
//! certificate instead of a password and a code (docs/service-accounts.md). Reserved and
//! counted like a password (the address throttle and the account's lockout apply), and
//! refused with one message whatever the reason, so a refusal tells nothing about the
//! account; the audit has the real reason. An attempt from outside the account's
//! networks verifies nothing and is refused before it is counted.

use std::sync::Arc;

use ring::signature::{UnparsedPublicKey, ED25519};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use twofactor_protocol::proof::{key_login_message, SIGNATURE_LEN};
use twofactor_protocol::{SecondFactor, Secret, ServerMessage};

use super::first_factor::{after_failure, register_session, reserve};
use super::{blocking, ready, LoggedIn, LoginVia, Phase, LOCKED};
use crate::connection::Conn;
use crate::server::State;
use crate::store::{AttemptEnd, Method, ServiceAccount, ServiceKind, StoreError, UserRecord};
use crate::throttle::Admitted;

const REFUSED: &str = "service-account login refused";
const EVENT: &str = "service_login";

/// What the client offered.
pub(super) enum ServiceProof {
    /// KeyLogin's signature over `key_login_message`.
    Key(Vec<u8>),
    /// CertLogin: the certificate of the TLS handshake.
    Certificate,
}

impl ServiceProof {
    fn kind(&self) -> ServiceKind {
        match self {
            ServiceProof::Key(_) => ServiceKind::Key,
            ServiceProof::Certificate => ServiceKind::Certificate,
        }
    }
}

fn load_user(state: &State, name: &str) -> Result<Option<UserRecord>, StoreError> {
    state.auth.store.user(name)
}

pub(super) async fn service_login<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    user: String,
    proof: ServiceProof,
    deadline: Instant,
    admitted: &mut Option<Admitted<'_>>,
) -> Phase {
    let peer = conn.peer.clone();
    let method = proof.kind().as_str();
    // From outside the account's networks nothing is verified, so the attempt is no guess:
    // it is refused before an attempt is reserved and counts against nothing. Otherwise
    // anyone who can reach the port could lock an unattended job out by sending bad
    // proofs (a key cannot be guessed, so the lockout protects nothing for it).
    let (st, name) = (state.clone(), user.clone());
    let Some(account) = blocking(move || st.auth.store.service_account(&name)).await else {
        return conn.store_unavailable().await;
    };
    if account.as_ref().is_some_and(|a| !a.allows_address(conn.ip)) {
        let why = "the source address is outside the account's networks; not counted";
        log::info!("{peer}: service-account login as `{user}` refused: {why}");
        state.audit.record_why(state.auth.now(), &user, &peer, EVENT, "rejected", Some(method), Some(why));
        return conn.fail(b"28000", 1012, REFUSED).await;
    }
    // The account read above is the one checked: only the user row (counters, locks) is
    // read again, under the reservation.
    let (attempt, record) = match reserve(state, conn, &user, EVENT, deadline, load_user).await {
        Ok(reserved) => reserved,
        Err(phase) => return phase,
    };
    let refusal = refusal(state, conn, &user, &proof, record.as_ref(), account.as_ref());
    // A locked account's counters stay as they are: only a completed login resets them.
    let locked = record.as_ref().is_some_and(|r| r.is_locked(state.auth.now()));
    let end = match (refusal, locked) {
        (Some(_), _) => AttemptEnd::Failed,
        (None, true) => AttemptEnd::Succeeded,
        (None, false) => AttemptEnd::LoggedIn,
    };
    let st = state.clone();
    let Some(counted) = blocking(move || st.auth.finish(&attempt, end)).await else {
        return conn.store_unavailable().await;
    };
    let now = state.auth.now();
    if let Some(why) = refusal {
        log::info!("{peer}: service-account login as `{user}` refused: {why}");
        state.audit.record_why(now, &user, &peer, EVENT, "rejected", Some(method), Some(why));
        after_failure(state, &counted, &user, &peer).await;
        return conn.fail(b"28000", 1012, REFUSED).await;
    }
    let Some(account) = account.filter(|_| record.is_some()) else {
        return conn.store_unavailable().await;
    };
    // Locked at the second factor (a failure streak from before it became a service
    // account); `user unlock` lifts it.
    if locked {
        state.audit.record_why(now, &user, &peer, EVENT, "locked", Some(method), Some("account locked"));
        return conn.fail(b"28000", 1003, LOCKED).await;
    }
    let (session_id, cancel_key) = register_session(state);
    state.audit.record(now, &user, &peer, EVENT, "ok", Some(method));
    let logged_in = LoggedIn {
        user,
        session_id,
        method: Method::None.as_str(),
        ticket_issued: false,
        via: LoginVia::ServiceAccount,
        sql_role: account.sql_role,
    };
    // Logged in: the place is given back before the answer (see login.rs).
    admitted.take();
    let ok = ServerMessage::FirstFactorOk {
        session_id,
        cancel_key: Secret::new(cancel_key),
        second_factor: SecondFactor::NotRequired,
    };
    if !conn.send(ok).await {
        return Phase::Closed;
    }
    ready(conn, logged_in)
}

/// Why the login is refused, for the audit; None when every rule holds. Every rule is
/// checked whatever an earlier one found, so the time taken tells nothing either.
fn refusal<S>(
    state: &State,
    conn: &Conn<S>,
    user: &str,
    proof: &ServiceProof,
    record: Option<&UserRecord>,
    account: Option<&ServiceAccount>,
) -> Option<&'static str> {
    let Some(account) = account.filter(|_| record.is_some()) else {
        // The proof is still checked, against a key nobody has.
        let _ = proves(state, conn, user, proof, &[0u8; 32]);
        return Some(if record.is_some() { "not a service account" } else { "unknown user" });
    };
    let proven = proves(state, conn, user, proof, &account.credential);
    let kind_ok = account.kind == proof.kind();
    let backend_ok = account.backend.allows(state.config.sql.backend);
    if !kind_ok {
        Some(match account.kind {
            ServiceKind::Key => "the account logs in with a key, not a certificate",
            ServiceKind::Certificate => "the account logs in with a certificate, not a key",
        })
    } else if !proven {
        Some(match proof {
            ServiceProof::Key(_) => "the key proof does not verify",
            ServiceProof::Certificate if conn.tls.client_certificates.is_empty() => "no client certificate",
            ServiceProof::Certificate => "the client certificate is not the one pinned to the account",
        })
    } else if !backend_ok {
        Some("the account may not use this server's SQL backend")
    } else {
        None
    }
}

/// Whether the proof holds for `credential`: the signature verifies with it as the
/// Ed25519 public key over this TLS session's login message, or the handshake's client
/// certificate has it as its SHA-256 (compared in constant time).
fn proves<S>(state: &State, conn: &Conn<S>, user: &str, proof: &ServiceProof, credential: &[u8]) -> bool {
    match proof {
        ServiceProof::Key(signature) => {
            if signature.len() != SIGNATURE_LEN {
                return false;
            }
            let message = key_login_message(&conn.tls.exporter, &state.config.server.name, user);
            UnparsedPublicKey::new(&ED25519, credential).verify(&message, signature).is_ok()
        }
        ServiceProof::Certificate => conn
            .tls
            .client_certificates
            .first()
            .is_some_and(|cert| bool::from(crate::client_ca::fingerprint(cert).ct_eq(credential))),
    }
}
