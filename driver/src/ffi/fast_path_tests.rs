//! The per-call fast paths of SQLFetch and SQLGetData (issue 13): the diagnostics area
//! left alone when it is already empty, the current row's place and the columns' types
//! kept in the cursor, the identity conversions written directly. Each test checks that
//! what the slow path would have answered is still answered after the fast one ran.

use std::ffi::c_void;
use std::ptr::null_mut;

use odbc_sys::SqlReturn;

use super::diag::*;
use super::fetch::*;
use super::handles::*;
use super::scroll::*;
use super::statement::*;
use super::stmt_tests::{batch, ok, state, statement, with_rows};
use crate::stmt::scroll;

const SQL_HANDLE_STMT: i16 = 3;
const SQL_DIAG_RETURNCODE: i16 = 1;
const SQL_C_CHAR: i16 = 1;
const SQL_C_SBIGINT: i16 = -25;
const ROW_ARRAY_SIZE: i32 = 27;

unsafe fn int_of(h: *mut c_void, column: u16) -> (SqlReturn, i64) {
    let mut v = 0i64;
    let mut ind = 0isize;
    let r = SQLGetData(h, column, SQL_C_SBIGINT, &mut v as *mut i64 as *mut c_void, 8, &mut ind);
    (r, v)
}

unsafe fn text_of(h: *mut c_void, column: u16) -> (SqlReturn, String) {
    let mut buf = [0u8; 64];
    let mut ind = 0isize;
    let r = SQLGetData(h, column, SQL_C_CHAR, buf.as_mut_ptr() as *mut c_void, buf.len() as isize, &mut ind);
    let n = if ind >= 0 { (ind as usize).min(63) } else { 0 };
    (r, String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Records in the statement's area (SQLGetDiagRec until SQL_NO_DATA).
unsafe fn record_count(h: *mut c_void) -> usize {
    let mut n = 0;
    loop {
        let (mut st, mut native, mut msg, mut len) = ([0u8; 6], 0i32, [0u8; 256], 0i16);
        let r = SQLGetDiagRec(
            SQL_HANDLE_STMT,
            h,
            (n + 1) as i16,
            st.as_mut_ptr(),
            &mut native,
            msg.as_mut_ptr(),
            256,
            &mut len,
        );
        if r != SqlReturn::SUCCESS {
            return n;
        }
        n += 1;
    }
}

unsafe fn diag_return_code(h: *mut c_void) -> i16 {
    let mut code = 99i16;
    let r = SQLGetDiagField(
        SQL_HANDLE_STMT,
        h,
        0,
        SQL_DIAG_RETURNCODE,
        &mut code as *mut i16 as *mut c_void,
        0,
        null_mut(),
    );
    assert_eq!(r, SqlReturn::SUCCESS);
    code
}

#[test]
fn a_value_read_whole_by_the_fast_path_then_another_in_pieces_then_the_next_row() {
    unsafe {
        let (_c, h) = statement();
        let long = "abcdefghij".repeat(3);
        with_rows(h, vec![batch(&[(1, Some("one")), (2, Some(&long)), (3, Some("three"))])]);
        ok(SQLFetch(h));
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 1));
        assert_eq!(text_of(h, 2), (SqlReturn::SUCCESS, "one".into()));
        assert_eq!(text_of(h, 2).0, SqlReturn::NO_DATA, "a value read whole is done");
        ok(SQLFetch(h));
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 2));
        // Pieces of 9 characters and a NUL: the first goes past the fast path (it does
        // not fit), the rest continue from the offset.
        let mut got = String::new();
        let mut piece = [0u8; 10];
        let mut ind = 0isize;
        loop {
            match SQLGetData(h, 2, SQL_C_CHAR, piece.as_mut_ptr() as *mut c_void, 10, &mut ind) {
                SqlReturn::SUCCESS_WITH_INFO => {
                    assert_eq!(state(h), "01004");
                    got.push_str(std::str::from_utf8(&piece[..9]).unwrap());
                }
                SqlReturn::SUCCESS => got.push_str(std::str::from_utf8(&piece[..ind as usize]).unwrap()),
                SqlReturn::NO_DATA => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, long);
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 2), "another column starts over");
        ok(SQLFetch(h));
        assert_eq!(text_of(h, 2), (SqlReturn::SUCCESS, "three".into()));
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 3));
        assert_eq!(SQLFetch(h), SqlReturn::NO_DATA);
        assert_eq!(int_of(h, 1).0, SqlReturn::ERROR);
        assert_eq!(state(h), "24000", "no current row after the end");
    }
}

