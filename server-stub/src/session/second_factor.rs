//! The second factor (SecondFactor): a code checked against the user's method and
//! backup codes, under the replay, lockout and backoff rules.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use twofactor_protocol::{Secret, ServerMessage};

use super::delegated::{HOOK_FAILED, NATIVE_HOOK_FAILED};
use super::{
    audit_address_block, blocking, delay, ready, BusyWait, LoggedIn, Phase, BUSY, CODE_REJECTED, LOCKED, THROTTLED,
};
use crate::auth::Verdict;
use crate::connection::Conn;
use crate::hook::HookError;
use crate::server::State;
use crate::throttle::Admitted;

pub(super) async fn second_factor<S: AsyncRead + AsyncWrite + Unpin>(
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
    let session_id = l.session_id;
    let (checked, hook_failure) = loop {
        let (st, name, code) = (st.clone(), name.clone(), code.clone());
        match blocking(move || st.auth.check_second_factor_on(&name, code.expose(), ip, session_id)).await {
            None => return conn.store_unavailable().await,
            Some((c, _)) if c.verdict == Verdict::Busy && wait.again().await => {}
            Some(found) => break found,
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
        // The hook failed or timed out: counted as a rejection (fail closed), and said so.
        Verdict::Rejected { failures } if hook_failure.is_some() => {
            let e = hook_failure.unwrap_or(HookError::Failed(String::new()));
            log::warn!("{peer}: user `{}`: the delegated hook's check failed ({failures} in a row): {e}", l.user);
            let outcome = if matches!(e, HookError::TimedOut(_)) { "hook_timeout" } else { "hook_failed" };
            let why = format!("{e}; counted as a rejected code ({failures} in a row)");
            state.audit.record_why(now, &l.user, &peer, "second_factor", outcome, method, Some(&why));
            audit_address_block(state, &checked.counted, &l.user, &peer, now);
            delay(state.auth.backoff(failures)).await;
            conn.fail(b"HY000", NATIVE_HOOK_FAILED, HOOK_FAILED).await
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
