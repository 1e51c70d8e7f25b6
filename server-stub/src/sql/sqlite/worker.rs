//! The per-session SQL thread. Requests come in over a channel with a one-shot reply
//! slot each; the reply is the encoded response frames, ready to write to the socket.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{Connection, InterruptHandle, Statement};
use twofactor_protocol::{ColumnDesc, ErrorInfo, Nullability, ParamDesc, RowBatch, RowBatchBuilder, ServerMessage};

use super::catalog;
use super::cursor::{push_row, SqliteCursor};
use super::errors::map_error;
use super::open::{open, prepare_one, SqlLimits};
use super::param_types;
use super::read_only;
use super::types::{self, Kind, TypeInfo, UnboundedSize};
use crate::sql::cursor::VecCursor;
use crate::sql::thread::{fetch_size, send, send_error, serve_cursor, Inbox, Job, Reply, Shared};
use crate::sql::{CancelHandle, CancelSql, Request, StartError};

/// SQLite recurses in C on expression trees (resolving, optimising, code generation), so
/// its stack need grows with the expression depth, which [`EXPR_DEPTH`] bounds. The
/// deepest statements the limits in `open.rs` let through (`tests/hostile_clients.rs`)
/// also pass with a quarter of this in a debug build; the stack is reserved address space,
/// and only the pages a statement touched count as memory.
const WORKER_STACK: usize = 4 * 1024 * 1024;
/// What a session's SQL thread is set up with.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub db_path: std::path::PathBuf,
    pub default_fetch: u32,
    pub limits: SqlLimits,
}

/// Starts the session's SQLite thread and opens the database; blocks until it is open.
pub fn start(
    settings: &WorkerSettings,
    autocommit: bool,
    shared: Arc<Shared>,
    jobs_rx: mpsc::Receiver<Job>,
) -> Result<CancelHandle, StartError> {
    let settings = settings.clone();
    let thread_shared = shared;
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("sql-session".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let conn = match open(&settings.db_path, settings.limits, &thread_shared) {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(conn.get_interrupt_handle()));
            let default_fetch = settings.default_fetch;
            let shared = thread_shared;
            Worker {
                conn,
                statements: HashMap::new(),
                next_id: 1,
                autocommit,
                default_fetch,
                unbounded: UnboundedSize::default(),
                shared,
            }
            .run(jobs_rx);
        })
        .map_err(|e| cannot_open(format!("cannot start a SQL thread: {e}")))?;
    let interrupt = ready_rx
        .recv()
        .map_err(|_| cannot_open("SQL thread died at start".into()))?
        .map_err(|e| cannot_open(format!("cannot open the SQL database: {e}")))?;
    Ok(Arc::new(SqliteCancel(interrupt)))
}

fn cannot_open(log: String) -> StartError {
    StartError::new(ErrorInfo::new(b"HY000", 0, "the server cannot open its database"), log)
}

/// A Cancel request interrupts the running SQLite statement.
struct SqliteCancel(InterruptHandle);

impl CancelSql for SqliteCancel {
    fn cancel(&self) {
        self.0.interrupt();
    }
}

