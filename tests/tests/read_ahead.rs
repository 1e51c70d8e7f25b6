//! The driver's read-ahead: after a batch that is not the last, the next Fetch is already
//! on the wire. Whatever the application does next (another statement on the same
//! connection, closing the cursor, ending the transaction) must take that answer first,
//! so no row is lost or repeated and the session stays in step with the server.

use odbc_api::{Connection, Cursor};
use twofactor_e2e::odbc::{connect, exec};
use twofactor_e2e::TestServer;

const ROWS: i64 = 100;

/// A connection with 7-row batches and a table of ids 1..=ROWS.
fn setup(server: &TestServer, name: &str) -> Connection<'static> {
    let user = server.user(name);
    let conn_str = server.connection_string(&user, &format!("TwoFactorCode={};FetchRows=7", user.fresh_code()));
    let conn = connect(&conn_str).unwrap_or_else(|e| panic!("login failed: {e}"));
    exec(&conn, "CREATE TABLE t (id BIGINT NOT NULL)");
    exec(
        &conn,
        &format!("INSERT INTO t (id) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS}) SELECT x FROM c"),
    );
    conn
}

fn next_id(cursor: &mut impl Cursor) -> Option<i64> {
    let mut row = cursor.next_row().unwrap()?;
    let mut id = 0i64;
    row.get_data(1, &mut id).unwrap();
    Some(id)
}

fn single_i64(conn: &Connection<'_>, sql: &str) -> i64 {
    let mut cursor = conn.execute(sql, (), None).unwrap().expect("a result set");
    next_id(&mut cursor).expect("a row")
}

#[test]
fn another_statement_mid_cursor_keeps_every_row_of_the_first() {
    let server = TestServer::start();
    let conn = setup(&server, "ahead_drain");
    let mut a = conn.execute("SELECT id FROM t ORDER BY id", (), None).unwrap().expect("a result set");
    // 20 rows: into the third batch, so a Fetch is ahead.
    for expected in 1..=20 {
        assert_eq!(next_id(&mut a), Some(expected));
    }
    // Drains the rest of `a` (the answer ahead first) into its spill.
    assert_eq!(single_i64(&conn, "SELECT COUNT(*) FROM t"), ROWS);
    assert_eq!(single_i64(&conn, "SELECT MAX(id) FROM t"), ROWS);
    for expected in 21..=ROWS {
        assert_eq!(next_id(&mut a), Some(expected), "rows in order, none lost or repeated");
    }
    assert_eq!(next_id(&mut a), None);
}

#[test]
fn closing_a_cursor_with_a_fetch_ahead_leaves_the_session_in_step() {
    let server = TestServer::start();
    let conn = setup(&server, "ahead_close");
    for n in [8, 15, 20, 99] {
        let mut a = conn.execute("SELECT id FROM t ORDER BY id", (), None).unwrap().expect("a result set");
        for expected in 1..=n {
            assert_eq!(next_id(&mut a), Some(expected));
        }
        drop(a);
        // The answer to the Fetch ahead was taken by the close, not by this query.
        assert_eq!(single_i64(&conn, "SELECT COUNT(*) FROM t WHERE id > 50"), ROWS - 50);
    }
    // And a whole result still reads in full afterwards.
    let mut a = conn.execute("SELECT id FROM t ORDER BY id", (), None).unwrap().expect("a result set");
    for expected in 1..=ROWS {
        assert_eq!(next_id(&mut a), Some(expected));
    }
    assert_eq!(next_id(&mut a), None);
}

#[test]
fn ending_the_transaction_with_a_fetch_ahead_leaves_the_session_in_step() {
    let server = TestServer::start();
    let conn = setup(&server, "ahead_commit");
    conn.set_autocommit(false).unwrap();
    let mut a = conn.execute("SELECT id FROM t ORDER BY id", (), None).unwrap().expect("a result set");
    for expected in 1..=20 {
        assert_eq!(next_id(&mut a), Some(expected));
    }
    // The commit closes the cursor (SQL_CB_CLOSE: the driver manager refuses further
    // fetches with HY010); the answer to the Fetch ahead is read and dropped.
    conn.commit().unwrap();
    drop(a);
    assert_eq!(single_i64(&conn, "SELECT COUNT(*) FROM t"), ROWS);
    exec(&conn, "INSERT INTO t (id) VALUES (1000)");
    conn.rollback().unwrap();
    assert_eq!(single_i64(&conn, "SELECT MAX(id) FROM t"), ROWS);
}
