//! Running requests for a statement: prepare, execute, execute direct, catalog queries;
//! and the drain-or-close policy for the session's single server cursor.

use std::sync::atomic::Ordering;

use twofactor_protocol::{CatalogRequest, ClientMessage, ColumnDesc, RowBatch, ServerMessage, MAX_FRAME_LEN};

use crate::conn::{unexpected, Connection, Session};
use crate::diag::{OdbcError, OdbcResult, SqlState};

use super::cursor::Cursor;
use super::timeout::with_query_timeout;
use super::{find_by_serial, lock, Inner, Phase, Spill, Statement};

/// Before statement `me` sends a request: if another statement's server cursor is open,
/// read the rest of it into that statement's spill (it will return those rows later);
/// if that statement is gone, just close the cursor.
pub(crate) fn make_room(conn: &Connection, s: &mut Session, me: u64) -> OdbcResult<()> {
    let Some(owner) = s.cursor_owner else { return Ok(()) };
    // The answer to a Fetch the owner sent ahead comes first: its rows are the next ones.
    let mut ahead = s.release_cursor();
    let other = if owner == me { None } else { find_by_serial(conn, owner) };
    let Some(other) = other else {
        return match ahead {
            Some(Err(e)) if s.is_dead() => Err(e),
            // The server closed the cursor after its last batch.
            Some(Ok(ServerMessage::Rows { last: true, .. })) => Ok(()),
            _ => s.request(&ClientMessage::CloseCursor).map(|_| ()),
        };
    };
    let fetch_rows = conn.fetch_rows().max(1);
    loop {
        let answer = match ahead.take() {
            Some(answer) => answer,
            None => s.request(&ClientMessage::Fetch { max_rows: fetch_rows }),
        };
        match answer {
            Ok(ServerMessage::Rows { batch, last }) => {
                let mut spill = lock(&other.spill);
                spill.batches.push_back(batch);
                if last {
                    spill.drained = true;
                    return Ok(());
                }
            }
            Ok(other_message) => return Err(unexpected(&other_message)),
            Err(e) if s.is_dead() => return Err(e),
            Err(e) => {
                // The other statement reports it at its next fetch; this one goes on.
                lock(&other.spill).error = Some(e);
                return Ok(());
            }
        }
    }
}

/// Parameter data being gathered for one request: more than a frame can hold can never
/// be sent, so building stops there (22001) rather than growing without bound.
pub(crate) fn check_param_data_size(len: usize) -> OdbcResult<()> {
    if len > MAX_FRAME_LEN {
        return Err(OdbcError::new(
            SqlState::STRING_RIGHT_TRUNCATED,
            format!("the parameter data exceed the {MAX_FRAME_LEN} bytes one request may hold; nothing was sent"),
        ));
    }
    Ok(())
}

/// Statement text that alone exceeds a frame is refused before it is copied or encoded
/// (the session refuses any request over the limit too, once encoded).
fn check_sql_size(sql: &str) -> OdbcResult<()> {
    if sql.len() > MAX_FRAME_LEN {
        return Err(OdbcError::new(
            SqlState::INVALID_BUFFER_LENGTH,
            format!(
                "the statement text of {} bytes exceeds the {MAX_FRAME_LEN} bytes one request may hold; nothing was sent",
                sql.len()
            ),
        ));
    }
    Ok(())
}

/// What the server answered to an execution.
enum Reply {
    Rows(Vec<ColumnDesc>, RowBatch, bool),
    Done(i64),
}

fn invalid_cursor_state() -> OdbcError {
    OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: a result set is open; close the cursor first")
}

/// Sends `request` (ExecDirect, Execute or Catalog) and takes the result: an open
/// cursor with its first batch, or a row count.
fn run(stmt: &Statement, inner: &mut Inner, request: &ClientMessage) -> OdbcResult<()> {
    if inner.cursor.is_some() {
        return Err(invalid_cursor_state());
    }
    *lock(&stmt.spill) = Spill::default();
    stmt.ird().lock().columns.clear();
    let me = stmt.serial;
    stmt.running.store(true, Ordering::Release);
    let timeout = inner.attrs.query_timeout;
    let reply = with_query_timeout(&stmt.conn, timeout, || {
        stmt.conn.with_session(|s| {
            make_room(&stmt.conn, s, me)?;
            match s.request(request)? {
                ServerMessage::ResultSet { columns } => match s.receive()? {
                    ServerMessage::Rows { batch, last } => {
                        if !last {
                            s.cursor_owner = Some(me);
                        }
                        Ok(Reply::Rows(columns, batch, last))
                    }
                    other => Err(unexpected(&other)),
                },
                ServerMessage::ExecuteDone { row_count } => Ok(Reply::Done(row_count)),
                other => Err(unexpected(&other)),
            }
        })
    });
    stmt.running.store(false, Ordering::Release);
    match reply? {
        Reply::Rows(columns, batch, last) => {
            stmt.ird().lock().columns = columns;
            let mut cursor = Cursor::new(batch, last);
            cursor.query_timeout = timeout;
            inner.cursor = Some(cursor);
            inner.phase = Phase::Cursor;
            inner.row_count = -1;
            super::scroll::open_static(stmt, inner)?;
        }
        Reply::Done(n) => {
            inner.row_count = n;
            inner.phase = Phase::Executed;
        }
    }
    Ok(())
}

fn fetch_rows(stmt: &Statement, inner: &Inner) -> u32 {
    let configured = stmt.conn.fetch_rows().max(1);
    match inner.attrs.max_rows {
        0 => configured,
        m => configured.min(u32::try_from(m).unwrap_or(u32::MAX)),
    }
}

