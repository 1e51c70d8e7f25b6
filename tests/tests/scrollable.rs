//! Static (scrollable) cursors and SQLSetPos through the unixODBC driver manager: every
//! fetch orientation over a result with BLOBs that spans several server batches,
//! SQLGetData after SQLSetPos on a block cursor (what node-odbc does with fetchSize > 1),
//! and no unixODBC cursor library on the way (PDO_ODBC asks for SQL_CUR_USE_IF_NEEDED).

use twofactor_e2e::raw::{Charset, Dbc, Env};
use twofactor_e2e::statement::{
    extended_fetch, info_u32, set_connect_attr, Statement, SQL_NO_DATA, SQL_SUCCESS, SQL_SUCCESS_WITH_INFO,
};
use twofactor_e2e::TestServer;

const CURSOR_TYPE: i32 = 6;
const ROW_ARRAY_SIZE: i32 = 27;
const ROW_STATUS_PTR: i32 = 25;
const ROWS_FETCHED_PTR: i32 = 26;
const CURSOR_STATIC: usize = 3;
const CURSOR_DYNAMIC: usize = 2;
const NEXT: i16 = 1;
const FIRST: i16 = 2;
const LAST: i16 = 3;
const PRIOR: i16 = 4;
const ABSOLUTE: i16 = 5;
const RELATIVE: i16 = 6;
const POSITION: u16 = 0;
const LOCK_NO_CHANGE: u16 = 0;

/// The BLOB of row `id`: 100 bytes that differ per row, with a zero byte inside.
fn blob(id: i64) -> Vec<u8> {
    (0..100u8).map(|i| i.wrapping_mul(id as u8).wrapping_add(id as u8)).collect()
}

/// Logs in through the narrow entry points with 3-row server batches and makes
/// t(id, b) with ids 1..=10.
fn connect<'e>(env: &'e Env, server: &TestServer, name: &str, extra: &str) -> Dbc<'e> {
    let user = server.user(name);
    let mut dbc = env.dbc(Charset::Narrow);
    let conn_str = server.connection_string(&user, &format!("TwoFactorCode={};FetchRows=3;{extra}", user.fresh_code()));
    dbc.driver_connect(&conn_str).unwrap_or_else(|e| panic!("login failed: {e}"));
    dbc.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)").unwrap();
    for id in 1..=10 {
        let hex: String = blob(id).iter().map(|b| format!("{b:02X}")).collect();
        dbc.exec(&format!("INSERT INTO t VALUES ({id}, X'{hex}')")).unwrap();
    }
    dbc
}

fn static_statement<'c>(dbc: &'c Dbc<'_>) -> Statement<'c> {
    let stmt = Statement::new(dbc);
    assert_eq!(stmt.set_attr(CURSOR_TYPE, CURSOR_STATIC).unwrap(), SQL_SUCCESS);
    stmt
}

#[test]
fn a_static_cursor_scrolls_every_way_over_blobs_across_server_batches() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "scroller", "");
    let stmt = static_statement(&dbc);
    let mut ids = [0i64; 3];
    let mut ind = [0isize; 3];
    let mut statuses = [7u16; 3];
    let mut fetched = 0usize;
    stmt.set_attr(ROW_ARRAY_SIZE, 3).unwrap();
    stmt.set_attr(ROW_STATUS_PTR, statuses.as_mut_ptr() as usize).unwrap();
    stmt.set_attr(ROWS_FETCHED_PTR, &mut fetched as *mut usize as usize).unwrap();
    unsafe { stmt.bind_i64(1, &mut ids, &mut ind).unwrap() };
    stmt.exec("SELECT id, b FROM t ORDER BY id").unwrap();
    assert_eq!(stmt.row_count().unwrap(), 10, "a snapshot knows how many rows it holds");

    let visit = |orientation: i16, offset: isize, want: &[i64]| {
        let rc = stmt.fetch_scroll(orientation, offset).unwrap();
        if want.is_empty() {
            assert_eq!(rc, SQL_NO_DATA, "{orientation} {offset}");
            return;
        }
        assert!(rc == SQL_SUCCESS || rc == SQL_SUCCESS_WITH_INFO, "{orientation} {offset}: {rc}");
        assert_eq!(fetched, want.len(), "{orientation} {offset}");
        assert_eq!(&ids[..want.len()], want, "{orientation} {offset}");
        for (i, status) in statuses.iter().enumerate() {
            assert_eq!(*status, if i < want.len() { 0 } else { 3 }, "SQL_ROW_SUCCESS / SQL_ROW_NOROW");
        }
        // The BLOB of every row of the rowset, read after SQLSetPos.
        for (i, id) in want.iter().enumerate() {
            stmt.set_pos(i + 1, POSITION, LOCK_NO_CHANGE).unwrap();
            assert_eq!(stmt.get_bytes(2).unwrap(), Some(blob(*id)), "row {id}");
        }
    };
    visit(LAST, 0, &[8, 9, 10]);
    visit(PRIOR, 0, &[5, 6, 7]);
    visit(ABSOLUTE, 2, &[2, 3, 4]);
    visit(RELATIVE, 5, &[7, 8, 9]);
    visit(RELATIVE, -6, &[1, 2, 3]);
    visit(NEXT, 0, &[4, 5, 6]);
    visit(ABSOLUTE, -1, &[10]);
    visit(NEXT, 0, &[]);
    visit(PRIOR, 0, &[8, 9, 10]);
    visit(FIRST, 0, &[1, 2, 3]);
    visit(PRIOR, 0, &[]);
    visit(ABSOLUTE, 11, &[]);
    visit(ABSOLUTE, 9, &[9, 10]);
}

