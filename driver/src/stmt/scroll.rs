//! Static (snapshot) scrollable cursors: the cursor type an application asks for, the
//! whole result kept on the client, and where SQLFetchScroll's orientations land.
//!
//! The server streams a result once, forward. A scrollable cursor therefore reads the
//! result to its end when it is opened and keeps it here, bounded by
//! `STATIC_CURSOR_MAX_BYTES`; it is insensitive (a snapshot), read-only, and every
//! orientation but SQL_FETCH_BOOKMARK works on it. Forward-only stays the default and
//! streams as before.

use twofactor_protocol::RowBatch;

use crate::diag::{OdbcError, OdbcResult, SqlState};

use super::attrs::StmtAttrs;
use super::{Inner, Statement};

/// SQL_ATTR_CURSOR_TYPE values.
pub const SQL_CURSOR_FORWARD_ONLY: usize = 0;
pub const SQL_CURSOR_KEYSET_DRIVEN: usize = 1;
pub const SQL_CURSOR_DYNAMIC: usize = 2;
pub const SQL_CURSOR_STATIC: usize = 3;

/// SQLFetchScroll orientations.
pub const SQL_FETCH_NEXT: i16 = 1;
pub const SQL_FETCH_FIRST: i16 = 2;
pub const SQL_FETCH_LAST: i16 = 3;
pub const SQL_FETCH_PRIOR: i16 = 4;
pub const SQL_FETCH_ABSOLUTE: i16 = 5;
pub const SQL_FETCH_RELATIVE: i16 = 6;
pub const SQL_FETCH_BOOKMARK: i16 = 8;

/// The most a static cursor keeps by default (DSN key StaticCursorMaxBytes), measured as
/// the encoded size of its rows. A bigger result fails with HY001 when the cursor is
/// opened; forward-only cursors have no such limit because they never hold more than a
/// batch or two.
pub const STATIC_CURSOR_MAX_BYTES: usize = 256 * 1024 * 1024;

pub const ROW_VALUE_OUT_OF_RANGE: SqlState = SqlState(*b"HY107");
pub const FETCH_BEFORE_FIRST_ROWSET: SqlState = SqlState(*b"01S06");

fn changed(what: &str) -> OdbcError {
    OdbcError::new(
        SqlState::OPTION_VALUE_CHANGED,
        format!("option value changed: {what}; the driver substituted a static cursor"),
    )
}

/// SQL_ATTR_CURSOR_TYPE: forward-only and static are kept; keyset-driven and dynamic
/// become static with 01S02 (a snapshot is what this driver can keep).
pub fn set_cursor_type(a: &mut StmtAttrs, v: usize) -> OdbcResult<Option<OdbcError>> {
    match v {
        SQL_CURSOR_FORWARD_ONLY | SQL_CURSOR_STATIC => {
            a.cursor_type = v;
            Ok(None)
        }
        SQL_CURSOR_KEYSET_DRIVEN | SQL_CURSOR_DYNAMIC => {
            a.cursor_type = SQL_CURSOR_STATIC;
            Ok(Some(changed("keyset-driven and dynamic cursors are not supported")))
        }
        other => Err(OdbcError::invalid_value("SQL_ATTR_CURSOR_TYPE", other as i64)),
    }
}

/// SQL_ATTR_CURSOR_SCROLLABLE: SQL_SCROLLABLE (1) makes the cursor static,
/// SQL_NONSCROLLABLE (0) forward-only.
pub fn set_scrollable(a: &mut StmtAttrs, v: usize) -> OdbcResult<Option<OdbcError>> {
    match v {
        0 => a.cursor_type = SQL_CURSOR_FORWARD_ONLY,
        1 => a.cursor_type = SQL_CURSOR_STATIC,
        other => return Err(OdbcError::invalid_value("SQL_ATTR_CURSOR_SCROLLABLE", other as i64)),
    }
    Ok(None)
}

