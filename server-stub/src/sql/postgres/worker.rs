//! The session's PostgreSQL thread. It waits for requests outside any transaction; in
//! manual-commit mode the first statement begins one, which lives on this thread's stack
//! (`in_transaction`) until SQLEndTran or autocommit ends it. A result set is a portal:
//! in autocommit mode it gets a transaction of its own, committed when the cursor ends.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use postgres::{Client, Statement, Transaction};
use twofactor_protocol::{ErrorInfo, RowBatchBuilder, ServerMessage};

use super::catalog;
use super::connect::{PgSession, PgSettings};
use super::errors::{map_error, Failure};
use super::savepoint::{self, role_check_sql, Savepoint};
use super::statement::{self, Source, Target};
use super::types;
use crate::config::RollbackOnError;
use crate::sql::column_size::UnboundedSize;
use crate::sql::cursor::VecCursor;
use crate::sql::thread::{fetch_size, send, send_error, serve_cursor, Inbox, Job, Reply, Shared};
use crate::sql::Request;

/// A statement prepared on the server (a named PostgreSQL statement).
struct Prepared {
    sql: String,
    statement: Statement,
}

/// Everything of the session but the connection, so a transaction can borrow the client
/// while requests change the rest.
pub struct SessionState {
    pub user: String,
    role: String,
    autocommit: bool,
    default_fetch: u32,
    pub unbounded: UnboundedSize,
    pub read_only: bool,
    shared: Arc<Shared>,
    /// (table oid, column number) -> (NOT NULL, table name), for result descriptions.
    pub column_facts: HashMap<(u32, i16), (bool, String)>,
    /// What an error in a manual-commit transaction undoes, and the server's savepoint.
    rollback_on_error: RollbackOnError,
    pub savepoint: Savepoint,
    /// Set by a statement's error (or an aborted transaction seen by the role check), so
    /// the statement can be undone after its reply.
    pub statement_failed: bool,
    /// Set when the session must end: the connection is lost, or the role changed. Every
    /// request after it gets this error and the thread ends.
    pub fatal: Option<ErrorInfo>,
}

impl SessionState {
    /// Replies with `f`; a lost connection also ends the session.
    pub fn reply_error(&mut self, reply: Reply, f: Failure) {
        match f {
            Failure::Statement(e) => {
                self.statement_failed = true;
                send_error(reply, e);
            }
            Failure::Lost(e) => {
                self.note_fatal(Failure::Lost(e.clone()));
                send_error(reply, e);
            }
        }
    }

    /// Records that the session must end; the session sees it with its next reply.
    pub fn note_fatal(&mut self, f: Failure) {
        let info = match f {
            Failure::Lost(e) => e,
            Failure::Statement(e) => e.fatal(),
        };
        self.shared.ended.store(true, Ordering::Release);
        self.fatal.get_or_insert(info);
    }

    /// Checks that the statement just run left the session's role as the server set it
    /// (a function using dynamic SQL could have run `RESET ROLE`, which the guard cannot
    /// see). A changed role ends the session.
    pub fn verify_role(&mut self, target: &mut Target<'_, '_>) -> Result<(), Failure> {
        let in_transaction = matches!(target, Target::Tx(_));
        let current = match target.simple_value(role_check_sql(in_transaction, self.savepoint)) {
            Ok(v) => {
                if in_transaction && self.savepoint != Savepoint::Off {
                    self.savepoint = Savepoint::Top;
                }
                v
            }
            Err(e) => {
                return match map_error(&e) {
                    // An aborted transaction cannot run it, and cannot have changed the
                    // role either (SET ROLE in it is undone by the rollback).
                    Failure::Statement(info) if info.sqlstate_str() == "25P02" => {
                        self.statement_failed = true;
                        Ok(())
                    }
                    // Anything else (a cancel aimed at the check, say) leaves the role
                    // unknown: the session ends.
                    Failure::Statement(info) => Err(Failure::Lost(
                        ErrorInfo::new(
                            b"42501",
                            0,
                            format!("the session's role could not be checked ({}); the session ends", info.message),
                        )
                        .fatal(),
                    )),
                    lost => Err(lost),
                };
            }
        };
        if current.as_deref() == Some(self.role.as_str()) {
            return Ok(());
        }
        log::warn!(
            "user `{}`: a statement changed the PostgreSQL role from `{}` to `{}`; session ended",
            self.user,
            self.role,
            current.as_deref().unwrap_or("?")
        );
        Err(Failure::Lost(
            ErrorInfo::new(b"42501", 0, "the statement changed the session's PostgreSQL role; the session ends")
                .fatal(),
        ))
    }
}