#[test]
fn blob_only_and_parameter_only_selects_scroll_with_their_values() {
    // The selects unixODBC's cursor library got wrong: SL009 on BLOB-only columns, empty
    // BLOBs, and a crash in PHP on `SELECT ? AS p`.
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "blobs_only", "");
    let stmt = static_statement(&dbc);
    stmt.exec("SELECT b FROM t ORDER BY id").unwrap();
    stmt.fetch_scroll(ABSOLUTE, 7).unwrap();
    assert_eq!(stmt.get_bytes(1).unwrap(), Some(blob(7)));
    stmt.fetch_scroll(FIRST, 0).unwrap();
    assert_eq!(stmt.get_bytes(1).unwrap(), Some(blob(1)));
    stmt.close_cursor().unwrap();

    let stmt = static_statement(&dbc);
    stmt.exec_with_text("SELECT ? AS p", "hello").unwrap();
    stmt.fetch_scroll(LAST, 0).unwrap();
    assert_eq!(stmt.get_text(1).unwrap().as_deref(), Some("hello"));
    assert_eq!(stmt.fetch_scroll(NEXT, 0).unwrap(), SQL_NO_DATA);
    stmt.fetch_scroll(FIRST, 0).unwrap();
    assert_eq!(stmt.get_text(1).unwrap().as_deref(), Some("hello"));
}

#[test]
fn set_pos_and_get_data_read_every_row_of_a_forward_only_rowset() {
    // node-odbc with fetchSize > 1: a forward-only block cursor, SQLSetPos(SQL_POSITION)
    // to each row, then SQLGetData; rowsets cross the 3-row server batches.
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "block_reader", "");
    let stmt = Statement::new(&dbc);
    stmt.set_attr(ROW_ARRAY_SIZE, 4).unwrap();
    let mut fetched = 0usize;
    stmt.set_attr(ROWS_FETCHED_PTR, &mut fetched as *mut usize as usize).unwrap();
    stmt.exec("SELECT id, b FROM t ORDER BY id").unwrap();
    let mut seen = Vec::new();
    while stmt.fetch().unwrap() != SQL_NO_DATA {
        for row in 1..=fetched {
            stmt.set_pos(row, POSITION, LOCK_NO_CHANGE).unwrap();
            let id = stmt.get_i64(1).unwrap().unwrap();
            assert_eq!(stmt.get_bytes(2).unwrap(), Some(blob(id)));
            seen.push(id);
        }
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert_eq!(stmt.fetch_scroll(PRIOR, 0).unwrap_err().state(), "HY106", "forward-only stays forward-only");
}

