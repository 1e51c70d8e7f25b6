//! The statement exports called directly, as a driver manager would: bad handles, bad
//! pointers and lengths, call order, and the fetch and parameter paths over result
//! batches put in place of the server's.

use std::ffi::c_void;
use std::ptr::{null, null_mut};
use std::sync::Arc;

use odbc_sys::SqlReturn;
use twofactor_protocol::{sql_type, ColumnDesc, Nullability, RowBatch, RowBatchBuilder, Value, ValueRef};

use super::catalog::*;
use super::desc::*;
use super::fetch::*;
use super::params::*;
use super::scroll::*;
use super::statement::*;
use crate::conn::Connection;
use crate::handles::{self, RawHandle};
use crate::stmt::{self, Statement};

/// The batch of parameters that need no data at execution.
fn ready(p: crate::diag::OdbcResult<Params>) -> (RowBatch, Vec<bool>) {
    match p.unwrap() {
        Params::Ready(b, sent) => (b, sent),
        Params::NeedData(d) => panic!("data at execution: {d:?}"),
    }
}

pub(super) fn ok(r: SqlReturn) {
    assert_eq!(r, SqlReturn::SUCCESS);
}

pub(super) fn statement() -> (Arc<Connection>, *mut c_void) {
    let env = Arc::new(crate::env::Environment::new());
    let conn = Arc::new(Connection::new(env, 0));
    let raw = stmt::allocate_unconnected(&conn);
    (conn, raw as *mut c_void)
}

pub(super) fn state(h: *mut c_void) -> String {
    let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
    let d = s.diagnostics.lock().unwrap();
    d.record(1).map(|r| r.state.as_str().to_owned()).unwrap_or_default()
}

pub(super) fn col(name: &str, sql: i16, size: u32) -> ColumnDesc {
    ColumnDesc {
        name: name.into(),
        sql_type: sql,
        type_name: "T".into(),
        column_size: size,
        decimal_digits: 0,
        nullable: Nullability::Nullable,
        table_name: "t".into(),
    }
}

pub(super) fn batch(rows: &[(i64, Option<&str>)]) -> RowBatch {
    let mut b = RowBatchBuilder::new(2);
    for (id, name) in rows {
        b.push(ValueRef::Int(*id));
        b.push(name.map_or(ValueRef::Null, ValueRef::Text));
        b.end_row();
    }
    b.finish()
}

pub(super) fn with_rows(h: *mut c_void, batches: Vec<RowBatch>) {
    let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
    stmt::inject_result(&s, vec![col("id", sql_type::INTEGER, 10), col("name", sql_type::VARCHAR, 20)], batches);
}

#[test]
fn null_freed_and_wrong_kind_handles_are_invalid_handles() {
    unsafe {
        assert_eq!(SQLFetch(null_mut()), SqlReturn::INVALID_HANDLE);
        assert_eq!(SQLExecDirect(0xdead_beef as *mut c_void, b"x".as_ptr(), 1), SqlReturn::INVALID_HANDLE);
        let (conn, h) = statement();
        let descs = handles::lookup::<Statement>(h as RawHandle).unwrap().implicit_handles();
        assert_eq!(SQLFetch(descs[0] as *mut c_void), SqlReturn::INVALID_HANDLE, "a descriptor is not a statement");
        let mut n = 0i16;
        assert_eq!(SQLNumResultCols(descs[2] as *mut c_void, &mut n), SqlReturn::INVALID_HANDLE);
        assert!(stmt::free(h as RawHandle));
        assert_eq!(SQLFetch(h), SqlReturn::INVALID_HANDLE);
        assert_eq!(SQLFreeStmt(h, 1), SqlReturn::INVALID_HANDLE, "double drop");
        assert_eq!(
            SQLGetDescField(descs[0] as *mut c_void, 0, 1001, &mut n as *mut i16 as *mut c_void, 0, null_mut()),
            SqlReturn::INVALID_HANDLE
        );
        assert!(conn.statements.lock().unwrap().is_empty());
    }
}