/// SQL_ATTR_CURSOR_SENSITIVITY: SQL_INSENSITIVE (1) asks for a snapshot, which is a
/// static cursor; SQL_SENSITIVE (2) cannot be had and becomes SQL_INSENSITIVE.
pub fn set_sensitivity(a: &mut StmtAttrs, v: usize) -> OdbcResult<Option<OdbcError>> {
    match v {
        0 => a.cursor_sensitivity = 0,
        1 | 2 => {
            a.cursor_sensitivity = 1;
            a.cursor_type = SQL_CURSOR_STATIC;
            if v == 2 {
                return Ok(Some(changed("a sensitive cursor is not supported")));
            }
        }
        other => return Err(OdbcError::invalid_value("SQL_ATTR_CURSOR_SENSITIVITY", other as i64)),
    }
    Ok(None)
}

/// After an execution opened `inner.cursor`: a static cursor reads its whole result now
/// and SQLRowCount reports its rows. On failure the cursor is closed.
pub fn open_static(stmt: &Statement, inner: &mut Inner) -> OdbcResult<()> {
    if inner.attrs.cursor_type != SQL_CURSOR_STATIC {
        return Ok(());
    }
    let max_rows = inner.attrs.max_rows;
    let Some(cursor) = inner.cursor.as_mut() else { return Ok(()) };
    match cursor.load_snapshot(stmt, max_rows, stmt.conn.static_cursor_max_bytes()) {
        Ok(total) => {
            inner.row_count = total as i64;
            Ok(())
        }
        Err(e) => {
            let _ = stmt.close_cursor(inner);
            Err(e)
        }
    }
}

/// SQLSetPos operations and lock types.
pub const SQL_POSITION: u16 = 0;
pub const SQL_REFRESH: u16 = 1;
pub const SQL_UPDATE: u16 = 2;
pub const SQL_DELETE: u16 = 3;
pub const SQL_ADD: u16 = 4;
pub const SQL_LOCK_NO_CHANGE: u16 = 0;
pub const SQL_LOCK_EXCLUSIVE: u16 = 1;
pub const SQL_LOCK_UNLOCK: u16 = 2;

