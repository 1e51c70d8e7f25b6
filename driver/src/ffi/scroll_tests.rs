//! Static cursors and SQLSetPos through the exported functions, on results put in place
//! as if the server had sent them.

use std::ffi::c_void;
use std::ptr::null_mut;

use odbc_sys::SqlReturn;

use super::fetch::*;
use super::scroll::*;
use super::statement::*;
use super::stmt_tests::{batch, ok, state, statement, with_rows};
use std::sync::Arc;

use crate::conn::Connection;
use crate::handles::{self, RawHandle};
use crate::stmt::{scroll, Statement};

const ROW_ARRAY_SIZE: i32 = 27;
const ROW_STATUS_PTR: i32 = 25;
const ROWS_FETCHED_PTR: i32 = 26;
const CURSOR_TYPE: i32 = 6;
const ROW_NUMBER: i32 = 14;

unsafe fn set_attr(h: *mut c_void, attr: i32, v: usize) -> SqlReturn {
    SQLSetStmtAttr(h, attr, v as *mut c_void, 0)
}

/// Ten rows (1..=10, "r1".."r10") in batches of 4, 4 and 2.
fn ten_rows(h: *mut c_void, static_cursor: bool) {
    unsafe {
        if static_cursor {
            ok(set_attr(h, CURSOR_TYPE, scroll::SQL_CURSOR_STATIC));
        }
    }
    let names: Vec<String> = (1..=10).map(|i| format!("r{i}")).collect();
    let rows: Vec<(i64, Option<&str>)> = (1..=10).map(|i| (i, Some(names[i as usize - 1].as_str()))).collect();
    with_rows(h, vec![batch(&rows[0..4]), batch(&rows[4..8]), batch(&rows[8..10])]);
    if static_cursor {
        let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
        let mut inner = s.lock();
        scroll::open_static(&s, &mut inner).unwrap();
    }
}

/// The rowset as the bound id column, the rows fetched and the statuses.
struct Rowset {
    ids: [i64; 3],
    fetched: usize,
    statuses: [u16; 3],
}

/// A statement with the ten rows and a bound 3-row rowset (boxed: the driver keeps its
/// addresses).
unsafe fn ten_rows_bound(static_cursor: bool) -> (Arc<Connection>, *mut c_void, Box<Rowset>) {
    let (c, h) = statement();
    ten_rows(h, static_cursor);
    let mut r = Box::new(Rowset { ids: [0; 3], fetched: 0, statuses: [9; 3] });
    bind_rowset(h, &mut r);
    (c, h, r)
}

unsafe fn bind_rowset(h: *mut c_void, r: &mut Rowset) {
    ok(set_attr(h, ROW_ARRAY_SIZE, 3));
    ok(set_attr(h, ROW_STATUS_PTR, r.statuses.as_mut_ptr() as usize));
    ok(set_attr(h, ROWS_FETCHED_PTR, &mut r.fetched as *mut usize as usize));
    ok(SQLBindCol(h, 1, -25, r.ids.as_mut_ptr() as *mut c_void, 8, null_mut()));
}

unsafe fn text_of(h: *mut c_void, column: u16) -> String {
    let mut buf = [0u8; 16];
    let mut len = 0isize;
    let rc = SQLGetData(h, column, 1, buf.as_mut_ptr() as *mut c_void, 16, &mut len);
    assert_eq!(rc, SqlReturn::SUCCESS, "SQLGetData({column}): {}", state(h));
    String::from_utf8(buf[..len as usize].to_vec()).unwrap()
}

