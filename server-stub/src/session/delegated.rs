//! The delegated second factor after the password: the session is registered first (the
//! hook is told its identifier, as initMFA gets the session), then the hook's `init`
//! decides: a code is due (FirstFactorOk asks for it, with the hook's hint), none is due
//! (logged in), or the login fails closed (the hook refused, failed or did not answer by
//! the login deadline). The code itself is checked in second_factor.rs.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use twofactor_protocol::{SecondFactor, SecondFactorMethod, DELEGATED_SINCE_VERSION};

use super::first_factor::register_session;
use super::login::first_factor_ok_registered;
use super::{blocking, Phase};
use crate::connection::Conn;
use crate::hook::{HookError, InitAnswer};
use crate::server::State;
use crate::store::Method;
use crate::throttle::Admitted;

/// The hook refused to start a second factor for this user.
pub(super) const HOOK_REFUSED: &str = "the two-factor service refused this login; ask the administrator";
/// The hook failed (garbage, an error exit, unreachable) or did not answer in time.
pub(super) const HOOK_FAILED: &str =
    "the two-factor service failed or did not answer in time; try again later or ask the administrator";
pub(super) const NATIVE_HOOK_REFUSED: i32 = 1040;
pub(super) const NATIVE_HOOK_FAILED: i32 = 1041;

/// What the driver is told the method is: `Delegated` for a driver that knows it, `Totp`
/// (a code to type, no channel claimed) for an older one.
pub(super) fn wire_method(protocol_version: u16) -> SecondFactorMethod {
    if protocol_version >= DELEGATED_SINCE_VERSION {
        SecondFactorMethod::Delegated
    } else {
        SecondFactorMethod::Totp
    }
}

pub(super) async fn begin<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    user: &str,
    deadline: Instant,
    admitted: &mut Option<Admitted<'_>>,
) -> Phase {
    let registered = register_session(state);
    let session_id = registered.0;
    let st = state.clone();
    let (name, peer) = (user.to_owned(), conn.peer.clone());
    let call = blocking(move || Ok(st.auth.delegated_init(&name, &peer, session_id)));
    let answer = match tokio::time::timeout_at(deadline, call).await {
        Ok(Some(answer)) => answer,
        Ok(None) => {
            state.sessions().remove(&session_id);
            return conn.fail(b"HY000", NATIVE_HOOK_FAILED, HOOK_FAILED).await;
        }
        Err(_) => Err(HookError::TimedOut(std::time::Duration::from_secs(state.config.server.login_timeout_secs))),
    };
    let now = state.auth.now();
    let peer = conn.peer.clone();
    let method = Some(Method::Delegated.as_str());
    match answer {
        Ok(InitAnswer::Sent { hint }) => {
            state.audit.record_why(now, user, &peer, "delegated_init", "sent", method, Some(&hint));
            let timeout = state.config.auth.two_factor_timeout_secs;
            let second = SecondFactor::Required {
                method: wire_method(conn.protocol_version),
                seconds_left: u32::try_from(timeout).unwrap_or(u32::MAX),
                hint,
            };
            first_factor_ok_registered(state, conn, user, registered, second, Method::Delegated.as_str(), admitted)
                .await
        }
        Ok(InitAnswer::NotRequired) => {
            let why = Some("the hook says no second factor is needed");
            state.audit.record_why(now, user, &peer, "delegated_init", "not_required", method, why);
            let none = Method::None.as_str();
            first_factor_ok_registered(state, conn, user, registered, SecondFactor::NotRequired, none, admitted).await
        }
        Ok(InitAnswer::Refused { message }) => {
            state.sessions().remove(&session_id);
            log::info!("{peer}: user `{user}`: the delegated hook refused: {message}");
            state.audit.record_why(now, user, &peer, "delegated_init", "refused", method, Some(&message));
            conn.fail(b"28000", NATIVE_HOOK_REFUSED, HOOK_REFUSED).await
        }
        Err(e) => {
            state.sessions().remove(&session_id);
            log::warn!("{peer}: user `{user}`: the delegated hook's init failed: {e}");
            let outcome = if matches!(e, HookError::TimedOut(_)) { "timeout" } else { "failed" };
            state.audit.record_why(now, user, &peer, "delegated_init", outcome, method, Some(&e.to_string()));
            conn.fail(b"HY000", NATIVE_HOOK_FAILED, HOOK_FAILED).await
        }
    }
}