struct Worker {
    conn: Connection,
    statements: HashMap<u32, String>,
    next_id: u32,
    autocommit: bool,
    default_fetch: u32,
    /// The reported size of columns declared without one (the session's `LongColumnSize`).
    unbounded: UnboundedSize,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let inbox = Inbox { jobs, shared: self.shared.clone() };
        let mut pending: Option<Job> = None;
        loop {
            let job = match pending.take() {
                Some(j) => j,
                None => match inbox.next(!self.conn.is_autocommit()) {
                    Some(j) => j,
                    None => break,
                },
            };
            pending = self.handle(job, &inbox);
        }
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Handles one job. A statement that opens a cursor keeps serving Fetch here; the
    /// first other request closes the cursor and is handed back to be handled next.
    fn handle(&mut self, (req, reply): Job, inbox: &Inbox) -> Option<Job> {
        let ok = [ServerMessage::Ok];
        match req {
            Request::ExecDirect { sql, params, fetch_rows } => {
                let fetch = fetch_size(fetch_rows, self.default_fetch);
                return run_statement(&self.conn, self.autocommit, self.unbounded, &sql, &params, fetch, reply, inbox);
            }
            Request::Execute { statement_id, params, fetch_rows } => {
                let Some(sql) = self.statements.get(&statement_id) else {
                    send_error(reply, ErrorInfo::new(b"HY010", 0, format!("no prepared statement {statement_id}")));
                    return None;
                };
                let fetch = fetch_size(fetch_rows, self.default_fetch);
                return run_statement(&self.conn, self.autocommit, self.unbounded, sql, &params, fetch, reply, inbox);
            }
            Request::Prepare { sql } => match describe(&self.conn, &sql, self.unbounded) {
                Ok((params, columns)) => {
                    let statement_id = self.next_id;
                    self.next_id = self.next_id.wrapping_add(1).max(1);
                    self.statements.insert(statement_id, sql);
                    send(reply, &[ServerMessage::Prepared { statement_id, params, columns }]);
                }
                Err(e) => send_error(reply, e),
            },
            Request::Fetch { .. } => send_error(reply, ErrorInfo::new(b"24000", 0, "invalid cursor state")),
            Request::CloseCursor => send(reply, &ok),
            Request::CloseStatement { statement_id } => {
                self.statements.remove(&statement_id);
                send(reply, &ok);
            }
            Request::SetAutocommit { on } => {
                let r = if on && !self.conn.is_autocommit() { self.conn.execute_batch("COMMIT") } else { Ok(()) };
                match r {
                    Ok(()) => {
                        self.autocommit = on;
                        send(reply, &ok);
                    }
                    Err(e) => send_error(reply, map_error(&e)),
                }
            }
            Request::SessionOptions(options) => match read_only::set(&self.conn, options.read_only) {
                Ok(()) => {
                    self.unbounded = UnboundedSize(options.long_column_size);
                    send(reply, &ok);
                }
                Err(e) => send_error(reply, map_error(&e)),
            },
            Request::EndTransaction { commit } => {
                let r = if self.conn.is_autocommit() {
                    Ok(())
                } else {
                    self.conn.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })
                };
                match r {
                    Ok(()) => send(reply, &ok),
                    Err(e) => send_error(reply, map_error(&e)),
                }
            }
            Request::Catalog { request, fetch_rows } => {
                let fetch = fetch_size(fetch_rows, self.default_fetch);
                match catalog::run(&self.conn, &request, self.unbounded) {
                    Ok((columns, rows)) => {
                        let mut cursor = VecCursor { rows: rows.into_iter() };
                        return serve_cursor(columns, &mut cursor, RowBatchBuilder::new(0), fetch, reply, inbox);
                    }
                    Err(e) => send_error(reply, map_error(&e)),
                }
            }
        }
        None
    }
}

/// Parameter and column descriptions of a statement, before it runs.
fn describe(
    conn: &Connection,
    sql: &str,
    unbounded: UnboundedSize,
) -> Result<(Vec<ParamDesc>, Vec<ColumnDesc>), ErrorInfo> {
    let stmt = prepare_one(conn, sql).map_err(|e| map_error(&e))?;
    let params = param_types::describe(conn, sql, stmt.parameter_count());
    let columns = static_columns(conn, &stmt, unbounded).into_iter().map(|(desc, _)| desc).collect();
    Ok((params, columns))
}

/// Column descriptions from declared types; `None` in the second field marks a column
/// without one, whose type the first row decides.
fn static_columns(
    conn: &Connection,
    stmt: &Statement<'_>,
    unbounded: UnboundedSize,
) -> Vec<(ColumnDesc, Option<TypeInfo>)> {
    let meta = stmt.columns_with_metadata();
    stmt.columns()
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let decl = col.decl_type();
            let info = decl.map(types::from_decl);
            let table = meta.get(i).and_then(|m| m.table_name()).unwrap_or("");
            let nullable = match meta.get(i).and_then(|m| Some((m.table_name()?, m.origin_name()?))) {
                Some((t, c)) => match conn.column_metadata(None::<&str>, t, c) {
                    Ok((_, _, true, _, _)) => Nullability::NoNulls,
                    Ok(_) => Nullability::Nullable,
                    Err(_) => Nullability::Unknown,
                },
                None => Nullability::Unknown,
            };
            let shown = info.unwrap_or_else(|| types::from_value(None));
            let mut desc = types::column_desc(col.name(), shown, nullable, table);
            desc.column_size = unbounded.reported(desc.column_size);
            (desc, info)
        })
        .collect()
}

fn is_dml(sql: &str) -> bool {
    let word: String = sql.trim_start().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    matches!(word.to_ascii_uppercase().as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "WITH" | "UPSERT")
}

