//! SQLFetchScroll, SQLExtendedFetch and SQLSetPos: scrolling a static cursor
//! (`crate::stmt::scroll`) and positioning in a rowset of any cursor.

use std::ffi::c_void;

use odbc_sys::SqlReturn;

use super::fetch::{fetch_rowset, FetchOut, RowsetWriter};
use super::{call, Warnings};
use crate::diag::{Completion, OdbcResult};
use crate::stmt::scroll::{self, FETCH_BEFORE_FIRST_ROWSET};
use crate::stmt::{Cursor, Statement};

/// The rowset `orientation` and `offset` name on a static cursor, written by `rows`.
///
/// # Safety
/// As `RowsetWriter::write`.
pub(super) unsafe fn static_rowset(
    cursor: &mut Cursor,
    orientation: i16,
    offset: isize,
    size: usize,
    rows: &mut RowsetWriter<'_>,
    warnings: &mut Warnings,
) -> OdbcResult<()> {
    let Some((start, len, warn)) = cursor.scroll(orientation, offset, size)? else { return Ok(()) };
    if warn {
        warnings.warn(FETCH_BEFORE_FIRST_ROWSET, "fetch before the first rowset: the rowset starts at row 1");
    }
    let snapshot = cursor.snapshot().expect("a static cursor");
    for row in start..start + len {
        let (batch, r) = snapshot.locate(row).expect("the landing is inside the result");
        rows.write(batch, r, warnings);
    }
    Ok(())
}

#[no_mangle]
pub unsafe extern "system" fn SQLFetchScroll(stmt: *mut c_void, orientation: i16, offset: isize) -> SqlReturn {
    call::<Statement, _>(stmt, |s, w| {
        fetch_rowset(s, w, orientation, offset, |_, ard, ird| FetchOut {
            size: ard.array_size.max(1),
            rows_fetched: ird.rows_processed_ptr,
            statuses: ird.array_status_ptr,
        })
    })
}

/// ODBC 2: the rowset size is SQL_ROWSET_SIZE and the counts go to the arguments.
#[no_mangle]
pub unsafe extern "system" fn SQLExtendedFetch(
    stmt: *mut c_void,
    orientation: i16,
    offset: isize,
    row_count: *mut usize,
    status: *mut u16,
) -> SqlReturn {
    call::<Statement, _>(stmt, |s, w| {
        fetch_rowset(s, w, orientation, offset, |inner, _, _| FetchOut {
            size: inner.attrs.rowset_size.max(1),
            rows_fetched: row_count as usize,
            statuses: status as usize,
        })
    })
}

/// `row` is SQLSETPOSIROW, pointer-sized on 64-bit unixODBC and iODBC builds.
#[no_mangle]
pub unsafe extern "system" fn SQLSetPos(stmt: *mut c_void, row: usize, operation: u16, lock_type: u16) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let mut inner = s.lock_idle()?;
        scroll::set_pos(&mut inner, row, operation, lock_type)?;
        Ok(Completion::Success)
    })
}
