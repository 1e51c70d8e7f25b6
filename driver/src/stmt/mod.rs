//! The statement handle: its state machine (allocated → prepared → executed, with or
//! without an open cursor), its attributes, its descriptors and the rows it holds.
//!
//! Locks, always taken in this order, never backwards:
//! 1. a statement's `inner` (one ODBC call at a time on a statement),
//! 2. its application descriptor (ARD/APD), then its implementation one (IRD/IPD),
//! 3. the connection's session (`Connection::with_session`),
//! 4. any statement's `spill` (only ever held for a push or a pop).
//!
//! The server keeps one open cursor per session. A statement that needs the session while
//! another statement's cursor is open drains the rest of that cursor into the other
//! statement's `spill` (step 4 above, never its `inner`), so the other statement still
//! returns all its rows.
//!
//! Read-ahead: once a cursor has taken a second batch from the server, every batch that
//! is not the last is followed at once by the next Fetch (`Session::send_ahead`), so at
//! most one request is ahead, always for `Session::cursor_owner`. Any other request first
//! reads its answer (`Session::send` keeps it for `take_ahead`), and whoever ends the
//! cursor takes it with `Session::release_cursor`: the drain (`exec::make_room`) puts its
//! rows in the spill ahead of the rest, `close_cursor` and the end of a transaction drop
//! them.

pub mod attrs;
pub mod columns;
pub mod cursor;
pub mod dae;
pub mod exec;
pub mod scroll;
pub mod timeout;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use twofactor_protocol::{ClientMessage, ParamDesc, RowBatch};

use crate::conn::Connection;
use crate::desc::{DescKind, Descriptor};
use crate::diag::{DiagArea, OdbcError, OdbcResult, SqlState};
use crate::handles::{self, RawHandle};

pub use attrs::StmtAttrs;
pub use cursor::Cursor;

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// Where a statement is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Allocated,
    /// Prepared, not executed (or executed without a result set and prepared).
    Prepared,
    /// Executed; no result set (row count only).
    Executed,
    /// A result set is open.
    Cursor,
}

/// Rows drained on this statement's behalf while another statement used the session.
#[derive(Debug, Default)]
pub struct Spill {
    pub batches: VecDeque<RowBatch>,
    /// The server cursor was read to its end into `batches`.
    pub drained: bool,
    /// The drain failed; reported at the next fetch.
    pub error: Option<OdbcError>,
}

/// Everything one ODBC call on the statement reads or changes.
pub struct Inner {
    pub phase: Phase,
    pub sql: Option<String>,
    /// The server's id of the prepared statement.
    pub prepared_id: Option<u32>,
    /// Parameters the server described at prepare time.
    pub described_params: Vec<ParamDesc>,
    pub cursor: Option<Cursor>,
    /// SQLRowCount: rows affected by the last execution (-1 unknown).
    pub row_count: i64,
    /// Whether the last execution produced a result set (SQLMoreResults answers once).
    pub attrs: StmtAttrs,
    pub cursor_name: Option<String>,
    /// Explicit descriptors the application put in place of the implicit ARD/APD.
    pub explicit_ard: Option<Arc<Descriptor>>,
    pub explicit_apd: Option<Arc<Descriptor>>,
    pub param_scratch: crate::convert::ParamScratch,
    /// Between SQL_NEED_DATA and the execution: the data-at-execution parameters.
    pub dae: Option<dae::DataAtExec>,
    /// SQLFetch's bound columns, resolved once per call; kept for its allocation.
    pub(crate) fetch_plan: Vec<crate::ffi::fetch::ColumnPlan>,
}