#[test]
fn a_static_cursor_scrolls_in_every_direction_and_reports_its_rows() {
    unsafe {
        let (_c, h, r) = ten_rows_bound(true);
        let mut count = 0isize;
        ok(SQLRowCount(h, &mut count));
        assert_eq!(count, 10, "a static cursor knows its rows");

        ok(SQLFetchScroll(h, scroll::SQL_FETCH_LAST, 0));
        assert_eq!((r.ids, r.fetched), ([8, 9, 10], 3));
        ok(SQLFetchScroll(h, scroll::SQL_FETCH_PRIOR, 0));
        assert_eq!(r.ids, [5, 6, 7]);
        ok(SQLFetchScroll(h, scroll::SQL_FETCH_ABSOLUTE, 4));
        assert_eq!(r.ids, [4, 5, 6], "a rowset across a batch boundary");
        ok(SQLFetchScroll(h, scroll::SQL_FETCH_RELATIVE, -2));
        assert_eq!(r.ids, [2, 3, 4]);
        assert_eq!(SQLFetchScroll(h, scroll::SQL_FETCH_PRIOR, 0), SqlReturn::SUCCESS_WITH_INFO);
        assert_eq!(state(h), "01S06");
        assert_eq!(r.ids, [1, 2, 3]);
        ok(SQLFetchScroll(h, scroll::SQL_FETCH_ABSOLUTE, -2));
        assert_eq!((r.ids[..2].to_vec(), r.fetched, r.statuses), (vec![9, 10], 2, [0, 0, 3]));
        assert_eq!(SQLFetchScroll(h, scroll::SQL_FETCH_NEXT, 0), SqlReturn::NO_DATA);
        ok(SQLFetchScroll(h, scroll::SQL_FETCH_PRIOR, 0));
        assert_eq!(r.ids, [8, 9, 10], "back from after the end");
        ok(SQLFetchScroll(h, scroll::SQL_FETCH_FIRST, 0));
        assert_eq!(r.ids, [1, 2, 3]);
        assert_eq!(SQLFetchScroll(h, scroll::SQL_FETCH_PRIOR, 0), SqlReturn::NO_DATA);
        ok(SQLFetch(h));
        assert_eq!(r.ids, [1, 2, 3], "SQLFetch from before the start");
        assert_eq!(SQLFetchScroll(h, scroll::SQL_FETCH_BOOKMARK, 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY106");
    }
}

#[test]
fn set_pos_chooses_the_row_get_data_reads_in_a_static_rowset() {
    unsafe {
        let (_c, h, _rowset) = ten_rows_bound(true);
        ok(SQLFetchScroll(h, scroll::SQL_FETCH_ABSOLUTE, 3));
        assert_eq!(text_of(h, 2), "r3", "row 1 of the rowset without SQLSetPos");
        ok(SQLSetPos(h, 3, scroll::SQL_POSITION, scroll::SQL_LOCK_NO_CHANGE));
        assert_eq!(text_of(h, 2), "r5");
        let mut n = 0usize;
        ok(SQLGetStmtAttr(h, ROW_NUMBER, &mut n as *mut usize as *mut c_void, 8, null_mut()));
        assert_eq!(n, 5);
        ok(SQLSetPos(h, 2, scroll::SQL_REFRESH, scroll::SQL_LOCK_NO_CHANGE));
        assert_eq!(text_of(h, 2), "r4");
        ok(SQLSetPos(h, 0, scroll::SQL_REFRESH, scroll::SQL_LOCK_NO_CHANGE));
    }
}

#[test]
fn set_pos_on_a_forward_only_block_cursor_reads_rows_across_batches() {
    unsafe {
        let (_c, h, r) = ten_rows_bound(false);
        ok(SQLFetch(h));
        ok(SQLFetch(h));
        assert_eq!(r.ids, [4, 5, 6], "rows 4 | 5, 6 come from two batches");
        for (row, want) in [(1, "r4"), (2, "r5"), (3, "r6"), (1, "r4")] {
            ok(SQLSetPos(h, row, scroll::SQL_POSITION, scroll::SQL_LOCK_NO_CHANGE));
            assert_eq!(text_of(h, 2), want);
        }
        ok(SQLFetch(h));
        ok(SQLSetPos(h, 3, scroll::SQL_POSITION, scroll::SQL_LOCK_NO_CHANGE));
        assert_eq!(text_of(h, 2), "r9");
    }
}

#[test]
fn set_pos_refuses_what_a_read_only_cursor_cannot_do() {
    unsafe {
        let (_c, h) = statement();
        assert_eq!(SQLSetPos(h, 1, scroll::SQL_POSITION, 0), SqlReturn::ERROR);
        assert_eq!(state(h), "24000", "no result set");
        ten_rows(h, false);
        assert_eq!(SQLSetPos(h, 1, scroll::SQL_POSITION, 0), SqlReturn::ERROR);
        assert_eq!(state(h), "24000", "nothing fetched yet");
        let mut r = Rowset { ids: [0; 3], fetched: 0, statuses: [0; 3] };
        bind_rowset(h, &mut r);
        ok(SQLFetch(h));
        for (row, op, lock, want) in [
            (4, scroll::SQL_POSITION, 0, "HY107"),
            (0, scroll::SQL_POSITION, 0, "HY109"),
            (1, scroll::SQL_UPDATE, 0, "HYC00"),
            (1, scroll::SQL_DELETE, 0, "HYC00"),
            (1, scroll::SQL_ADD, 0, "HYC00"),
            (1, 77, 0, "HY092"),
            (1, scroll::SQL_POSITION, scroll::SQL_LOCK_EXCLUSIVE, "HYC00"),
            (1, scroll::SQL_POSITION, 9, "HY092"),
        ] {
            assert_eq!(SQLSetPos(h, row, op, lock), SqlReturn::ERROR, "{row} {op} {lock}");
            assert_eq!(state(h), want, "{row} {op} {lock}");
        }
    }
}

#[test]
fn keyset_cursors_become_static_with_01s02() {
    unsafe {
        let (_c, h) = statement();
        assert_eq!(set_attr(h, CURSOR_TYPE, scroll::SQL_CURSOR_KEYSET_DRIVEN), SqlReturn::SUCCESS_WITH_INFO);
        assert_eq!(state(h), "01S02");
        let mut v = 0usize;
        ok(SQLGetStmtAttr(h, CURSOR_TYPE, &mut v as *mut usize as *mut c_void, 8, null_mut()));
        assert_eq!(v, scroll::SQL_CURSOR_STATIC);
        ok(SQLGetStmtAttr(h, -1, &mut v as *mut usize as *mut c_void, 8, null_mut()));
        assert_eq!(v, 1, "SQL_ATTR_CURSOR_SCROLLABLE follows");
    }
}

#[test]
fn set_pos_reads_every_row_of_unbound_rowsets_that_span_three_row_batches() {
    unsafe {
        let (_c, h) = statement();
        let names: Vec<String> = (1..=10).map(|i| format!("r{i}")).collect();
        let rows: Vec<(i64, Option<&str>)> = (1..=10).map(|i| (i, Some(names[i as usize - 1].as_str()))).collect();
        with_rows(h, rows.chunks(3).map(batch).collect());
        let mut fetched = 0usize;
        ok(set_attr(h, ROW_ARRAY_SIZE, 4));
        ok(set_attr(h, ROWS_FETCHED_PTR, &mut fetched as *mut usize as usize));
        let mut seen = Vec::new();
        while SQLFetch(h) == SqlReturn::SUCCESS {
            for row in 1..=std::ptr::read_volatile(&fetched) {
                let rc = SQLSetPos(h, row, scroll::SQL_POSITION, scroll::SQL_LOCK_NO_CHANGE);
                assert_eq!(rc, SqlReturn::SUCCESS, "SetPos {row} after {seen:?}: {}", state(h));
                seen.push(text_of(h, 2));
            }
        }
        assert_eq!(seen, names);
    }
}
