//! Two-factor tickets in a session (docs/tickets.md): the ticket a `LoginWithTicket`
//! offers, checked once the password is right and a second factor is due, and
//! `RequestTicket` on a ready session whose second factor was a code.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use twofactor_protocol::{ErrorInfo, Secret, ServerMessage};

use super::{audit_address_block, blocking, delay, BusyWait, LoggedIn, LoginVia, Phase, Sql, BUSY, LOCKED, THROTTLED};
use crate::audit::rfc3339;
use crate::auth::{IssueRefusal, Verdict, TICKET_EVENT, TICKET_METHOD};
use crate::connection::Conn;
use crate::server::State;

/// The native error of a refused `RequestTicket`.
const TICKETS_OFF: i32 = 1013;

/// What `LoginWithTicket` carries besides the password.
pub(super) struct TicketOffer {
    pub ticket_id: Secret<Vec<u8>>,
    pub proof: Vec<u8>,
}

pub(super) enum TicketOutcome {
    /// The ticket stands in for the second factor; it ends then at the latest.
    Accepted { expires_at: i64 },
    /// Counted like a wrong code and audited; the login goes on as after `Login`.
    Refused,
    /// The connection was failed (the refusal locked the account, the store is down...).
    Closed(Phase),
}

/// Checks the ticket `user` offered, whose password was right and who owes a second
/// factor, by the login's `deadline`; `method` is the user's active method, for the audit.
pub(super) async fn check_offered<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    user: &str,
    method: &'static str,
    offer: TicketOffer,
    deadline: Instant,
) -> TicketOutcome {
    let offer = Arc::new(offer);
    let (ip, exporter) = (conn.ip, conn.tls.exporter);
    let mut wait = BusyWait::until(deadline);
    let found = loop {
        let (st, name, offer) = (state.clone(), user.to_owned(), offer.clone());
        let checked =
            blocking(move || st.auth.check_ticket(&name, offer.ticket_id.expose(), &offer.proof, &exporter, ip)).await;
        match checked {
            None => return TicketOutcome::Closed(conn.store_unavailable().await),
            Some(c) if c.checked.verdict == Verdict::Busy && wait.again().await => {}
            Some(c) => break c,
        }
    };
    let now = state.auth.now();
    let peer = conn.peer.clone();
    let short = &found.short_id;
    let refused = |why: String| {
        log::info!("{peer}: user `{user}`: two-factor ticket refused: {why}");
        state.audit.record_why(now, user, &peer, TICKET_EVENT, "refused", Some(method), Some(&why));
    };
    let why = found.refusal.clone().unwrap_or_default();
    match found.checked.verdict {
        Verdict::Accepted => {
            let Some(ticket) = found.ticket else {
                return TicketOutcome::Closed(conn.store_unavailable().await);
            };
            let reason =
                format!("ticket {short}, issued {}, expires {}", rfc3339(ticket.issued_at), rfc3339(ticket.expires_at));
            log::info!("{peer}: user `{user}`: second factor by two-factor ticket {short}");
            state.audit.record_why(now, user, &peer, TICKET_EVENT, "used", Some(TICKET_METHOD), Some(&reason));
            TicketOutcome::Accepted { expires_at: ticket.expires_at }
        }
        Verdict::Rejected { failures } => {
            refused(format!("ticket {short}: {why}; counted as a rejected code ({failures} in a row)"));
            audit_address_block(state, &found.checked.counted, user, &peer, now);
            delay(state.auth.backoff(failures)).await;
            TicketOutcome::Refused
        }
        Verdict::Locked { just_now: true } => {
            refused(format!("ticket {short}: {why}; counted as a rejected code, which reached the limit"));
            audit_address_block(state, &found.checked.counted, user, &peer, now);
            log::warn!("{peer}: user `{user}` locked after too many rejected second factors");
            let why = Some("too many rejected codes or tickets");
            state.audit.record_why(now, user, &peer, "lockout", "locked", Some(method), why);
            TicketOutcome::Closed(conn.fail(b"28000", 1003, LOCKED).await)
        }
        Verdict::AddressBlocked => {
            refused(format!("ticket {short}: not checked: too many failed logins from this address"));
            TicketOutcome::Closed(conn.fail(b"28000", 1009, THROTTLED).await)
        }
        Verdict::Busy => {
            refused(format!("ticket {short}: not checked: the failure budget is held by attempts in flight"));
            TicketOutcome::Closed(conn.fail(b"28000", 1021, BUSY).await)
        }
        // Locked before this attempt (nothing counted), or a verdict without a reason.
        _ => {
            refused(format!("ticket {short}: not checked: the second factor is locked"));
            TicketOutcome::Closed(conn.fail(b"28000", 1003, LOCKED).await)
        }
    }
}

/// `RequestTicket` on a ready session: a ticket bound to `public_key`, or a non-fatal
/// refusal after which the session goes on.
pub(super) async fn request_ticket<S: AsyncRead + AsyncWrite + Unpin>(
    state: &Arc<State>,
    conn: &mut Conn<S>,
    mut l: LoggedIn,
    sql: Sql,
    public_key: Vec<u8>,
) -> Phase {
    let now = state.auth.now();
    let (peer, user) = (conn.peer.clone(), l.user.clone());
    let refuse = |state_code: &[u8; 5], message: &str, why: &str| {
        log::info!("{peer}: user `{user}`: no two-factor ticket: {why}");
        state.audit.record_why(now, &user, &peer, TICKET_EVENT, "not_issued", None, Some(why));
        ServerMessage::Error(ErrorInfo::new(state_code, TICKETS_OFF, message))
    };
    let off = "two-factor tickets are off for this user";
    let answer = if l.via != LoginVia::Code {
        refuse(b"28000", off, "this session's second factor was not a code (a ticket, none, or a service login)")
    } else if l.ticket_issued {
        refuse(b"28000", "a two-factor ticket was issued on this session already", "one ticket per session")
    } else {
        let (st, name, p) = (state.clone(), user.clone(), peer.clone());
        let Some(issued) = blocking(move || st.auth.issue_ticket(&name, &public_key, &p)).await else {
            return conn.store_unavailable().await;
        };
        match issued {
            Err(IssueRefusal::Off) => refuse(b"28000", off, "the server's or the user's ticket policy says no"),
            Err(IssueRefusal::BadKey) => refuse(
                b"HY000",
                "the ticket's public key must be a 32-byte Ed25519 key",
                "the public key is not 32 bytes",
            ),
            Ok(t) => {
                l.ticket_issued = true;
                let mut reason =
                    format!("ticket {}, expires {}, idle limit {}s", t.short_id, rfc3339(t.expires_at), t.idle_secs);
                if t.revoked_oldest > 0 {
                    reason.push_str(&format!("; {} oldest revoked (tickets.max_per_user)", t.revoked_oldest));
                }
                log::info!("{peer}: user `{user}`: two-factor ticket {} issued", t.short_id);
                state.audit.record_why(now, &user, &peer, TICKET_EVENT, "issued", None, Some(&reason));
                ServerMessage::Ticket { ticket_id: t.ticket_id, expires_at: t.expires_at, idle_secs: t.idle_secs }
            }
        }
    };
    conn.reply(answer, Phase::Ready(l, sql)).await
}