pub struct Statement {
    pub(crate) diagnostics: DiagArea,
    pub conn: Arc<Connection>,
    /// Unique in the process: names the statement as the session's cursor owner.
    pub serial: u64,
    handle: OnceLock<RawHandle>,
    inner: Mutex<Inner>,
    pub(crate) spill: Mutex<Spill>,
    /// A request of this statement is on the wire (SQLCancel then cancels on the server).
    pub(crate) running: AtomicBool,
    /// ARD, APD, IRD, IPD.
    implicit: [Arc<Descriptor>; 4],
    implicit_handles: OnceLock<[RawHandle; 4]>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Statement {
    fn new(conn: &Arc<Connection>) -> Self {
        let d = |k| Arc::new(Descriptor::new(Arc::clone(conn), k, false));
        Statement {
            diagnostics: DiagArea::default(),
            conn: Arc::clone(conn),
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            handle: OnceLock::new(),
            inner: Mutex::new(Inner {
                phase: Phase::Allocated,
                sql: None,
                prepared_id: None,
                described_params: Vec::new(),
                cursor: None,
                row_count: -1,
                attrs: StmtAttrs::for_connection(conn),
                cursor_name: None,
                explicit_ard: None,
                explicit_apd: None,
                param_scratch: Default::default(),
                dae: None,
                fetch_plan: Vec::new(),
            }),
            spill: Mutex::default(),
            running: AtomicBool::new(false),
            implicit: [d(DescKind::Ard), d(DescKind::Apd), d(DescKind::Ird), d(DescKind::Ipd)],
            implicit_handles: OnceLock::new(),
        }
    }

    pub fn diagnostics(&self) -> &DiagArea {
        &self.diagnostics
    }

    /// The statement's state for one call (lock order step 1).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// The statement's state for a call that ODBC forbids while data-at-execution
    /// parameters are awaited (everything but SQLParamData, SQLPutData, SQLCancel,
    /// SQLFreeStmt and the diagnostic calls).
    pub fn lock_idle(&self) -> OdbcResult<MutexGuard<'_, Inner>> {
        let inner = lock(&self.inner);
        if inner.dae.is_some() {
            return Err(OdbcError::sequence(
                "data-at-execution parameters are awaited: call SQLParamData/SQLPutData or SQLCancel first",
            ));
        }
        Ok(inner)
    }

    pub fn handle(&self) -> RawHandle {
        self.handle.get().copied().unwrap_or(0)
    }

    /// The ARD in use: an explicit one the application set, else the implicit one.
    pub fn ard(&self, inner: &Inner) -> Arc<Descriptor> {
        match &inner.explicit_ard {
            Some(d) if !d.is_freed() => Arc::clone(d),
            _ => Arc::clone(&self.implicit[0]),
        }
    }

    pub fn apd(&self, inner: &Inner) -> Arc<Descriptor> {
        match &inner.explicit_apd {
            Some(d) if !d.is_freed() => Arc::clone(d),
            _ => Arc::clone(&self.implicit[1]),
        }
    }

    pub fn ird(&self) -> &Arc<Descriptor> {
        &self.implicit[2]
    }

    pub fn ipd(&self) -> &Arc<Descriptor> {
        &self.implicit[3]
    }

    pub fn implicit_ard(&self) -> &Arc<Descriptor> {
        &self.implicit[0]
    }

    pub fn implicit_apd(&self) -> &Arc<Descriptor> {
        &self.implicit[1]
    }

    /// Handle values of the implicit ARD, APD, IRD, IPD.
    pub fn implicit_handles(&self) -> [RawHandle; 4] {
        self.implicit_handles.get().copied().unwrap_or([0; 4])
    }

    /// The handle of a descriptor in use by this statement: the explicit one's own handle
    /// is found in the connection's list.
    pub fn descriptor_handle(&self, d: &Arc<Descriptor>) -> RawHandle {
        let implicit = self.implicit_handles();
        for (i, own) in self.implicit.iter().enumerate() {
            if Arc::ptr_eq(own, d) {
                return implicit[i];
            }
        }
        let list = lock(&self.conn.descriptors).clone();
        list.into_iter().find(|&h| handles::lookup::<Descriptor>(h).is_some_and(|x| Arc::ptr_eq(&x, d))).unwrap_or(0)
    }

    /// SQLFreeStmt(SQL_CLOSE) / SQLCloseCursor: drops the local rows and closes the
    /// server cursor if this statement still owns it.
    pub fn close_cursor(&self, inner: &mut Inner) -> OdbcResult<()> {
        let had_cursor = inner.cursor.take().is_some();
        {
            let mut spill = lock(&self.spill);
            *spill = Spill::default();
        }
        if had_cursor {
            inner.phase = if inner.prepared_id.is_some() { Phase::Prepared } else { Phase::Allocated };
            self.release_server_cursor()?;
        }
        Ok(())
    }

