//! The local side of a result set: the batch being read, the position in it, where the
//! next batch comes from (this statement's spill, else the server), and the progress of
//! piecewise SQLGetData.

use twofactor_protocol::{ClientMessage, RowBatch, ServerMessage, ValueRef};

use crate::conn::unexpected;
use crate::diag::{OdbcError, OdbcResult, SqlState};

use super::timeout::with_query_timeout;
use super::{lock, Statement};

/// How far SQLGetData got in the current row's column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GetDataProgress {
    /// 1-based column; 0 = none yet.
    pub column: usize,
    /// Source units already returned.
    pub offset: usize,
    /// Everything was returned: the next call answers SQL_NO_DATA.
    pub done: bool,
}

#[derive(Debug)]
pub struct Cursor {
    batch: Option<RowBatch>,
    /// Next row of `batch` to return.
    next: usize,
    /// Row of `batch` SQLGetData reads: the first row of the last rowset, while it is
    /// still in `batch`.
    current: Option<usize>,
    /// More rows may come from the spill or the server.
    more: bool,
    /// 1-based number of the current row in the result set (SQL_ATTR_ROW_NUMBER).
    pub row_number: usize,
    /// Rows returned so far (SQL_ATTR_MAX_ROWS).
    pub returned: usize,
    pub getdata: GetDataProgress,
    /// The last SQLFetch reported the end of the result set.
    pub at_end: bool,
    /// SQL_ATTR_QUERY_TIMEOUT (seconds) of the execution, for later fetches too.
    pub query_timeout: usize,
}

impl Cursor {
    pub fn new(first: RowBatch, last: bool) -> Self {
        Cursor {
            batch: Some(first),
            next: 0,
            current: None,
            more: !last,
            row_number: 0,
            returned: 0,
            getdata: GetDataProgress::default(),
            at_end: false,
            query_timeout: 0,
        }
    }

    pub fn has_current_row(&self) -> bool {
        self.current.is_some()
    }

    /// Starts a rowset: forgets the previous current row and SQLGetData's progress.
    pub fn begin_rowset(&mut self) {
        self.current = None;
        self.getdata = GetDataProgress::default();
    }

    /// Moves past the next rows, at most `want` of them and all from the current batch,
    /// and returns their indices in it, fetching the next batch when this one is used
    /// up. `None` at the end of the result set (or after `max_rows` rows, when it is not
    /// 0). With `first_of_rowset`, the first of them becomes the row SQLGetData reads.
    pub fn advance_run(
        &mut self,
        stmt: &Statement,
        max_rows: usize,
        want: usize,
        first_of_rowset: bool,
    ) -> OdbcResult<Option<std::ops::Range<usize>>> {
        let mut want = want.max(1);
        if max_rows != 0 {
            if self.returned >= max_rows {
                return Ok(None);
            }
            want = want.min(max_rows - self.returned);
        }
        loop {
            if let Some(b) = &self.batch {
                if self.next < b.rows() {
                    let start = self.next;
                    let m = want.min(b.rows() - start);
                    self.next += m;
                    self.returned += m;
                    self.row_number += m;
                    if first_of_rowset {
                        self.current = Some(start);
                    }
                    return Ok(Some(start..start + m));
                }
            }
            if !self.next_batch(stmt, max_rows)? {
                return Ok(None);
            }
            // A rowset that continues into the new batch keeps no readable current row
            // unless it starts there.
            if !first_of_rowset {
                self.current = None;
            }
        }
    }

    /// Replaces the used-up batch. False when no rows remain.
    ///
    /// Read-ahead: a batch from the server that is not the last is followed at once by
    /// the next Fetch (`Session::send_ahead`), so the server reads SQLite, encodes and
    /// encrypts the next batch while the application converts this one; its answer is
    /// taken here next time (or by whoever ends the cursor first: `make_room` keeps its
    /// rows in the spill, `close_cursor` and the end of a transaction drop them). The
    /// first batch (with the execution's answer) is not followed by one: an application
    /// that reads only a few rows and closes pays for no extra batch. Not when
    /// `max_rows` rows are already in hand.
    fn next_batch(&mut self, stmt: &Statement, max_rows: usize) -> OdbcResult<bool> {
        loop {
            {
                let mut spill = lock(&stmt.spill);
                if let Some(b) = spill.batches.pop_front() {
                    self.set_batch(b);
                    return Ok(true);
                }
                if let Some(e) = spill.error.take() {
                    self.more = false;
                    return Err(e);
                }
                if spill.drained {
                    self.more = false;
                }
            }
            if !self.more {
                self.batch = None;
                return Ok(false);
            }
            let me = stmt.serial;
            let fetch_rows = stmt.conn.fetch_rows().max(1);
            let returned = self.returned;
            let received = with_query_timeout(&stmt.conn, self.query_timeout, || {
                stmt.conn.with_session(|s| {
                    if s.cursor_owner != Some(me) {
                        // Drained into our spill by another statement, or closed by the end
                        // of a transaction, since we last looked.
                        return Ok(None);
                    }
                    let answer = match s.take_ahead() {
                        Some(answer) => answer,
                        None => s.request(&ClientMessage::Fetch { max_rows: fetch_rows }),
                    };
                    match answer {
                        Ok(ServerMessage::Rows { batch, last }) => {
                            if last {
                                s.cursor_owner = None;
                            } else if max_rows == 0 || returned + batch.rows() < max_rows {
                                // A failed send marks the session dead; the next fetch
                                // reports it, this batch is good.
                                let _ = s.send_ahead(&ClientMessage::Fetch { max_rows: fetch_rows });
                            }
                            Ok(Some((batch, last)))
                        }
                        Ok(other) => {
                            s.cursor_owner = None;
                            Err(unexpected(&other))
                        }
                        Err(e) => {
                            s.cursor_owner = None;
                            Err(e)
                        }
                    }
                })
            });
            match received {
                Ok(Some((batch, last))) => {
                    self.more = !last;
                    self.set_batch(batch);
                    return Ok(true);
                }
                Ok(None) => {
                    let spill = lock(&stmt.spill);
                    if spill.batches.is_empty() && spill.error.is_none() && !spill.drained {
                        // Nobody saved the rest: the server closed the cursor.
                        self.more = false;
                    }
                }
                Err(e) => {
                    self.more = false;
                    return Err(e);
                }
            }
        }
    }

    fn set_batch(&mut self, b: RowBatch) {
        self.batch = Some(b);
        self.next = 0;
    }

    /// The batch and row a rowset's rows are read from right after `advance`.
    pub fn batch(&self) -> Option<&RowBatch> {
        self.batch.as_ref()
    }

    /// Column `column` (1-based) of the current row, for SQLGetData.
    pub fn current_value(&self, column: usize) -> OdbcResult<ValueRef<'_>> {
        match (&self.batch, self.current) {
            (Some(b), Some(row)) if column >= 1 && column <= b.columns() => Ok(b.value(row, column - 1)),
            (Some(b), Some(_)) => Err(OdbcError::new(
                SqlState::INVALID_DESCRIPTOR_INDEX,
                format!("invalid descriptor index {column}: the result has {} columns", b.columns()),
            )),
            _ => Err(OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: no current row")),
        }
    }
}