/// SQLSetPos on any cursor: SQL_POSITION makes row `row` (1-based) of the last rowset the
/// one SQLGetData reads; SQL_REFRESH does the same and changes nothing else, since a
/// snapshot (and a forward-only rowset) already holds what the server sent. Cursors are
/// read-only: SQL_UPDATE, SQL_DELETE and SQL_ADD are HYC00.
pub fn set_pos(inner: &mut Inner, row: usize, operation: u16, lock_type: u16) -> OdbcResult<()> {
    match operation {
        SQL_POSITION | SQL_REFRESH => {}
        SQL_UPDATE | SQL_DELETE | SQL_ADD => {
            return Err(OdbcError::not_capable("SQLSetPos updates, deletes and adds (the cursor is read-only)"))
        }
        other => {
            return Err(OdbcError::new(SqlState::INVALID_ATTRIBUTE, format!("invalid SQLSetPos operation {other}")))
        }
    }
    match lock_type {
        SQL_LOCK_NO_CHANGE => {}
        SQL_LOCK_EXCLUSIVE | SQL_LOCK_UNLOCK => return Err(OdbcError::not_capable("row locks")),
        other => {
            return Err(OdbcError::new(SqlState::INVALID_ATTRIBUTE, format!("invalid SQLSetPos lock type {other}")))
        }
    }
    let Some(cursor) = inner.cursor.as_mut() else {
        return Err(OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: no result set is open"));
    };
    if row == 0 {
        if operation == SQL_POSITION {
            return Err(OdbcError::new(
                SqlState::INVALID_CURSOR_POSITION,
                "invalid cursor position: SQL_POSITION needs a row number of 1 or more",
            ));
        }
        if !cursor.has_current_row() {
            return Err(OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: no rowset is fetched"));
        }
        return Ok(());
    }
    cursor.set_position(row)
}

/// Where a static cursor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    BeforeStart,
    AfterEnd,
    /// A rowset starting at this 0-based row, `len` rows long (at least 1).
    Rowset {
        start: usize,
        len: usize,
    },
}

/// The whole result of a static cursor, as the server sent it.
#[derive(Debug)]
pub struct Snapshot {
    batches: Vec<RowBatch>,
    /// Global 0-based number of the first row of each batch.
    starts: Vec<usize>,
    /// Rows in the result (after SQL_ATTR_MAX_ROWS).
    total: usize,
    bytes: usize,
    pub position: Position,
}

impl Snapshot {
    pub fn new() -> Self {
        Snapshot { batches: Vec::new(), starts: Vec::new(), total: 0, bytes: 0, position: Position::BeforeStart }
    }

    /// Adds a batch; HY001 once the snapshot would pass `cap` bytes. With `max_rows`
    /// (0 = no limit) rows past it are not counted.
    pub fn push(&mut self, batch: RowBatch, max_rows: usize, cap: usize) -> OdbcResult<()> {
        self.bytes = self.bytes.saturating_add(batch.byte_len());
        if self.bytes > cap {
            return Err(OdbcError::new(
                SqlState::MEMORY_ALLOCATION,
                format!(
                    "memory allocation error: the result is larger than the {cap}-byte limit of a static cursor; \
                     use a forward-only cursor or select fewer rows"
                ),
            ));
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.starts.push(self.total);
        self.total += batch.rows();
        if max_rows != 0 {
            self.total = self.total.min(max_rows);
        }
        self.batches.push(batch);
        Ok(())
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// The batch and the row in it of global row `row` (< total).
    pub fn locate(&self, row: usize) -> Option<(&RowBatch, usize)> {
        if row >= self.total {
            return None;
        }
        let b = self.starts.partition_point(|&s| s <= row).checked_sub(1)?;
        Some((&self.batches[b], row - self.starts[b]))
    }
}

impl Default for Snapshot {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a fetch lands: the first row of the new rowset (0-based), or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// A rowset starts here; `warn_before_first` when ODBC wants 01S06 (the fetch would
    /// have begun before row 1 and was moved to it).
    At {
        start: usize,
        warn_before_first: bool,
    },
    BeforeStart,
    AfterEnd,
}

/// ODBC's cursor positioning rules for SQLFetchScroll (the table in its reference page),
/// with 1-based rows there and 0-based rows here. `total` rows in the result, rowsets of
/// `size` rows.
pub fn land(position: Position, orientation: i16, offset: isize, size: usize, total: usize) -> OdbcResult<Landing> {
    let size = size.max(1) as i128;
    let last = total as i128; // LastResultRow, 1-based
    let offset = offset as i128;
    // 1-based candidate row -> landing.
    let at = |row: i128, warn: bool| -> Landing {
        if row < 1 {
            Landing::BeforeStart
        } else if row > last {
            Landing::AfterEnd
        } else {
            Landing::At { start: (row - 1) as usize, warn_before_first: warn }
        }
    };
    let current = match position {
        Position::Rowset { start, len } => Some((start as i128 + 1, len as i128)),
        _ => None,
    };
    Ok(match orientation {
        SQL_FETCH_NEXT => match (position, current) {
            (Position::BeforeStart, _) => at(1, false),
            (_, Some((start, len))) => at(start + len, false),
            _ => Landing::AfterEnd,
        },
        SQL_FETCH_PRIOR => match (position, current) {
            (Position::BeforeStart, _) => Landing::BeforeStart,
            (_, Some((1, _))) => Landing::BeforeStart,
            (_, Some((start, _))) if start <= size => at(1, true),
            (_, Some((start, _))) => at(start - size, false),
            _ if last < size => at(1, true),
            _ => at(last - size + 1, false),
        },
        SQL_FETCH_RELATIVE => match (position, current) {
            (_, _) if offset == 0 => match current {
                Some((start, _)) => at(start, false),
                None => match position {
                    Position::BeforeStart => Landing::BeforeStart,
                    _ => Landing::AfterEnd,
                },
            },
            (Position::BeforeStart, _) if offset > 0 => at(offset, false),
            (Position::BeforeStart, _) => Landing::BeforeStart,
            (Position::AfterEnd, _) if offset < 0 => at(last + offset + 1, false),
            (Position::AfterEnd, _) => Landing::AfterEnd,
            (_, Some((start, _))) if start + offset < 1 && offset.abs() > size => Landing::BeforeStart,
            (_, Some((start, _))) if start + offset < 1 => at(1, true),
            (_, Some((start, _))) => at(start + offset, false),
            _ => Landing::AfterEnd,
        },
        SQL_FETCH_ABSOLUTE => {
            if offset < 0 {
                if offset.abs() <= last {
                    at(last + offset + 1, false)
                } else if offset.abs() > size {
                    Landing::BeforeStart
                } else {
                    at(1, true)
                }
            } else if offset == 0 {
                Landing::BeforeStart
            } else {
                at(offset, false)
            }
        }
        SQL_FETCH_FIRST => at(1, false),
        SQL_FETCH_LAST if last <= size => at(1, false),
        SQL_FETCH_LAST => at(last - size + 1, false),
        SQL_FETCH_BOOKMARK => {
            return Err(OdbcError::new(
                SqlState::FETCH_TYPE_OUT_OF_RANGE,
                "fetch type out of range: bookmarks are not supported (SQL_ATTR_USE_BOOKMARKS is off)",
            ))
        }
        other => {
            return Err(OdbcError::new(SqlState::FETCH_TYPE_OUT_OF_RANGE, format!("fetch type out of range: {other}")))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: i16 = SQL_FETCH_NEXT;
    const P: i16 = SQL_FETCH_PRIOR;
    const A: i16 = SQL_FETCH_ABSOLUTE;
    const R: i16 = SQL_FETCH_RELATIVE;

    fn rowset(start1: usize, len: usize) -> Position {
        Position::Rowset { start: start1 - 1, len }
    }

    fn at(start1: usize) -> Landing {
        Landing::At { start: start1 - 1, warn_before_first: false }
    }

    #[test]
    fn next_walks_rowset_by_rowset_and_ends_after_the_last_row() {
        assert_eq!(land(Position::BeforeStart, N, 0, 3, 10).unwrap(), at(1));
        assert_eq!(land(rowset(1, 3), N, 0, 3, 10).unwrap(), at(4));
        assert_eq!(land(rowset(10, 1), N, 0, 3, 10).unwrap(), Landing::AfterEnd);
        assert_eq!(land(Position::AfterEnd, N, 0, 3, 10).unwrap(), Landing::AfterEnd);
        assert_eq!(land(Position::BeforeStart, N, 0, 3, 0).unwrap(), Landing::AfterEnd);
    }

    #[test]
    fn prior_stops_at_row_one_with_01s06_and_comes_back_from_the_end() {
        assert_eq!(land(rowset(7, 3), P, 0, 3, 10).unwrap(), at(4));
        assert_eq!(land(rowset(2, 3), P, 0, 3, 10).unwrap(), Landing::At { start: 0, warn_before_first: true });
        assert_eq!(land(rowset(1, 3), P, 0, 3, 10).unwrap(), Landing::BeforeStart);
        assert_eq!(land(Position::BeforeStart, P, 0, 3, 10).unwrap(), Landing::BeforeStart);
        assert_eq!(land(Position::AfterEnd, P, 0, 3, 10).unwrap(), at(8));
        assert_eq!(land(Position::AfterEnd, P, 0, 3, 2).unwrap(), Landing::At { start: 0, warn_before_first: true });
    }

    #[test]
    fn absolute_counts_from_either_end() {
        assert_eq!(land(Position::BeforeStart, A, 5, 3, 10).unwrap(), at(5));
        assert_eq!(land(Position::BeforeStart, A, -1, 3, 10).unwrap(), at(10));
        assert_eq!(land(Position::BeforeStart, A, -10, 3, 10).unwrap(), at(1));
        assert_eq!(land(Position::BeforeStart, A, -11, 3, 10).unwrap(), Landing::BeforeStart);
        assert_eq!(
            land(Position::BeforeStart, A, -11, 20, 10).unwrap(),
            Landing::At { start: 0, warn_before_first: true }
        );
        assert_eq!(land(rowset(4, 3), A, 0, 3, 10).unwrap(), Landing::BeforeStart);
        assert_eq!(land(rowset(4, 3), A, 11, 3, 10).unwrap(), Landing::AfterEnd);
    }

    #[test]
    fn relative_moves_from_the_current_rowset() {
        assert_eq!(land(rowset(4, 3), R, 2, 3, 10).unwrap(), at(6));
        assert_eq!(land(rowset(4, 3), R, 0, 3, 10).unwrap(), at(4));
        assert_eq!(land(rowset(4, 3), R, -5, 3, 10).unwrap(), Landing::BeforeStart);
        assert_eq!(land(rowset(4, 3), R, -3, 3, 10).unwrap(), at(1));
        assert_eq!(land(rowset(2, 3), R, -3, 3, 10).unwrap(), Landing::At { start: 0, warn_before_first: true });
        assert_eq!(land(rowset(4, 3), R, 7, 3, 10).unwrap(), Landing::AfterEnd);
        assert_eq!(land(Position::BeforeStart, R, 2, 3, 10).unwrap(), at(2));
        assert_eq!(land(Position::AfterEnd, R, -2, 3, 10).unwrap(), at(9));
        assert_eq!(land(Position::AfterEnd, R, 1, 3, 10).unwrap(), Landing::AfterEnd);
    }

    #[test]
    fn first_and_last_and_unknown_orientations() {
        assert_eq!(land(rowset(4, 3), SQL_FETCH_FIRST, 0, 3, 10).unwrap(), at(1));
        assert_eq!(land(rowset(4, 3), SQL_FETCH_LAST, 0, 3, 10).unwrap(), at(8));
        assert_eq!(land(rowset(4, 3), SQL_FETCH_LAST, 0, 30, 10).unwrap(), at(1));
        assert_eq!(land(Position::BeforeStart, SQL_FETCH_FIRST, 0, 3, 0).unwrap(), Landing::AfterEnd);
        assert_eq!(
            land(rowset(4, 3), SQL_FETCH_BOOKMARK, 0, 3, 10).unwrap_err().state,
            SqlState::FETCH_TYPE_OUT_OF_RANGE
        );
        assert_eq!(land(rowset(4, 3), 42, 0, 3, 10).unwrap_err().state, SqlState::FETCH_TYPE_OUT_OF_RANGE);
    }

    #[test]
    fn keyset_and_dynamic_become_static_with_01s02() {
        let mut a = test_attrs();
        assert!(set_cursor_type(&mut a, SQL_CURSOR_STATIC).unwrap().is_none());
        assert_eq!(a.cursor_type, SQL_CURSOR_STATIC);
        let w = set_cursor_type(&mut a, SQL_CURSOR_DYNAMIC).unwrap().unwrap();
        assert_eq!(w.state, SqlState::OPTION_VALUE_CHANGED);
        assert_eq!(a.cursor_type, SQL_CURSOR_STATIC);
        set_scrollable(&mut a, 0).unwrap();
        assert_eq!(a.cursor_type, SQL_CURSOR_FORWARD_ONLY);
        assert_eq!(set_cursor_type(&mut a, 9).unwrap_err().state, SqlState::INVALID_ATTRIBUTE_VALUE);
    }

    fn test_attrs() -> StmtAttrs {
        let conn = crate::conn::Connection::new(std::sync::Arc::new(crate::env::Environment::new()), 0);
        StmtAttrs::for_connection(&conn)
    }

    #[test]
    fn a_snapshot_finds_rows_across_batches_and_refuses_past_its_cap() {
        let batch = |n: i64| {
            let mut b = twofactor_protocol::RowBatchBuilder::new(1);
            for v in 0..n {
                b.push(twofactor_protocol::ValueRef::Int(v));
                b.end_row();
            }
            b.finish()
        };
        let mut s = Snapshot::new();
        s.push(batch(3), 0, 1 << 20).unwrap();
        s.push(batch(0), 0, 1 << 20).unwrap();
        s.push(batch(2), 0, 1 << 20).unwrap();
        assert_eq!(s.total(), 5);
        let (b, r) = s.locate(4).unwrap();
        assert_eq!((b.rows(), r), (2, 1));
        assert!(s.locate(5).is_none());
        let mut limited = Snapshot::new();
        limited.push(batch(3), 2, 1 << 20).unwrap();
        assert_eq!(limited.total(), 2);
        let err = Snapshot::new().push(batch(100), 0, 10).unwrap_err();
        assert_eq!(err.state, SqlState::MEMORY_ALLOCATION);
    }
}