#[test]
fn unixodbc_needs_no_cursor_library_and_dynamic_becomes_static() {
    let server = TestServer::start();
    let env = Env::new();
    // SQL_ATTR_ODBC_CURSORS = SQL_CUR_USE_IF_NEEDED, as PDO_ODBC sets it by default.
    let dbc = {
        let user = server.user("pdo_like");
        let mut dbc = env.dbc(Charset::Narrow);
        set_connect_attr(&dbc, 110, 0);
        let conn_str = server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()));
        dbc.driver_connect(&conn_str).unwrap_or_else(|e| panic!("login failed: {e}"));
        dbc
    };
    assert_ne!(info_u32(&dbc, 167) & 0x2, 0, "SQL_STATIC_CURSOR_ATTRIBUTES1 has SQL_CA1_ABSOLUTE");
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(!maps.contains("libodbccr"), "unixODBC loaded its cursor library");

    let stmt = Statement::new(&dbc);
    assert_eq!(stmt.set_attr(CURSOR_TYPE, CURSOR_DYNAMIC).unwrap(), SQL_SUCCESS_WITH_INFO);
    assert_eq!(stmt.diagnostics()[0].state, "01S02");
    stmt.exec("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3").unwrap();
    stmt.fetch_scroll(LAST, 0).unwrap();
    assert_eq!(stmt.get_i64(1).unwrap(), Some(3));
    stmt.fetch_scroll(ABSOLUTE, 1).unwrap();
    assert_eq!(stmt.get_i64(1).unwrap(), Some(1));
}

#[test]
fn a_result_over_the_static_cursor_limit_is_hy001_and_the_connection_goes_on() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "too_big", "StaticCursorMaxBytes=512");
    let stmt = static_statement(&dbc);
    let err = stmt.exec("SELECT id, b FROM t").unwrap_err();
    assert_eq!(err.state(), "HY001", "{err:?}");
    // The statement and the session are still usable.
    stmt.exec("SELECT COUNT(*) FROM t").unwrap();
    stmt.fetch_scroll(FIRST, 0).unwrap();
    assert_eq!(stmt.get_i64(1).unwrap(), Some(10));
}

#[test]
fn max_rows_bounds_the_snapshot_and_other_statements_run_while_it_is_open() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "bounded", "");
    let stmt = static_statement(&dbc);
    stmt.set_attr(1, 4).unwrap(); // SQL_ATTR_MAX_ROWS: into the second 3-row batch
    stmt.exec("SELECT id FROM t ORDER BY id").unwrap();
    assert_eq!(stmt.row_count().unwrap(), 4);
    // Another statement runs while the snapshot is open.
    let other = Statement::new(&dbc);
    other.exec("SELECT COUNT(*) FROM t").unwrap();
    other.fetch().unwrap();
    assert_eq!(other.get_i64(1).unwrap(), Some(10));
    stmt.fetch_scroll(LAST, 0).unwrap();
    assert_eq!(stmt.get_i64(1).unwrap(), Some(4));
    stmt.fetch_scroll(PRIOR, 0).unwrap();
    assert_eq!(stmt.get_i64(1).unwrap(), Some(3));
    assert_eq!(stmt.fetch_scroll(ABSOLUTE, 5).unwrap(), SQL_NO_DATA);
}

#[test]
fn an_odbc2_application_scrolls_with_sql_extended_fetch() {
    let server = TestServer::start();
    let env = Env::odbc2();
    let dbc = connect(&env, &server, "odbc2_scroller", "");
    let stmt = static_statement(&dbc);
    stmt.set_attr(9, 2).unwrap(); // SQL_ROWSET_SIZE, the ODBC 2 rowset
    stmt.exec("SELECT id, b FROM t ORDER BY id").unwrap();
    let mut statuses = [9u16; 2];
    assert_eq!(extended_fetch(&stmt, LAST, 0, &mut statuses).unwrap(), 2);
    assert_eq!(stmt.get_i64(1).unwrap(), Some(9));
    stmt.set_pos(2, POSITION, LOCK_NO_CHANGE).unwrap();
    assert_eq!(stmt.get_bytes(2).unwrap(), Some(blob(10)));
    assert_eq!(extended_fetch(&stmt, ABSOLUTE, 3, &mut statuses).unwrap(), 2);
    assert_eq!((stmt.get_i64(1).unwrap(), statuses), (Some(3), [0, 0]));
    assert_eq!(extended_fetch(&stmt, RELATIVE, -2, &mut statuses).unwrap(), 2);
    assert_eq!(stmt.get_i64(1).unwrap(), Some(1));
}
