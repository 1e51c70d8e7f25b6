//! The local side of a result set: the batch being read, the position in it, where the
//! next batch comes from (this statement's spill, else the server), the rows of the last
//! rowset (SQLSetPos and SQLGetData read any of them), and the progress of piecewise
//! SQLGetData. A static cursor keeps the whole result instead (`super::scroll`).

use twofactor_protocol::{ClientMessage, RowBatch, ServerMessage};

use crate::conn::unexpected;
use crate::diag::{OdbcError, OdbcResult, SqlState};

use super::scroll::{self, Landing, Position, Snapshot};
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
    /// Numbers the batches as they come, so a rowset's runs name theirs.
    seq: u64,
    /// Next row of `batch` to return.
    next: usize,
    /// The last rowset of a forward-only cursor: runs of (batch number, first row in it,
    /// rows), in order.
    runs: Vec<(u64, usize, usize)>,
    /// Batches before `batch` that still hold rows of the last rowset (a rowset that
    /// crossed a batch boundary).
    held: Vec<(u64, RowBatch)>,
    /// The row of the rowset SQLGetData reads (0-based; SQLSetPos moves it).
    position: usize,
    /// Where that row is, found by the first SQLGetData after the rowset or the position
    /// changed (`None`: not looked up since), so the values after the first do not walk
    /// `runs` again.
    current: Option<Place>,
    /// The result's columns' SQL type and decimal digits, copied from the IRD by the
    /// first SQLGetData (the IRD is the statement's, behind its own lock; the result's
    /// columns do not change while this cursor lives).
    column_types: Vec<(i16, i16)>,
    /// The whole result, for a static cursor.
    snapshot: Option<Snapshot>,
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
            seq: 0,
            next: 0,
            runs: Vec::new(),
            held: Vec::new(),
            position: 0,
            current: None,
            column_types: Vec::new(),
            snapshot: None,
            more: !last,
            row_number: 0,
            returned: 0,
            getdata: GetDataProgress::default(),
            at_end: false,
            query_timeout: 0,
        }
    }

    pub fn has_current_row(&self) -> bool {
        self.rowset_len() > 0
    }

    /// Rows in the last rowset.
    pub fn rowset_len(&self) -> usize {
        match &self.snapshot {
            Some(s) => match s.position {
                Position::Rowset { len, .. } => len,
                _ => 0,
            },
            None => self.runs.iter().map(|r| r.2).sum(),
        }
    }

    /// Starts a rowset: forgets the previous one and SQLGetData's progress.
    pub fn begin_rowset(&mut self) {
        self.runs.clear();
        self.held.clear();
        self.position = 0;
        self.current = None;
        self.getdata = GetDataProgress::default();
    }

    /// SQLSetPos(SQL_POSITION): row `row` (1-based) of the rowset becomes the one
    /// SQLGetData reads.
    pub fn set_position(&mut self, row: usize) -> OdbcResult<()> {
        let len = self.rowset_len();
        if len == 0 {
            return Err(OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: no rowset is fetched"));
        }
        if row == 0 || row > len {
            return Err(OdbcError::new(
                scroll::ROW_VALUE_OUT_OF_RANGE,
                format!("row value out of range: {row} (the rowset has {len} rows)"),
            ));
        }
        self.row_number = self.row_number + row - 1 - self.position;
        self.position = row - 1;
        self.current = None;
        self.getdata = GetDataProgress::default();
        Ok(())
    }

    pub fn is_static(&self) -> bool {
        self.snapshot.is_some()
    }

    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Reads the rest of the result into a snapshot (a static cursor), at most `max_rows`
    /// rows when that is not 0; HY001 past `cap` bytes. Returns the number of rows.
    pub fn load_snapshot(&mut self, stmt: &Statement, max_rows: usize, cap: usize) -> OdbcResult<usize> {
        let mut snapshot = Snapshot::new();
        if let Some(b) = self.batch.take() {
            self.returned += b.rows();
            snapshot.push(b, max_rows, cap)?;
        }
        while (max_rows == 0 || snapshot.total() < max_rows) && self.next_batch(stmt, max_rows)? {
            if let Some(b) = self.batch.take() {
                self.returned += b.rows();
                snapshot.push(b, max_rows, cap)?;
            }
        }
        if self.more {
            // SQL_ATTR_MAX_ROWS rows are in hand; the rest stays unread.
            stmt.release_server_cursor()?;
            self.more = false;
        }
        let total = snapshot.total();
        self.snapshot = Some(snapshot);
        self.returned = 0;
        Ok(total)
    }

    /// SQLFetchScroll on a static cursor: moves to the rowset `orientation` names and
    /// returns its first row (0-based), its length and whether 01S06 is due; `None` when
    /// the cursor lands before the start or after the end.
    pub fn scroll(&mut self, orientation: i16, offset: isize, size: usize) -> OdbcResult<Option<(usize, usize, bool)>> {
        self.begin_rowset();
        let snapshot = self.snapshot.as_mut().expect("a static cursor");
        let total = snapshot.total();
        let landing = scroll::land(snapshot.position, orientation, offset, size, total)?;
        let (position, result) = match landing {
            Landing::At { start, warn_before_first } => {
                let len = size.max(1).min(total - start);
                (Position::Rowset { start, len }, Some((start, len, warn_before_first)))
            }
            Landing::BeforeStart => (Position::BeforeStart, None),
            Landing::AfterEnd => (Position::AfterEnd, None),
        };
        snapshot.position = position;
        self.row_number = result.map_or(0, |(start, _, _)| start + 1);
        self.at_end = position == Position::AfterEnd;
        Ok(result)
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
        // The rowset's runs and batches change below.
        self.current = None;
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
                    if first_of_rowset {
                        self.row_number = self.returned + 1;
                    }
                    self.returned += m;
                    self.runs.push((self.seq, start, m));
                    return Ok(Some(start..start + m));
                }
            }
            // A rowset that continues into the next batch keeps this one readable.
            if !self.runs.is_empty() {
                if let Some(b) = self.batch.take() {
                    self.held.push((self.seq, b));
                }
            }
            if !self.next_batch(stmt, max_rows)? {
                return Ok(None);
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
        self.seq += 1;
        self.next = 0;
    }

    /// The batch and row a rowset's rows are read from right after `advance`.
    pub fn batch(&self) -> Option<&RowBatch> {
        self.batch.as_ref()
    }

    /// Where the current row (the rowset's row SQLSetPos chose) is, walking the runs.
    fn locate_current(&self) -> Place {
        let mut p = self.position;
        for &(seq, start, len) in &self.runs {
            if p < len {
                // A rowset that reached the end of the result holds its last batch too.
                if self.batch.is_some() && seq == self.seq {
                    return Place::Batch(start + p);
                }
                return match self.held.iter().position(|(s, _)| *s == seq) {
                    Some(h) => Place::Held(h, start + p),
                    None => Place::Nowhere,
                };
            }
            p -= len;
        }
        Place::Nowhere
    }

    /// The batch and row of the current row.
    fn current_row(&mut self) -> Option<(&RowBatch, usize)> {
        if self.snapshot.is_none() && self.current.is_none() {
            self.current = Some(self.locate_current());
        }
        let this = &*self;
        if let Some(s) = &this.snapshot {
            return match s.position {
                Position::Rowset { start, len } if this.position < len => s.locate(start + this.position),
                _ => None,
            };
        }
        match this.current? {
            Place::Batch(row) => this.batch.as_ref().map(|b| (b, row)),
            Place::Held(h, row) => this.held.get(h).map(|(_, b)| (b, row)),
            Place::Nowhere => None,
        }
    }

    /// The batch and row that hold column `column` (1-based) of the current row, for
    /// SQLGetData.
    pub fn current_cell(&mut self, column: usize) -> OdbcResult<(&RowBatch, usize)> {
        match self.current_row() {
            Some((b, row)) if column >= 1 && column <= b.columns() => Ok((b, row)),
            Some((b, _)) => Err(OdbcError::new(
                SqlState::INVALID_DESCRIPTOR_INDEX,
                format!("invalid descriptor index {column}: the result has {} columns", b.columns()),
            )),
            _ => Err(OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: no current row")),
        }
    }

    /// SQL type and decimal digits of column `column` (1-based), `None` past the last;
    /// `ird` is asked for them only the first time.
    pub fn column_type(&mut self, column: usize, ird: impl FnOnce() -> Vec<(i16, i16)>) -> Option<(i16, i16)> {
        if self.column_types.is_empty() {
            self.column_types = ird();
        }
        column.checked_sub(1).and_then(|k| self.column_types.get(k).copied())
    }
}

/// Where the current row of a forward-only cursor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Row of `Cursor::batch`.
    Batch(usize),
    /// Row of the `Cursor::held` batch at that index.
    Held(usize, usize),
    /// No current row.
    Nowhere,
}