#[test]
fn calls_out_of_order_get_hy010_or_24000() {
    unsafe {
        let (_c, h) = statement();
        assert_eq!(SQLFetch(h), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010");
        assert_eq!(SQLExecute(h), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010");
        assert_eq!(SQLCloseCursor(h), SqlReturn::ERROR);
        assert_eq!(state(h), "24000");
        let mut n = 0i16;
        assert_eq!(SQLNumResultCols(h, &mut n), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010");
        assert_eq!(SQLNumParams(h, &mut n), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010");
        assert_eq!(SQLExecDirect(h, b"SELECT 1\0".as_ptr(), -3), SqlReturn::ERROR);
        assert_eq!(state(h), "08003", "not connected");
    }
}

#[test]
fn null_pointers_and_negative_lengths_are_hy009_and_hy090() {
    unsafe {
        let (_c, h) = statement();
        assert_eq!(SQLExecDirect(h, null(), -3), SqlReturn::ERROR);
        assert_eq!(state(h), "HY009");
        assert_eq!(SQLExecDirect(h, b"x".as_ptr(), -7), SqlReturn::ERROR);
        assert_eq!(state(h), "HY090");
        assert_eq!(SQLPrepareW(h, [0x78u16].as_ptr(), 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY090");
        let mut buf = [0u8; 8];
        assert_eq!(SQLBindCol(h, 1, 1, buf.as_mut_ptr() as *mut c_void, -1, null_mut()), SqlReturn::ERROR);
        assert_eq!(state(h), "HY090");
        assert_eq!(SQLBindCol(h, 1, 12345, buf.as_mut_ptr() as *mut c_void, 8, null_mut()), SqlReturn::ERROR);
        assert_eq!(state(h), "HY003");
        assert_eq!(SQLNumResultCols(h, null_mut()), SqlReturn::ERROR);
        assert_eq!(state(h), "HY009");
        assert_eq!(SQLGetStmtAttr(h, 27, null_mut(), 0, null_mut()), SqlReturn::ERROR);
        assert_eq!(state(h), "HY009");
        assert_eq!(SQLBindParameter(h, 1, 1, 1, 12, 10, 0, null_mut(), 0, null_mut()), SqlReturn::ERROR);
        assert_eq!(state(h), "HY009");
        assert_eq!(SQLPrimaryKeys(h, null(), 0, null(), 0, null(), 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY009");
    }
}

#[test]
fn attributes_round_trip_and_unknown_ones_are_hy092() {
    unsafe {
        let (_c, h) = statement();
        let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
        let mut v: usize = 0;
        assert_eq!(SQLGetStmtAttr(h, 10010, &mut v as *mut usize as *mut c_void, 0, null_mut()), SqlReturn::SUCCESS);
        assert_eq!(v, s.implicit_handles()[0]);
        assert_eq!(SQLSetStmtAttr(h, 27, 10 as *mut c_void, 0), SqlReturn::SUCCESS);
        assert_eq!(SQLGetStmtAttr(h, 27, &mut v as *mut usize as *mut c_void, 0, null_mut()), SqlReturn::SUCCESS);
        assert_eq!(v, 10);
        let mut size = 0usize;
        assert_eq!(
            SQLGetDescField(
                s.implicit_handles()[0] as *mut c_void,
                0,
                20,
                &mut size as *mut usize as *mut c_void,
                0,
                null_mut()
            ),
            SqlReturn::SUCCESS
        );
        assert_eq!(size, 10, "the row array size is the ARD's array size");
        assert_eq!(SQLSetStmtAttr(h, 6, 1 as *mut c_void, 0), SqlReturn::SUCCESS_WITH_INFO, "keyset -> static");
        assert_eq!(state(h), "01S02");
        assert_eq!(SQLSetStmtAttr(h, 4242, null_mut(), 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY092");
        assert_eq!(SQLSetStmtAttr(h, 27, null_mut(), 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY024");
        assert_eq!(SQLSetStmtAttr(h, 10012, null_mut(), 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY017");
    }
}

#[test]
fn bound_columns_fetch_one_row_at_a_time_with_truncation_and_nulls() {
    unsafe {
        let (_c, h) = statement();
        with_rows(h, vec![batch(&[(1, Some("apple"))]), batch(&[(2, None), (3, Some("watermelon"))])]);
        let (mut id, mut id_ind) = (0i32, 0isize);
        let (mut name, mut name_ind) = ([0u8; 6], 0isize);
        assert_eq!(SQLBindCol(h, 1, 4, &mut id as *mut i32 as *mut c_void, 0, &mut id_ind), SqlReturn::SUCCESS);
        assert_eq!(SQLBindCol(h, 2, 1, name.as_mut_ptr() as *mut c_void, 6, &mut name_ind), SqlReturn::SUCCESS);
        assert_eq!(SQLFetch(h), SqlReturn::SUCCESS);
        assert_eq!((id, name_ind, &name[..6]), (1, 5, &b"apple\0"[..]));
        assert_eq!(SQLFetch(h), SqlReturn::SUCCESS, "the next batch comes from the spill");
        assert_eq!((id, name_ind), (2, -1));
        assert_eq!(SQLFetch(h), SqlReturn::SUCCESS_WITH_INFO);
        assert_eq!(state(h), "01004");
        assert_eq!((id, name_ind, &name[..]), (3, 10, &b"water\0"[..]));
        assert_eq!(SQLFetch(h), SqlReturn::NO_DATA);
        assert_eq!(SQLCloseCursor(h), SqlReturn::SUCCESS);
        assert_eq!(SQLFetch(h), SqlReturn::ERROR);
    }
}

#[test]
fn a_null_without_an_indicator_is_22002() {
    unsafe {
        let (_c, h) = statement();
        with_rows(h, vec![batch(&[(2, None)])]);
        let mut name = [0u8; 8];
        ok(SQLBindCol(h, 2, 1, name.as_mut_ptr() as *mut c_void, 8, null_mut()));
        assert_eq!(SQLFetch(h), SqlReturn::ERROR);
        assert_eq!(state(h), "22002");
    }
}

#[test]
fn block_cursors_fill_column_wise_arrays_with_statuses_and_row_counts() {
    unsafe {
        let (_c, h) = statement();
        with_rows(h, vec![batch(&[(1, Some("a")), (2, Some("bb"))]), batch(&[(3, None)])]);
        let mut ids = [0i64; 4];
        let mut names = [[0u8; 4]; 4];
        let mut inds = [0isize; 4];
        let mut statuses = [99u16; 4];
        let mut fetched = 0usize;
        ok(SQLSetStmtAttr(h, 27, 4 as *mut c_void, 0));
        ok(SQLSetStmtAttr(h, 25, statuses.as_mut_ptr() as *mut c_void, 0));
        ok(SQLSetStmtAttr(h, 26, &mut fetched as *mut usize as *mut c_void, 0));
        ok(SQLBindCol(h, 1, -25, ids.as_mut_ptr() as *mut c_void, 8, null_mut()));
        ok(SQLBindCol(h, 2, 1, names.as_mut_ptr() as *mut c_void, 4, inds.as_mut_ptr()));
        assert_eq!(SQLFetch(h), SqlReturn::SUCCESS);
        assert_eq!(fetched, 3);
        assert_eq!(&ids[..3], &[1, 2, 3]);
        assert_eq!(&inds[..3], &[1, 2, -1]);
        assert_eq!(&names[1][..3], b"bb\0");
        assert_eq!(statuses, [0, 0, 0, 3]);
        assert_eq!(SQLFetch(h), SqlReturn::NO_DATA);
        assert_eq!(fetched, 0);
    }
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Row {
    id: i32,
    id_ind: isize,
    name: [u8; 8],
    name_ind: isize,
}

#[test]
fn row_wise_binding_uses_the_struct_size_and_the_bind_offset() {
    unsafe {
        let (_c, h) = statement();
        with_rows(h, vec![batch(&[(7, Some("x")), (8, Some("yz"))])]);
        let mut rows = [Row::default(); 3];
        let base = &mut rows[0] as *mut Row;
        let mut offset: isize = std::mem::size_of::<Row>() as isize;
        ok(SQLSetStmtAttr(h, 27, 2 as *mut c_void, 0));
        ok(SQLSetStmtAttr(h, 5, std::mem::size_of::<Row>() as *mut c_void, 0));
        ok(SQLSetStmtAttr(h, 23, &mut offset as *mut isize as *mut c_void, 0));
        ok(SQLBindCol(h, 1, 4, &mut (*base).id as *mut i32 as *mut c_void, 0, &mut (*base).id_ind));
        ok(SQLBindCol(h, 2, 1, (*base).name.as_mut_ptr() as *mut c_void, 8, &mut (*base).name_ind));
        assert_eq!(SQLFetch(h), SqlReturn::SUCCESS);
        assert_eq!(rows[0].id, 0, "the offset skips the first struct");
        assert_eq!((rows[1].id, rows[1].name_ind, &rows[1].name[..2]), (7, 1, &b"x\0"[..]));
        assert_eq!((rows[2].id, rows[2].name_ind, &rows[2].name[..3]), (8, 2, &b"yz\0"[..]));
    }
}

#[test]
fn get_data_returns_long_text_in_pieces_then_no_data() {
    unsafe {
        let (_c, h) = statement();
        let long: String = "0123456789".repeat(10);
        with_rows(h, vec![batch(&[(1, Some(&long))])]);
        assert_eq!(SQLFetch(h), SqlReturn::SUCCESS);
        let mut got = Vec::new();
        let mut inds = Vec::new();
        loop {
            let mut piece = [0u8; 5];
            let mut ind = 0isize;
            match SQLGetData(h, 2, 1, piece.as_mut_ptr() as *mut c_void, 5, &mut ind) {
                SqlReturn::SUCCESS_WITH_INFO => {
                    assert_eq!(state(h), "01004");
                    got.extend_from_slice(&piece[..4]);
                }
                SqlReturn::SUCCESS => {
                    got.extend_from_slice(&piece[..ind as usize]);
                }
                SqlReturn::NO_DATA => break,
                other => panic!("{other:?}"),
            }
            inds.push(ind);
        }
        assert_eq!(got, long.as_bytes());
        assert_eq!((inds[0], inds[1], *inds.last().unwrap()), (100, 96, 4));
        let mut wide = [0u16; 4];
        let mut ind = 0isize;
        assert_eq!(
            SQLGetData(h, 1, -8, wide.as_mut_ptr() as *mut c_void, 8, &mut ind),
            SqlReturn::SUCCESS,
            "another column starts over"
        );
        assert_eq!((ind, wide[0]), (2, u16::from(b'1')));
        assert_eq!(SQLGetData(h, 1, -8, wide.as_mut_ptr() as *mut c_void, 8, &mut ind), SqlReturn::NO_DATA);
        assert_eq!(SQLGetData(h, 3, 1, wide.as_mut_ptr() as *mut c_void, 8, &mut ind), SqlReturn::ERROR);
        assert_eq!(state(h), "07009");
        assert_eq!(SQLGetData(h, 1, 1, null_mut(), 8, &mut ind), SqlReturn::ERROR);
        assert_eq!(state(h), "HY009");
    }
}

#[test]
fn column_descriptions_report_names_types_and_truncate_with_01004() {
    unsafe {
        let (_c, h) = statement();
        with_rows(h, vec![batch(&[(1, None)])]);
        let mut n = 0i16;
        assert_eq!(SQLNumResultCols(h, &mut n), SqlReturn::SUCCESS);
        assert_eq!(n, 2);
        let (mut name, mut len, mut ty, mut size, mut digits, mut nullable) =
            ([0u8; 3], 0i16, 0i16, 0usize, 0i16, 0i16);
        assert_eq!(
            SQLDescribeCol(h, 2, name.as_mut_ptr(), 3, &mut len, &mut ty, &mut size, &mut digits, &mut nullable),
            SqlReturn::SUCCESS_WITH_INFO
        );
        assert_eq!((&name, len, ty, size, nullable), (b"na\0", 4, sql_type::VARCHAR, 20, 1));
        let mut label = [0u16; 8];
        let mut label_len = 0i16;
        let mut num = 0isize;
        assert_eq!(
            SQLColAttributeW(h, 1, 18, label.as_mut_ptr() as *mut c_void, 16, &mut label_len, &mut num),
            SqlReturn::SUCCESS
        );
        assert_eq!((label_len, label[0], label[2]), (4, u16::from(b'i'), 0), "wide lengths in bytes");
        assert_eq!(SQLColAttribute(h, 1, 6, null_mut(), 0, null_mut(), &mut num), SqlReturn::SUCCESS);
        assert_eq!(num, 11);
        assert_eq!(SQLColAttribute(h, 3, 6, null_mut(), 0, null_mut(), &mut num), SqlReturn::ERROR);
        assert_eq!(state(h), "07009");
    }
}

#[test]
fn column_wise_parameter_arrays_become_one_batch() {
    unsafe {
        let (_c, h) = statement();
        let ids = [10i32, 20, 30];
        let names = *b"ab\0\0cde\0\0\0\0\0";
        let name_inds = [-3isize, 3, -1];
        ok(SQLSetStmtAttr(h, 22, 3 as *mut c_void, 0));
        ok(SQLBindParameter(h, 1, 1, 4, 4, 0, 0, ids.as_ptr() as *mut c_void, 0, null_mut()));
        ok(SQLBindParameter(h, 2, 1, 1, 12, 10, 0, names.as_ptr() as *mut c_void, 4, name_inds.as_ptr() as *mut isize));
        let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
        let mut inner = s.lock();
        let (b, sent) = ready(build_params(&s, &mut inner, false, None));
        assert_eq!(sent, vec![true; 3]);
        assert_eq!((b.rows(), b.columns()), (3, 2));
        let rows: Vec<Vec<Value>> = (0..3).map(|r| b.row(r).map(|v| v.to_owned()).collect()).collect();
        assert_eq!(rows[0], vec![Value::Int(10), Value::Text("ab".into())]);
        assert_eq!(rows[1], vec![Value::Int(20), Value::Text("cde".into())]);
        assert_eq!(rows[2], vec![Value::Int(30), Value::Null]);
    }
}

#[repr(C)]
struct ParamRow {
    id: i64,
    id_ind: isize,
    name: [u16; 4],
    name_ind: isize,
}

#[test]
fn row_wise_parameter_arrays_honour_the_struct_size_and_offset() {
    unsafe {
        let (_c, h) = statement();
        let w = |s: &str| {
            let mut a = [0u16; 4];
            for (i, u) in s.encode_utf16().enumerate() {
                a[i] = u;
            }
            a
        };
        let rows = [
            ParamRow { id: -1, id_ind: 0, name: w("zz"), name_ind: -3 },
            ParamRow { id: 5, id_ind: 0, name: w("hé"), name_ind: -3 },
            ParamRow { id: 6, id_ind: -1, name: w("x"), name_ind: 2 },
        ];
        let mut offset = std::mem::size_of::<ParamRow>() as isize;
        ok(SQLSetStmtAttr(h, 22, 2 as *mut c_void, 0));
        ok(SQLSetStmtAttr(h, 18, std::mem::size_of::<ParamRow>() as *mut c_void, 0));
        ok(SQLSetStmtAttr(h, 17, &mut offset as *mut isize as *mut c_void, 0));
        let base = &rows[0];
        ok(SQLBindParameter(
            h,
            1,
            1,
            -25,
            -5,
            0,
            0,
            &base.id as *const i64 as *mut c_void,
            0,
            &base.id_ind as *const isize as *mut isize,
        ));
        ok(SQLBindParameter(
            h,
            2,
            1,
            -8,
            -9,
            4,
            0,
            base.name.as_ptr() as *mut c_void,
            8,
            &base.name_ind as *const isize as *mut isize,
        ));
        let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
        let mut inner = s.lock();
        let (b, _) = ready(build_params(&s, &mut inner, false, None));
        let got: Vec<Vec<Value>> = (0..2).map(|r| b.row(r).map(|v| v.to_owned()).collect()).collect();
        assert_eq!(got[0], vec![Value::Int(5), Value::Text("hé".into())]);
        assert_eq!(got[1], vec![Value::Null, Value::Text("x".into())]);
    }
}

#[test]
fn a_bad_parameter_value_names_its_row() {
    unsafe {
        let (_c, h) = statement();
        let texts = *b"12\0\0x1\0\0";
        ok(SQLSetStmtAttr(h, 22, 2 as *mut c_void, 0));
        ok(SQLBindParameter(h, 1, 1, 1, 4, 0, 0, texts.as_ptr() as *mut c_void, 4, null_mut()));
        let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
        let mut inner = s.lock();
        let e = build_params(&s, &mut inner, false, None).unwrap_err();
        assert_eq!((e.state.as_str(), e.row), ("22018", Some(2)));
    }
}

/// The parameters the statement would send now, built from what SQLPutData collected.
fn assembled(h: *mut c_void) -> Vec<Vec<Value>> {
    let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
    let mut inner = s.lock();
    let dae = inner.dae.take().expect("data-at-execution pending");
    let (b, _) = ready(unsafe { build_params(&s, &mut inner, false, Some(&dae)) });
    inner.dae = Some(dae);
    (0..b.rows()).map(|r| b.row(r).map(|v| v.to_owned()).collect()).collect()
}

#[test]
fn data_at_execution_parameters_are_asked_for_by_token_and_assembled_from_pieces() {
    unsafe {
        let (_c, h) = statement();
        let at_exec = -2isize;
        let len_at_exec = -100 - 6isize;
        let id = 42i32;
        ok(SQLBindParameter(h, 1, 1, 1, 12, 0, 0, 0x7 as *mut c_void, 0, &at_exec as *const isize as *mut isize));
        ok(SQLBindParameter(h, 2, 1, 4, 4, 0, 0, &id as *const i32 as *mut c_void, 0, null_mut()));
        ok(SQLBindParameter(h, 3, 1, -8, -9, 0, 0, 0x9 as *mut c_void, 0, &len_at_exec as *const isize as *mut isize));
        ok(SQLBindParameter(h, 4, 1, -2, -3, 0, 0, 0xb as *mut c_void, 0, &at_exec as *const isize as *mut isize));
        assert_eq!(SQLExecDirect(h, b"INSERT INTO t VALUES (?, ?, ?, ?)\0".as_ptr(), -3), SqlReturn::NEED_DATA);
        assert_eq!(SQLPutData(h, b"x".as_ptr() as *mut c_void, 1), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010", "SQLPutData before SQLParamData");
        let mut token: *mut c_void = null_mut();
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::NEED_DATA);
        assert_eq!(token as usize, 0x7);
        ok(SQLPutData(h, b"ab".as_ptr() as *mut c_void, 2));
        ok(SQLPutData(h, "é\0".as_ptr() as *mut c_void, -3));
        assert_eq!(SQLFetch(h), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010", "other calls wait for the data");
        assert_eq!(SQLExecDirect(h, b"SELECT 1\0".as_ptr(), -3), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010");
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::NEED_DATA);
        assert_eq!(token as usize, 0x9);
        // A surrogate pair cut in the middle by the piece boundary.
        let wide: Vec<u16> = "a😀".encode_utf16().collect();
        ok(SQLPutData(h, wide[..2].as_ptr() as *mut c_void, 4));
        ok(SQLPutData(h, wide[2..].as_ptr() as *mut c_void, 2));
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::NEED_DATA);
        assert_eq!(token as usize, 0xb);
        ok(SQLPutData(h, [0u8, 1, 2].as_ptr() as *mut c_void, 3));
        ok(SQLPutData(h, [3u8].as_ptr() as *mut c_void, 1));
        assert_eq!(
            assembled(h),
            vec![vec![
                Value::Text("abé".into()),
                Value::Int(42),
                Value::Text("a😀".into()),
                Value::Bytes(vec![0, 1, 2, 3])
            ]]
        );
        // The last SQLParamData runs the statement: here there is no server to run it on.
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::ERROR);
        assert_eq!(state(h), "08003");
        assert_eq!(SQLPutData(h, b"x".as_ptr() as *mut c_void, 1), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010", "the sequence is over");
    }
}

#[test]
fn put_data_takes_null_and_one_piece_of_a_fixed_size_type() {
    unsafe {
        let (_c, h) = statement();
        let at_exec = -2isize;
        ok(SQLBindParameter(h, 1, 1, 4, 4, 0, 0, 0x1 as *mut c_void, 0, &at_exec as *const isize as *mut isize));
        ok(SQLBindParameter(h, 2, 1, 1, 12, 0, 0, 0x2 as *mut c_void, 0, &at_exec as *const isize as *mut isize));
        assert_eq!(SQLExecDirect(h, b"INSERT INTO t VALUES (?, ?)\0".as_ptr(), -3), SqlReturn::NEED_DATA);
        let mut token: *mut c_void = null_mut();
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::NEED_DATA);
        let v = 7i32;
        ok(SQLPutData(h, &v as *const i32 as *mut c_void, 0));
        assert_eq!(SQLPutData(h, &v as *const i32 as *mut c_void, 4), SqlReturn::ERROR);
        assert_eq!(state(h), "HY019");
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::NEED_DATA);
        ok(SQLPutData(h, null_mut(), -1));
        assert_eq!(SQLPutData(h, b"x".as_ptr() as *mut c_void, 1), SqlReturn::ERROR);
        assert_eq!(state(h), "HY020");
        assert_eq!(SQLPutData(h, null_mut(), 5), SqlReturn::ERROR);
        assert_eq!(state(h), "HY009", "a length without a buffer");
        assert_eq!(assembled(h), vec![vec![Value::Int(7), Value::Null]]);
    }
}

#[test]
fn cancel_or_close_ends_a_data_at_execution_sequence() {
    unsafe {
        let (_c, h) = statement();
        let at_exec = -2isize;
        ok(SQLBindParameter(h, 1, 1, 1, 12, 0, 0, 0x1 as *mut c_void, 0, &at_exec as *const isize as *mut isize));
        assert_eq!(SQLExecDirect(h, b"SELECT ?\0".as_ptr(), -3), SqlReturn::NEED_DATA);
        ok(SQLCancel(h));
        let mut token: *mut c_void = null_mut();
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010");
        assert_eq!(SQLExecDirect(h, b"SELECT ?\0".as_ptr(), -3), SqlReturn::NEED_DATA);
        ok(SQLFreeStmt(h, 0));
        assert_eq!(SQLPutData(h, b"x".as_ptr() as *mut c_void, 1), SqlReturn::ERROR);
        assert_eq!(state(h), "HY010");
    }
}

#[test]
fn each_row_of_a_parameter_array_gets_its_own_data_at_execution_value() {
    unsafe {
        let (_c, h) = statement();
        let inds = [-2isize, 1, -2];
        let texts = *b"?\0b\0?\0";
        ok(SQLSetStmtAttr(h, 22, 3 as *mut c_void, 0));
        ok(SQLBindParameter(h, 1, 1, 1, 12, 0, 0, texts.as_ptr() as *mut c_void, 2, inds.as_ptr() as *mut isize));
        assert_eq!(SQLExecDirect(h, b"INSERT INTO t VALUES (?)\0".as_ptr(), -3), SqlReturn::NEED_DATA);
        let mut token: *mut c_void = null_mut();
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::NEED_DATA);
        assert_eq!(token as usize, texts.as_ptr() as usize, "row 1's buffer");
        ok(SQLPutData(h, b"first".as_ptr() as *mut c_void, 5));
        assert_eq!(SQLParamData(h, &mut token), SqlReturn::NEED_DATA);
        assert_eq!(token as usize, texts.as_ptr() as usize + 4, "row 3's buffer");
        ok(SQLPutData(h, b"third".as_ptr() as *mut c_void, 5));
        let rows = assembled(h);
        assert_eq!(
            rows,
            vec![vec![Value::Text("first".into())], vec![Value::Text("b".into())], vec![Value::Text("third".into())]]
        );
    }
}

#[test]
fn fetch_scroll_other_than_next_is_hy106_and_catalog_arguments_are_checked() {
    unsafe {
        let (_c, h) = statement();
        with_rows(h, vec![batch(&[(1, None)])]);
        assert_eq!(SQLFetchScroll(h, 2, 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY106");
        ok(SQLFreeStmt(h, 0));
        assert_eq!(SQLStatistics(h, null(), 0, null(), 0, b"t".as_ptr(), 1, 9, 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY100");
        assert_eq!(SQLTables(h, null(), 0, null(), 0, b"t".as_ptr(), -9, null(), 0), SqlReturn::ERROR);
        assert_eq!(state(h), "HY090");
        assert_eq!(SQLGetTypeInfo(h, 4242), SqlReturn::ERROR);
        assert_eq!(state(h), "HY004");
    }
}

#[test]
fn descriptor_records_set_by_bind_col_are_visible_through_get_desc_rec() {
    unsafe {
        let (_c, h) = statement();
        let mut buf = [0u8; 16];
        ok(SQLBindCol(h, 2, 93, buf.as_mut_ptr() as *mut c_void, 16, null_mut()));
        let s = handles::lookup::<Statement>(h as RawHandle).unwrap();
        let ard = s.implicit_handles()[0] as *mut c_void;
        let (mut ty, mut sub, mut len) = (0i16, 0i16, 0isize);
        assert_eq!(
            SQLGetDescRec(
                ard,
                2,
                null_mut(),
                0,
                null_mut(),
                &mut ty,
                &mut sub,
                &mut len,
                null_mut(),
                null_mut(),
                null_mut()
            ),
            SqlReturn::SUCCESS
        );
        assert_eq!((ty, sub, len), (9, 3, 16));
        assert_eq!(
            SQLGetDescRec(
                ard,
                3,
                null_mut(),
                0,
                null_mut(),
                &mut ty,
                &mut sub,
                &mut len,
                null_mut(),
                null_mut(),
                null_mut()
            ),
            SqlReturn::NO_DATA
        );
        let mut count = 0i16;
        ok(SQLGetDescField(ard, 0, 1001, &mut count as *mut i16 as *mut c_void, 0, null_mut()));
        assert_eq!(count, 2);
        ok(SQLBindCol(h, 2, 1, null_mut(), 0, null_mut()));
        ok(SQLGetDescField(ard, 0, 1001, &mut count as *mut i16 as *mut c_void, 0, null_mut()));
        assert_eq!(count, 0, "unbinding the last column lowers the count");
    }
}