#[test]
fn a_freed_statement_handle_is_invalid_for_fetch_and_get_data_even_after_its_slot_is_reused() {
    unsafe {
        let (conn, h) = statement();
        with_rows(h, vec![batch(&[(1, Some("a"))])]);
        ok(SQLFetch(h));
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 1));
        ok(SQLFreeHandle(SQL_HANDLE_STMT, h));
        assert_eq!(SQLFetch(h), SqlReturn::INVALID_HANDLE);
        assert_eq!(int_of(h, 1).0, SqlReturn::INVALID_HANDLE);
        assert_eq!(SQLFreeHandle(SQL_HANDLE_STMT, h), SqlReturn::INVALID_HANDLE, "double free");
        let other = crate::stmt::allocate_unconnected(&conn) as *mut c_void;
        with_rows(other, vec![batch(&[(7, Some("b"))])]);
        assert_eq!(SQLFetch(h), SqlReturn::INVALID_HANDLE, "the old value does not reach the new statement");
        ok(SQLFetch(other));
        assert_eq!(int_of(other, 1), (SqlReturn::SUCCESS, 7));
    }
}

#[test]
fn diagnostics_after_an_error_a_warning_then_a_success_are_cleared_and_the_return_code_follows() {
    unsafe {
        let (_c, h) = statement();
        let long = "x".repeat(100);
        with_rows(h, vec![batch(&[(1, Some(&long))])]);
        ok(SQLFetch(h));
        assert_eq!(diag_return_code(h), 0);
        assert_eq!(int_of(h, 9).0, SqlReturn::ERROR);
        assert_eq!(state(h), "07009");
        assert_eq!(record_count(h), 1);
        assert_eq!(diag_return_code(h), -1);
        // The success after the error clears its record.
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 1));
        assert_eq!(record_count(h), 0);
        assert_eq!(diag_return_code(h), 0);
        // A warning (truncation) is recorded, and the next success clears it too, even
        // though nothing read the area in between.
        assert_eq!(text_of(h, 2).0, SqlReturn::SUCCESS_WITH_INFO);
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 1));
        assert_eq!(record_count(h), 0);
        assert_eq!(diag_return_code(h), 0);
        assert_eq!(text_of(h, 2).0, SqlReturn::SUCCESS_WITH_INFO);
        assert_eq!((record_count(h), diag_return_code(h)), (1, 1));
        assert_eq!(text_of(h, 2), (SqlReturn::SUCCESS, "x".repeat(37)), "the rest fits");
        assert_eq!(record_count(h), 0);
        assert_eq!(SQLFetch(h), SqlReturn::NO_DATA);
        assert_eq!((record_count(h), diag_return_code(h)), (0, 100));
    }
}

#[test]
fn interleaved_cursors_on_two_statements_each_read_their_own_rows() {
    unsafe {
        let (conn, a) = statement();
        let b = crate::stmt::allocate_unconnected(&conn) as *mut c_void;
        with_rows(a, vec![batch(&[(1, Some("a1")), (2, Some("a2"))]), batch(&[(3, Some("a3"))])]);
        with_rows(b, vec![batch(&[(10, Some("b1"))]), batch(&[(20, Some("b2")), (30, Some("b3"))])]);
        for (ia, ib) in [(1, 10), (2, 20), (3, 30)] {
            ok(SQLFetch(a));
            assert_eq!(int_of(a, 1), (SqlReturn::SUCCESS, ia));
            ok(SQLFetch(b));
            assert_eq!(int_of(b, 1), (SqlReturn::SUCCESS, ib));
            assert_eq!(text_of(a, 2), (SqlReturn::SUCCESS, format!("a{ia}")));
            assert_eq!(text_of(b, 2), (SqlReturn::SUCCESS, format!("b{}", ib / 10)));
        }
        assert_eq!(SQLFetch(a), SqlReturn::NO_DATA);
        assert_eq!(SQLFetch(b), SqlReturn::NO_DATA);
    }
}

#[test]
fn a_rowset_across_batches_reads_each_positioned_row_from_its_own_batch() {
    unsafe {
        let (_c, h) = statement();
        with_rows(h, vec![batch(&[(1, Some("r1")), (2, Some("r2"))]), batch(&[(3, Some("r3")), (4, Some("r4"))])]);
        ok(SQLSetStmtAttr(h, ROW_ARRAY_SIZE, 3 as *mut c_void, 0));
        ok(SQLFetch(h));
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 1), "row 1 of the rowset without SQLSetPos");
        for (row, id) in [(3, 3), (2, 2), (1, 1), (3, 3)] {
            ok(SQLSetPos(h, row, scroll::SQL_POSITION, scroll::SQL_LOCK_NO_CHANGE));
            assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, id));
            assert_eq!(text_of(h, 2), (SqlReturn::SUCCESS, format!("r{id}")));
        }
        ok(SQLFetch(h));
        assert_eq!(int_of(h, 1), (SqlReturn::SUCCESS, 4), "the next rowset starts at its first row");
        assert_eq!(SQLSetPos(h, 2, scroll::SQL_POSITION, scroll::SQL_LOCK_NO_CHANGE), SqlReturn::ERROR);
        assert_eq!(text_of(h, 2), (SqlReturn::SUCCESS, "r4".into()), "a refused SQLSetPos leaves the row");
    }
}