fn bind_row(stmt: &mut Statement<'_>, params: &RowBatch, row: usize) -> rusqlite::Result<()> {
    for c in 0..params.columns() {
        stmt.raw_bind_parameter(c + 1, types::to_sql(params.value(row, c)))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_statement(
    conn: &Connection,
    autocommit: bool,
    unbounded: UnboundedSize,
    sql: &str,
    params: &RowBatch,
    fetch: usize,
    reply: Reply,
    inbox: &Inbox,
) -> Option<Job> {
    if !autocommit && conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("BEGIN") {
            send_error(reply, map_error(&e));
            return None;
        }
    }
    let mut stmt = match prepare_one(conn, sql) {
        Ok(s) => s,
        // A script of several statements without parameters runs as a batch.
        Err(rusqlite::Error::MultipleStatement) if params.is_empty() => {
            match conn.execute_batch(sql) {
                Ok(()) => send(reply, &[ServerMessage::ExecuteDone { row_count: -1 }]),
                Err(e) => send_error(reply, map_error(&e)),
            }
            return None;
        }
        Err(e) => {
            send_error(reply, map_error(&e));
            return None;
        }
    };
    let markers = stmt.parameter_count();
    if (params.is_empty() && markers > 0) || (!params.is_empty() && params.columns() != markers) {
        let got = if params.is_empty() { 0 } else { params.columns() };
        send_error(
            reply,
            ErrorInfo::new(b"07002", 0, format!("statement has {markers} parameter markers; {got} values were sent")),
        );
        return None;
    }
    if stmt.column_count() == 0 {
        let result = if params.rows() <= 1 {
            (if params.rows() == 1 { bind_row(&mut stmt, params, 0) } else { Ok(()) })
                .and_then(|()| stmt.raw_execute())
                .map(|n| n as i64)
                .map_err(|e| map_error(&e))
        } else {
            execute_array(conn, &mut stmt, params)
        };
        match result {
            Ok(n) => send(reply, &[ServerMessage::ExecuteDone { row_count: if is_dml(sql) { n } else { -1 } }]),
            Err(e) => send_error(reply, e),
        }
        return None;
    }
    if params.rows() > 1 {
        send_error(
            reply,
            ErrorInfo::new(b"HYC00", 0, "parameter arrays are supported only for statements without a result set"),
        );
        return None;
    }
    if params.rows() == 1 {
        if let Err(e) = bind_row(&mut stmt, params, 0) {
            send_error(reply, map_error(&e));
            return None;
        }
    }
    let described = static_columns(conn, &stmt, unbounded);
    let mut rows = stmt.raw_query();
    let mut kinds: Vec<Kind> = described.iter().map(|(_, info)| info.map_or(Kind::Plain, |i| i.kind)).collect();
    let mut columns: Vec<ColumnDesc> = described.iter().map(|(d, _)| d.clone()).collect();
    let mut batch = RowBatchBuilder::with_capacity(columns.len() as u16, 4096);
    let first = match rows.next() {
        Ok(Some(row)) => {
            // Expression columns have no declared type: the first value decides it.
            for (i, (_, info)) in described.iter().enumerate() {
                if info.is_none() {
                    let t = types::from_value(row.get_ref(i).ok());
                    columns[i].sql_type = t.sql_type;
                    columns[i].type_name = types::type_name(t.sql_type).to_owned();
                    columns[i].column_size = unbounded.reported(t.size);
                    columns[i].decimal_digits = t.digits;
                    kinds[i] = t.kind;
                }
            }
            push_row(row, &kinds, &mut batch).map(|()| false)
        }
        Ok(None) => Ok(true),
        Err(e) => Err(map_error(&e)),
    };
    match first {
        Ok(false) => {}
        Ok(true) => {
            let batch = batch.finish();
            send(reply, &[ServerMessage::ResultSet { columns }, ServerMessage::Rows { batch, last: true }]);
            return None;
        }
        Err(e) => {
            send_error(reply, e);
            return None;
        }
    }
    let mut cursor = SqliteCursor { rows, kinds };
    serve_cursor(columns, &mut cursor, batch, fetch, reply, inbox)
}

/// Runs the statement once per parameter row, all or nothing.
fn execute_array(conn: &Connection, stmt: &mut Statement<'_>, params: &RowBatch) -> Result<i64, ErrorInfo> {
    // Inside a manual transaction a savepoint keeps the array atomic without ending it.
    let nested = !conn.is_autocommit();
    let (begin, commit, rollback) = if nested {
        ("SAVEPOINT param_array", "RELEASE param_array", "ROLLBACK TO param_array; RELEASE param_array")
    } else {
        ("BEGIN", "COMMIT", "ROLLBACK")
    };
    conn.execute_batch(begin).map_err(|e| map_error(&e))?;
    let mut total = 0i64;
    for row in 0..params.rows() {
        if let Err(e) = bind_row(stmt, params, row).and_then(|()| stmt.raw_execute()).map(|n| total += n as i64) {
            let _ = conn.execute_batch(rollback);
            let mut info = map_error(&e);
            info.message = format!("parameter row {}: {}", row + 1, info.message);
            return Err(info);
        }
    }
    conn.execute_batch(commit).map_err(|e| map_error(&e))?;
    Ok(total)
}