    /// Closes the server cursor if this statement still owns it (a dead or closed
    /// connection has none left to close).
    pub(crate) fn release_server_cursor(&self) -> OdbcResult<()> {
        let me = self.serial;
        let result = self.conn.with_session(|s| {
            if s.cursor_owner == Some(me) {
                // A Fetch sent ahead is answered first; its rows are dropped.
                match s.release_cursor() {
                    Some(Err(e)) if s.is_dead() => Err(e),
                    // The server closed the cursor after its last batch.
                    Some(Ok(twofactor_protocol::ServerMessage::Rows { last: true, .. })) => Ok(()),
                    _ => s.request(&ClientMessage::CloseCursor).map(|_| ()),
                }
            } else {
                Ok(())
            }
        });
        // A dead or closed connection has no cursor left to close.
        if let Err(e) = result {
            if e.state != SqlState::COMMUNICATION_LINK_FAILURE && e.state != SqlState::CONNECTION_NOT_OPEN {
                return Err(e);
            }
        }
        Ok(())
    }

    /// SQLFreeStmt(SQL_UNBIND).
    pub fn unbind_columns(&self, inner: &Inner) {
        self.ard(inner).lock().records.clear();
    }

    /// SQLFreeStmt(SQL_RESET_PARAMS).
    pub fn reset_params(&self, inner: &Inner) {
        self.apd(inner).lock().records.clear();
        self.ipd().lock().records.clear();
    }
}

/// SQLAllocHandle(SQL_HANDLE_STMT): the statement and its four implicit descriptors.
pub fn allocate(conn: &Arc<Connection>) -> OdbcResult<RawHandle> {
    if !conn.is_open() {
        return Err(OdbcError::not_connected());
    }
    let stmt = Arc::new(Statement::new(conn));
    let full = || OdbcError::new(SqlState::MEMORY_ALLOCATION, "too many handles");
    let mut descs = [0; 4];
    for (i, d) in stmt.implicit.iter().enumerate() {
        match handles::register(Arc::clone(d)) {
            Some(h) => descs[i] = h,
            None => {
                for h in descs.iter().take(i) {
                    handles::unregister::<Descriptor>(*h);
                }
                return Err(full());
            }
        }
    }
    let _ = stmt.implicit_handles.set(descs);
    let Some(raw) = handles::register(Arc::clone(&stmt)) else {
        for h in descs {
            handles::unregister::<Descriptor>(h);
        }
        return Err(full());
    };
    let _ = stmt.handle.set(raw);
    lock(&conn.statements).push(raw);
    Ok(raw)
}

/// A statement on a connection that is not open, for tests of everything up to the
/// network.
#[cfg(test)]
pub(crate) fn allocate_unconnected(conn: &Arc<Connection>) -> RawHandle {
    let stmt = Arc::new(Statement::new(conn));
    let mut descs = [0; 4];
    for (i, d) in stmt.implicit.iter().enumerate() {
        descs[i] = handles::register(Arc::clone(d)).expect("handle table full");
    }
    let _ = stmt.implicit_handles.set(descs);
    let raw = handles::register(Arc::clone(&stmt)).expect("handle table full");
    let _ = stmt.handle.set(raw);
    lock(&conn.statements).push(raw);
    raw
}

/// Puts a result set in place as if the server had sent it.
#[cfg(test)]
pub(crate) fn inject_result(stmt: &Statement, columns: Vec<twofactor_protocol::ColumnDesc>, batches: Vec<RowBatch>) {
    let mut inner = stmt.lock();
    let mut it = batches.into_iter();
    let first = it.next().expect("one batch at least");
    {
        let mut spill = lock(&stmt.spill);
        spill.batches.extend(it);
        spill.drained = true;
    }
    stmt.ird().lock().columns = columns;
    inner.cursor = Some(Cursor::new(first, false));
    inner.phase = Phase::Cursor;
}

/// SQLFreeHandle(SQL_HANDLE_STMT) and SQLFreeStmt(SQL_DROP): closes the cursor and the
/// prepared statement on the server, unregisters the statement and its descriptors.
pub fn free(raw: RawHandle) -> bool {
    let Some(stmt) = handles::unregister::<Statement>(raw) else { return false };
    for h in stmt.implicit_handles() {
        handles::unregister::<Descriptor>(h);
    }
    lock(&stmt.conn.statements).retain(|&h| h != raw);
    let mut inner = stmt.lock();
    let _ = stmt.close_cursor(&mut inner);
    if let Some(id) = inner.prepared_id.take() {
        exec::close_prepared(&stmt, id);
    }
    true
}

/// The live statement whose serial is `serial`, among `conn`'s statements.
pub(crate) fn find_by_serial(conn: &Connection, serial: u64) -> Option<Arc<Statement>> {
    let list = lock(&conn.statements).clone();
    list.into_iter().filter_map(handles::lookup::<Statement>).find(|s| s.serial == serial)
}
