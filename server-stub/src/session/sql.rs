//! A ready session's SQL requests, its worker, and Cancel.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use twofactor_protocol::{ErrorInfo, Secret, ServerMessage};

use super::{on_read_error, LoggedIn, Phase, Sql};
use crate::connection::{Conn, ReadError};
use crate::server::State;
use crate::sql::{Request, SqlWorker, StartError};

/// Runs one SQL request of a ready session, starting its worker first if it needs one.
pub(super) async fn run_sql<S: AsyncRead + AsyncWrite + Unpin>(
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
    let (user, role) = (l.user.clone(), l.sql_role.clone());
    let worker = tokio::task::spawn_blocking(move || SqlWorker::spawn(&settings, &user, role.as_deref(), autocommit))
        .await
        .map_err(|e| {
            StartError::new(ErrorInfo::new(b"HY000", 0, "the server cannot start the session's SQL"), e.to_string())
        })??;
    if let Some(entry) = state.sessions().get_mut(&l.session_id) {
        entry.interrupt = Some(worker.cancel_handle());
    }
    Ok(worker)
}

/// Interrupts another session's running statement. The reply is the same whether or not
/// the session exists and the key matches, so it cannot be used to probe sessions.
pub(super) async fn cancel<S: AsyncRead + AsyncWrite + Unpin>(
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