pub struct Worker {
    client: Client,
    state: SessionState,
    statements: HashMap<u32, Prepared>,
    next_id: u32,
}

impl Worker {
    pub fn new(session: PgSession, settings: &PgSettings, autocommit: bool, shared: Arc<Shared>) -> Worker {
        Worker {
            client: session.client,
            state: SessionState {
                user: session.user,
                role: session.role,
                autocommit,
                default_fetch: settings.default_fetch,
                unbounded: UnboundedSize::default(),
                read_only: false,
                rollback_on_error: settings.rollback_on_error(),
                savepoint: Savepoint::Off,
                statement_failed: false,
                shared,
                column_facts: HashMap::new(),
                fatal: None,
            },
            statements: HashMap::new(),
            next_id: 1,
        }
    }

    pub fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let inbox = Inbox { jobs, shared: self.state.shared.clone() };
        let mut pending: Option<Job> = None;
        loop {
            let job = match pending.take() {
                Some(j) => j,
                None => match inbox.next(false) {
                    Some(j) => j,
                    None => break,
                },
            };
            if let Some(e) = &self.state.fatal {
                send_error(job.1, e.clone());
                break;
            }
            pending = self.handle(job, &inbox);
            if self.state.fatal.is_some() && pending.is_none() {
                break;
            }
        }
        // Dropping the client closes the PostgreSQL session (rolling back whatever is open).
    }

    fn is_statement(req: &Request) -> bool {
        matches!(req, Request::ExecDirect { .. } | Request::Execute { .. } | Request::Catalog { .. })
    }

    /// A request outside a transaction.
    fn handle(&mut self, (req, reply): Job, inbox: &Inbox) -> Option<Job> {
        if !self.state.autocommit && Self::is_statement(&req) {
            // Manual commit: the first statement begins the transaction.
            let tx = match self.client.transaction() {
                Ok(tx) => tx,
                Err(e) => {
                    self.state.reply_error(reply, map_error(&e));
                    return None;
                }
            };
            return in_transaction(tx, &mut self.state, &mut self.statements, &mut self.next_id, (req, reply), inbox);
        }
        let mut target = Target::Auto(&mut self.client);
        common(&mut target, &mut self.state, &mut self.statements, &mut self.next_id, (req, reply), inbox)
    }
}

/// Serves requests inside the session's transaction until it ends. The transaction
/// rolls back if the thread leaves without a commit (the session closed).
fn in_transaction(
    mut tx: Transaction<'_>,
    state: &mut SessionState,
    statements: &mut HashMap<u32, Prepared>,
    next_id: &mut u32,
    first: Job,
    inbox: &Inbox,
) -> Option<Job> {
    state.savepoint = Savepoint::for_new_transaction(state.rollback_on_error);
    let mut job = first;
    loop {
        let (req, reply) = job;
        let (commit, autocommit, reply) = match req {
            Request::EndTransaction { commit } => (commit, None, reply),
            Request::SetAutocommit { on: true } => (true, Some(true), reply),
            req => {
                let pending = statement_in_transaction(&mut tx, state, statements, next_id, (req, reply), inbox);
                if state.fatal.is_some() {
                    return pending;
                }
                job = match pending {
                    Some(j) => j,
                    None => inbox.next(true)?,
                };
                continue;
            }
        };
        match if commit { tx.commit() } else { tx.rollback() } {
            Ok(()) => {
                if let Some(on) = autocommit {
                    state.autocommit = on;
                }
                send(reply, &[ServerMessage::Ok]);
            }
            Err(e) => state.reply_error(reply, map_error(&e)),
        }
        return None;
    }
}