/// SQLExecDirect. A statement prepared before loses its prepared form.
pub fn exec_direct(stmt: &Statement, inner: &mut Inner, sql: String, params: RowBatch) -> OdbcResult<()> {
    if inner.cursor.is_some() {
        return Err(invalid_cursor_state());
    }
    check_sql_size(&sql)?;
    if let Some(id) = inner.prepared_id.take() {
        close_prepared(stmt, id);
    }
    inner.described_params.clear();
    inner.phase = Phase::Allocated;
    let request = ClientMessage::ExecDirect { sql: sql.clone(), params, fetch_rows: fetch_rows(stmt, inner) };
    inner.sql = Some(sql);
    run(stmt, inner, &request)
}

/// SQLPrepare: the server checks the statement and describes its parameters and columns.
pub fn prepare(stmt: &Statement, inner: &mut Inner, sql: String) -> OdbcResult<()> {
    if inner.cursor.is_some() {
        return Err(invalid_cursor_state());
    }
    check_sql_size(&sql)?;
    if let Some(id) = inner.prepared_id.take() {
        close_prepared(stmt, id);
    }
    inner.phase = Phase::Allocated;
    inner.row_count = -1;
    let me = stmt.serial;
    stmt.running.store(true, Ordering::Release);
    let reply = with_query_timeout(&stmt.conn, inner.attrs.query_timeout, || {
        stmt.conn.with_session(|s| {
            make_room(&stmt.conn, s, me)?;
            match s.request(&ClientMessage::Prepare { sql: sql.clone() })? {
                ServerMessage::Prepared { statement_id, params, columns } => Ok((statement_id, params, columns)),
                other => Err(unexpected(&other)),
            }
        })
    });
    stmt.running.store(false, Ordering::Release);
    let reply = reply?;
    let (id, params, columns) = reply;
    inner.prepared_id = Some(id);
    inner.described_params = params;
    stmt.ird().lock().columns = columns;
    inner.sql = Some(sql);
    inner.phase = Phase::Prepared;
    Ok(())
}

/// SQLExecute of the prepared statement with `params`.
pub fn execute(stmt: &Statement, inner: &mut Inner, params: RowBatch) -> OdbcResult<()> {
    let Some(id) = inner.prepared_id else {
        return Err(OdbcError::sequence("SQLExecute called before SQLPrepare"));
    };
    if inner.cursor.is_some() {
        return Err(invalid_cursor_state());
    }
    let request = ClientMessage::Execute { statement_id: id, params, fetch_rows: fetch_rows(stmt, inner) };
    run(stmt, inner, &request)?;
    if inner.phase == Phase::Executed {
        // Still prepared: it may be executed again.
        inner.phase = Phase::Prepared;
    }
    Ok(())
}

/// A catalog function: the result set arrives like a query's. ODBC 2 applications get
/// the ODBC 2 column names.
pub fn catalog(stmt: &Statement, inner: &mut Inner, request: CatalogRequest) -> OdbcResult<()> {
    if inner.cursor.is_some() {
        return Err(invalid_cursor_state());
    }
    if let Some(id) = inner.prepared_id.take() {
        close_prepared(stmt, id);
    }
    inner.phase = Phase::Allocated;
    inner.sql = None;
    let function = crate::catalog::Function::of(&request);
    let request = ClientMessage::Catalog { request, fetch_rows: fetch_rows(stmt, inner) };
    run(stmt, inner, &request)?;
    rename_for_odbc2(stmt, function);
    Ok(())
}

/// A result built here rather than by the server (SQLSpecialColumns for SQL_ROWVER).
pub fn local_empty_result(
    stmt: &Statement,
    inner: &mut Inner,
    columns: Vec<ColumnDesc>,
    function: crate::catalog::Function,
) -> OdbcResult<()> {
    if inner.cursor.is_some() {
        return Err(invalid_cursor_state());
    }
    if let Some(id) = inner.prepared_id.take() {
        close_prepared(stmt, id);
    }
    *lock(&stmt.spill) = Spill::default();
    let empty = twofactor_protocol::RowBatchBuilder::new(columns.len() as u16).finish();
    stmt.ird().lock().columns = columns;
    inner.cursor = Some(Cursor::new(empty, true));
    inner.phase = Phase::Cursor;
    inner.row_count = -1;
    super::scroll::open_static(stmt, inner)?;
    rename_for_odbc2(stmt, function);
    Ok(())
}

fn rename_for_odbc2(stmt: &Statement, function: crate::catalog::Function) {
    if stmt.conn.odbc_version() == 2 {
        for c in stmt.ird().lock().columns.iter_mut() {
            if let Some(old) = crate::catalog::odbc2_name(function, &c.name) {
                c.name = old.to_owned();
            }
        }
    }
}

/// Forgets a prepared statement on the server; errors do not matter (the session may
/// be gone, and then so is the statement).
pub(crate) fn close_prepared(stmt: &Statement, id: u32) {
    let me = stmt.serial;
    let _ = stmt.conn.with_session(|s| {
        make_room(&stmt.conn, s, me)?;
        s.request(&ClientMessage::CloseStatement { statement_id: id }).map(|_| ())
    });
}

/// SQLCancel: a request on the wire is cancelled on the server; otherwise, as ODBC 3
/// says, it is SQLFreeStmt(SQL_CLOSE).
pub fn cancel(stmt: &Statement) -> OdbcResult<()> {
    if stmt.running.load(Ordering::Acquire) {
        return stmt.conn.cancel();
    }
    let mut inner = stmt.lock();
    if inner.dae.take().is_some() {
        // ODBC: cancelling while data-at-execution parameters are awaited ends that
        // sequence; nothing was sent to the server yet.
        return Ok(());
    }
    stmt.close_cursor(&mut inner)
}
