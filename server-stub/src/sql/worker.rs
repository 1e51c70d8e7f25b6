//! The per-session SQL thread. Requests come in over a channel with a one-shot reply
//! slot each; the reply is the encoded response frames, ready to write to the socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::{Connection, InterruptHandle, Statement};
use tokio::sync::oneshot;
use twofactor_protocol::{
    CatalogRequest, ColumnDesc, ErrorInfo, Nullability, ParamDesc, RowBatch, RowBatchBuilder, ServerMessage,
    SessionOptions,
};

use super::catalog;
use super::cursor::{push_row, RowSource, SqliteCursor, VecCursor};
use super::errors::map_error;
use super::open::{open, prepare_one, SqlLimits};
use super::param_types;
use super::read_only;
use super::types::{self, Kind, TypeInfo, UnboundedSize};

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

#[derive(Debug)]
pub enum Request {
    ExecDirect { sql: String, params: RowBatch, fetch_rows: u32 },
    Prepare { sql: String },
    Execute { statement_id: u32, params: RowBatch, fetch_rows: u32 },
    Fetch { max_rows: u32 },
    CloseCursor,
    CloseStatement { statement_id: u32 },
    SetAutocommit { on: bool },
    SessionOptions(SessionOptions),
    EndTransaction { commit: bool },
    Catalog { request: CatalogRequest, fetch_rows: u32 },
}

type Reply = oneshot::Sender<Vec<u8>>;
type Job = (Request, Reply);

/// The session's handle on its SQL thread. Dropping it interrupts any running statement
/// and ends the thread, which rolls back an open transaction.
pub struct SqlWorker {
    jobs: Option<mpsc::Sender<Job>>,
    interrupt: Arc<InterruptHandle>,
    shared: Arc<Shared>,
}

/// What the session and its SQL thread both see.
#[derive(Default)]
pub(super) struct Shared {
    /// Set when the session is gone: a running statement stops at its next progress check,
    /// even one that started after the interrupt (which `sqlite3_interrupt` alone misses).
    pub(super) abandoned: AtomicBool,
    /// True while the thread waits with a transaction or a cursor open, which holds a
    /// read snapshot and keeps SQLite's WAL from being checkpointed past it.
    holds_snapshot: AtomicBool,
}

impl SqlWorker {
    /// Starts the thread and opens the database; blocks until it is open. `autocommit` is
    /// the session's setting so far (the session starts its worker at its first SQL
    /// request, and may have switched autocommit off before).
    pub fn spawn(settings: &WorkerSettings, autocommit: bool) -> Result<SqlWorker, String> {
        let settings = settings.clone();
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
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
            .map_err(|e| format!("cannot start a SQL thread: {e}"))?;
        let interrupt = ready_rx.recv().map_err(|_| "SQL thread died at start".to_string())??;
        Ok(SqlWorker { jobs: Some(jobs_tx), interrupt: Arc::new(interrupt), shared })
    }

    /// True while the session has a transaction or a cursor open (read right after a
    /// reply it may still show the state before; it is exact once the thread waits).
    pub fn holds_snapshot(&self) -> bool {
        self.shared.holds_snapshot.load(Ordering::Acquire)
    }

    pub fn interrupt_handle(&self) -> Arc<InterruptHandle> {
        self.interrupt.clone()
    }

    /// Runs one request; `None` if the thread is gone.
    pub async fn call(&self, request: Request) -> Option<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.jobs.as_ref()?.send((request, tx)).ok()?;
        rx.await.ok()
    }
}

impl Drop for SqlWorker {
    fn drop(&mut self) {
        self.shared.abandoned.store(true, Ordering::Release);
        self.interrupt.interrupt();
        self.jobs.take();
    }
}

fn encode(msgs: &[ServerMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        m.encode(&mut out);
    }
    out
}

fn send(reply: Reply, msgs: &[ServerMessage]) {
    // The session may have gone; then nobody wants the answer.
    let _ = reply.send(encode(msgs));
}

fn send_error(reply: Reply, e: ErrorInfo) {
    send(reply, &[ServerMessage::Error(e)]);
}

fn fetch_size(requested: u32, default: u32) -> usize {
    if requested == 0 {
        default as usize
    } else {
        requested as usize
    }
}

/// Where the thread waits for its session's next request.
struct Inbox {
    jobs: mpsc::Receiver<Job>,
    shared: Arc<Shared>,
}

impl Inbox {
    /// The next request; `holds_snapshot` says what the session may see while it waits.
    fn next(&self, holds_snapshot: bool) -> Option<Job> {
        self.shared.holds_snapshot.store(holds_snapshot, Ordering::Release);
        self.jobs.recv().ok()
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
                        return first_batch(columns, &mut cursor, RowBatchBuilder::new(0), fetch, reply, inbox);
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
    first_batch(columns, &mut cursor, batch, fetch, reply, inbox)
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

/// Sends the result set and its first batch, then serves Fetch until the cursor is
/// exhausted or closed. Returns the request that ended the cursor, if it was another one.
fn first_batch(
    columns: Vec<ColumnDesc>,
    cursor: &mut dyn RowSource,
    mut batch: RowBatchBuilder,
    fetch: usize,
    reply: Reply,
    inbox: &Inbox,
) -> Option<Job> {
    if batch.rows() == 0 && batch.byte_len() == 0 {
        batch = RowBatchBuilder::with_capacity(columns.len() as u16, 4096);
    }
    let done = match cursor.fill(&mut batch, fetch) {
        Ok(done) => done,
        Err(e) => {
            send_error(reply, e);
            return None;
        }
    };
    let ncols = columns.len() as u16;
    send(reply, &[ServerMessage::ResultSet { columns }, ServerMessage::Rows { batch: batch.finish(), last: done }]);
    if done {
        return None;
    }
    loop {
        // An open cursor holds a read snapshot until it is closed.
        let (req, reply) = inbox.next(true)?;
        match req {
            Request::Fetch { max_rows } => {
                let mut batch = RowBatchBuilder::with_capacity(ncols, 4096);
                match cursor.fill(&mut batch, fetch_size(max_rows, fetch as u32)) {
                    Ok(done) => {
                        send(reply, &[ServerMessage::Rows { batch: batch.finish(), last: done }]);
                        if done {
                            return None;
                        }
                    }
                    Err(e) => {
                        send_error(reply, e);
                        return None;
                    }
                }
            }
            Request::CloseCursor => {
                send(reply, &[ServerMessage::Ok]);
                return None;
            }
            other => return Some((other, reply)),
        }
    }
}