/// One request in the open transaction; a statement in it gets the server's savepoint
/// (`savepoint.rs`) so that its error undoes only itself.
fn statement_in_transaction(
    tx: &mut Transaction<'_>,
    state: &mut SessionState,
    statements: &mut HashMap<u32, Prepared>,
    next_id: &mut u32,
    (req, reply): Job,
    inbox: &Inbox,
) -> Option<Job> {
    let sql = match &req {
        Request::ExecDirect { sql, .. } | Request::Prepare { sql } => Some(sql.as_str()),
        Request::Execute { statement_id, .. } => statements.get(statement_id).map(|p| p.sql.as_str()),
        _ => None,
    };
    let manages = sql.filter(|_| state.savepoint != Savepoint::Off).map(savepoint::manages_savepoints);
    if let Some(manages) = manages {
        if let Err(f) = state.before_statement(tx, manages) {
            state.reply_error(reply, f);
            state.statement_failed = false;
            return None;
        }
    }
    state.statement_failed = false;
    let pending = common(&mut Target::Tx(tx), state, statements, next_id, (req, reply), inbox);
    if manages.is_some() {
        state.after_statement(tx);
    }
    pending
}

/// What both modes handle alike. Returns the request that ended a cursor, if any.
fn common(
    target: &mut Target<'_, '_>,
    state: &mut SessionState,
    statements: &mut HashMap<u32, Prepared>,
    next_id: &mut u32,
    (req, reply): Job,
    inbox: &Inbox,
) -> Option<Job> {
    let ok = [ServerMessage::Ok];
    match req {
        Request::ExecDirect { sql, params, fetch_rows } => {
            let fetch = fetch_size(fetch_rows, state.default_fetch);
            return statement::run(target, state, Source::Text(&sql), &params, fetch, reply, inbox);
        }
        Request::Execute { statement_id, params, fetch_rows } => {
            let Some(p) = statements.get(&statement_id) else {
                send_error(reply, ErrorInfo::new(b"HY010", 0, format!("no prepared statement {statement_id}")));
                return None;
            };
            let fetch = fetch_size(fetch_rows, state.default_fetch);
            let source = Source::Prepared { sql: &p.sql, statement: &p.statement };
            return statement::run(target, state, source, &params, fetch, reply, inbox);
        }
        Request::Prepare { sql } => {
            if let Err(e) = super::guard::check(&sql, state.read_only) {
                send_error(reply, e);
                return None;
            }
            match target.prepare(&super::markers::translate(&sql).0) {
                Ok(st) => {
                    let params = st.params().iter().map(types::param_desc).collect();
                    let columns = statement::describe_columns(target, state, &st);
                    let statement_id = *next_id;
                    *next_id = next_id.wrapping_add(1).max(1);
                    statements.insert(statement_id, Prepared { sql, statement: st });
                    send(reply, &[ServerMessage::Prepared { statement_id, params, columns }]);
                }
                Err(e) => state.reply_error(reply, map_error(&e)),
            }
        }
        Request::Fetch { .. } => send_error(reply, ErrorInfo::new(b"24000", 0, "invalid cursor state")),
        Request::CloseCursor => send(reply, &ok),
        Request::CloseStatement { statement_id } => {
            // Dropping the Statement closes it on the server.
            statements.remove(&statement_id);
            send(reply, &ok);
        }
        Request::SetAutocommit { on } => {
            // Outside a transaction there is nothing to commit.
            state.autocommit = on;
            send(reply, &ok);
        }
        Request::EndTransaction { .. } => send(reply, &ok),
        Request::SessionOptions(options) => {
            let sql = format!(
                "SET SESSION CHARACTERISTICS AS TRANSACTION {}",
                if options.read_only { "READ ONLY" } else { "READ WRITE" }
            );
            let result = match target {
                Target::Auto(c) => c.batch_execute(&sql),
                Target::Tx(t) => t.batch_execute(&sql),
            };
            match result {
                Ok(()) => {
                    state.read_only = options.read_only;
                    state.unbounded = UnboundedSize(options.long_column_size);
                    send(reply, &ok);
                }
                Err(e) => state.reply_error(reply, map_error(&e)),
            }
        }
        Request::Catalog { request, fetch_rows } => {
            let fetch = fetch_size(fetch_rows, state.default_fetch);
            match catalog::run(target, &request, state.unbounded) {
                Ok((columns, rows)) => {
                    let mut cursor = VecCursor { rows: rows.into_iter() };
                    return serve_cursor(columns, &mut cursor, RowBatchBuilder::new(0), fetch, reply, inbox);
                }
                Err(e) => state.reply_error(reply, map_error(&e)),
            }
        }
    }
    None
}
