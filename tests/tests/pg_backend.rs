//! The server in front of PostgreSQL, through unixODBC and the real driver: parameters,
//! prepared statements, parameter arrays, transactions, a user's GRANTs, errors that stay
//! the statement's own, cancel and query timeout, and a million rows streamed in bounded
//! server memory. Types are in pg_types.rs, catalog functions in pg_catalog.rs.
//!
//! Needs the PostgreSQL test cluster (`TWOFACTOR_TEST_PG_DIR`); without one each test
//! says so and returns.

use std::time::{Duration, Instant};

use odbc_api::buffers::{BufferDesc, ColumnarDynBuffer};
use odbc_api::{Connection, Cursor, IntoParameter, Nullable};
use twofactor_e2e::odbc::{exec, insert_bulk_rows, login, single_i64, sqlstate};
use twofactor_e2e::pg::{ident, memory_kib, PgOptions, PgTestServer};
use twofactor_e2e::raw::{Charset, Env};
use twofactor_e2e::statement::Statement;

fn single_text(conn: &Connection<'_>, sql: &str) -> Option<String> {
    let mut cursor = conn.execute(sql, (), None).unwrap_or_else(|e| panic!("`{sql}`: {e}")).expect("a result set");
    let mut row = cursor.next_row().unwrap().expect("a row");
    let mut buf = Vec::new();
    row.get_text(1, &mut buf).unwrap().then(|| String::from_utf8(buf).unwrap())
}

#[test]
fn each_session_runs_as_the_users_mapped_role() {
    let Some(pg) = PgTestServer::start(&["alice", "bob"]) else { return };
    let (alice, bob) = (pg.user("alice"), pg.user("bob"));
    let a = login(&pg, &alice);
    let b = login(&pg, &bob);
    assert_eq!(single_text(&a, "SELECT current_user").unwrap(), pg.role_of("alice"));
    assert_eq!(single_text(&b, "SELECT current_user").unwrap(), pg.role_of("bob"));
    assert_eq!(single_text(&a, "SELECT session_user").unwrap(), pg.db.role, "the server's login role");
    assert_eq!(single_text(&a, "SELECT current_database()").unwrap(), pg.db.name);
}

#[test]
fn a_user_can_neither_take_another_users_role_nor_fall_back_to_the_login_role() {
    let Some(pg) = PgTestServer::start(&["alice", "bob"]) else { return };
    let alice = pg.user("alice");
    let a = login(&pg, &alice);
    // The login role is a member of every mapped role, so PostgreSQL itself would let the
    // session switch between them; the server must not.
    for escape in [
        format!("SET ROLE {}", ident(&pg.role_of("bob"))),
        format!("SET ROLE {}", ident(&pg.db.role)),
        "RESET ROLE".to_owned(),
        "SET SESSION AUTHORIZATION DEFAULT".to_owned(),
        "DISCARD ALL".to_owned(),
        "SELECT set_config('role', 'none', false)".to_owned(),
    ] {
        let outcome = match a.execute(&escape, (), None) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => format!("refused: {}", sqlstate(&e).0),
        };
        assert_eq!(
            single_text(&a, "SELECT current_user").unwrap(),
            pg.role_of("alice"),
            "after `{escape}` ({outcome}) alice's session runs as another role"
        );
    }
}

#[test]
fn the_password_may_come_from_the_environment_and_role_map_same_maps_by_name() {
    let options = PgOptions { role_map: Some("same"), password_from_env: true, ..PgOptions::default() };
    let Some(pg) = PgTestServer::start_with(options) else { return };
    let name = pg.create_role("same");
    let user = pg.user(&name);
    let conn = login(&pg, &user);
    assert_eq!(single_text(&conn, "SELECT current_user").unwrap(), name);
    // A user whose namesake role does not exist gets no SQL session.
    let stranger = pg.user("no_such_role_here");
    let (state, message) = refusal_of(&pg, &stranger);
    assert!(message.contains("role"), "{state}: {message}");
    let log = pg.server_log();
    assert!(!log.contains(&pg.db.password), "the PostgreSQL password appears in the server's log");
}

#[test]
fn a_user_without_a_postgresql_role_is_refused_with_a_clear_error() {
    let options = PgOptions { role_map: Some("table"), ..PgOptions::users(&["mapped"]) };
    let Some(pg) = PgTestServer::start_with(options) else { return };
    let unmapped = pg.user("unmapped");
    let (state, message) = refusal_of(&pg, &unmapped);
    assert!(state.starts_with("28") || state.starts_with("08") || state == "42501", "{state}: {message}");
    assert!(message.contains("role"), "the message names the missing role mapping: {message}");
    // The mapped user is not affected.
    let mapped = pg.user("mapped");
    assert_eq!(single_i64(&login(&pg, &mapped), "SELECT 41 + 1"), 42);
}

/// SQLSTATE and message of the refusal a user without a PostgreSQL role gets, at login or
/// at the first statement.
fn refusal_of(pg: &PgTestServer<'_>, user: &twofactor_e2e::User) -> (String, String) {
    let conn_str = pg.connection_string(user, &format!("TwoFactorCode={}", user.fresh_code()));
    let refused = match twofactor_e2e::odbc::connect(&conn_str) {
        Err(e) => e,
        Ok(conn) => conn.execute("SELECT 1", (), None).map(|_| ()).expect_err("no role: no SQL"),
    };
    let (state, _, message) = sqlstate(&refused);
    (state, message)
}

#[test]
fn a_table_without_a_grant_gives_42501_and_the_session_lives_on() {
    let Some(pg) = PgTestServer::start(&["clerk"]) else { return };
    pg.superuser_exec(
        "CREATE TABLE payroll (name text, salary int); INSERT INTO payroll VALUES ('x', 1); \
         CREATE TABLE notices (body text); INSERT INTO notices VALUES ('hello');",
    );
    pg.superuser_exec(&format!("GRANT SELECT ON notices TO {}", ident(&pg.role_of("clerk"))));
    let user = pg.user("clerk");
    let conn = login(&pg, &user);
    let err = conn.execute("SELECT salary FROM payroll", (), None).map(|_| ()).expect_err("no GRANT on payroll");
    let (state, _, message) = sqlstate(&err);
    assert_eq!(state, "42501", "{message}");
    assert!(message.contains("permission denied"), "PostgreSQL's own message: {message}");
    assert_eq!(single_text(&conn, "SELECT body FROM notices").as_deref(), Some("hello"), "granted table");
    let err = conn.execute("INSERT INTO notices VALUES ('no')", (), None).map(|_| ()).expect_err("SELECT only");
    assert_eq!(sqlstate(&err).0, "42501");
    assert_eq!(single_i64(&conn, "SELECT count(*) FROM notices"), 1);
}

#[test]
fn a_postgresql_error_is_that_statements_error_only() {
    let Some(pg) = PgTestServer::start(&["errors"]) else { return };
    let user = pg.user("errors");
    let conn = login(&pg, &user);
    exec(&conn, "CREATE TABLE t (id int PRIMARY KEY)");
    exec(&conn, "INSERT INTO t VALUES (1)");
    for (sql, wanted) in [
        ("SELECT 1/0", "22012"),
        ("INSERT INTO t VALUES (1)", "23505"),
        ("SELEC 1", "42601"),
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELECT 'x'::int", "22P02"),
    ] {
        let err = conn.execute(sql, (), None).map(|_| ()).expect_err(sql);
        let (state, _, message) = sqlstate(&err);
        assert_eq!(state, wanted, "`{sql}`: PostgreSQL's own SQLSTATE; {message}");
        assert_eq!(single_i64(&conn, "SELECT count(*) FROM t"), 1, "after `{sql}` the session works");
    }
    // Inside a transaction PostgreSQL aborts the transaction on an error; a rollback ends
    // it and the session goes on.
    conn.set_autocommit(false).unwrap();
    exec(&conn, "INSERT INTO t VALUES (4)");
    let _ = conn.execute("SELECT 1/0", (), None).map(|_| ()).expect_err("division by zero");
    conn.rollback().expect("rollback after an error");
    conn.set_autocommit(true).unwrap();
    assert_eq!(single_i64(&conn, "SELECT count(*) FROM t"), 1, "the rolled-back row is gone");
    assert_eq!(single_i64(&conn, "SELECT 6 * 7"), 42);
}

#[test]
fn an_error_inside_a_transaction_undoes_that_statement_only() {
    // The statement after it runs and the transaction's earlier work stays: psqlODBC's
    // default (Protocol=7.4-2, a savepoint per statement) and what the SQLite backend
    // does. PostgreSQL's own rule would abort the whole transaction (25P02 for every
    // later statement until the rollback), which pyodbc users (autocommit off by
    // default) would meet after any error.
    let Some(pg) = PgTestServer::start(&["stmt_level"]) else { return };
    let user = pg.user("stmt_level");
    let conn = login(&pg, &user);
    exec(&conn, "CREATE TABLE t (id int PRIMARY KEY)");
    exec(&conn, "INSERT INTO t VALUES (1)");
    conn.set_autocommit(false).unwrap();
    exec(&conn, "INSERT INTO t VALUES (2)");
    let err = conn.execute("INSERT INTO t VALUES (1)", (), None).map(|_| ()).expect_err("duplicate");
    assert_eq!(sqlstate(&err).0, "23505");
    if let Err(e) = conn.execute("INSERT INTO t VALUES (3)", (), None) {
        let (state, _, message) = sqlstate(&e);
        panic!("the statement after an error in a transaction: {state} {message}");
    }
    conn.commit().unwrap();
    conn.set_autocommit(true).unwrap();
    assert_eq!(single_i64(&conn, "SELECT sum(id) FROM t"), 6, "rows 1, 2 and 3: only the failed insert is undone");
}

#[test]
fn prepared_statements_run_again_with_new_parameters() {
    let Some(pg) = PgTestServer::start(&["prep"]) else { return };
    let user = pg.user("prep");
    let conn = login(&pg, &user);
    exec(&conn, "CREATE TABLE items (id int8 PRIMARY KEY, name text, price numeric(8,2), note varchar(20))");
    let mut insert = conn.prepare("INSERT INTO items (id, name, price, note) VALUES (?, ?, ?, ?)").unwrap();
    for id in 1..=50i64 {
        let name = format!("item-{id}");
        let price = format!("{}.{:02}", id * 3, id % 100);
        let note: Nullable<i32> = Nullable::null();
        insert
            .execute((&id, &name.as_str().into_parameter(), &price.as_str().into_parameter(), &note))
            .unwrap_or_else(|e| panic!("execution {id}: {e}"));
    }
    drop(insert);
    // A `?` inside a literal or a quoted name is no parameter marker.
    let mut select =
        conn.prepare(r#"SELECT name || '?', price FROM items AS "q?" WHERE id = ? AND 'a?b' <> ''"#).unwrap();
    for id in [7i64, 42, 1] {
        let mut cursor = select.execute(&id).unwrap().expect("a result set");
        let mut row = cursor.next_row().unwrap().expect("the row");
        let mut name = Vec::new();
        row.get_text(1, &mut name).unwrap();
        assert_eq!(String::from_utf8(name).unwrap(), format!("item-{id}?"));
        let mut price = Vec::new();
        row.get_text(2, &mut price).unwrap();
        assert_eq!(String::from_utf8(price).unwrap(), format!("{}.{:02}", id * 3, id % 100));
        assert!(cursor.next_row().unwrap().is_none());
    }
    assert_eq!(single_i64(&conn, "SELECT count(*) FROM items WHERE note IS NULL"), 50);
}

#[test]
fn parameter_arrays_insert_fifty_thousand_rows() {
    let Some(pg) = PgTestServer::start(&["arrays"]) else { return };
    let user = pg.user("arrays");
    let conn = login(&pg, &user);
    exec(&conn, "CREATE TABLE bulk (id int8 NOT NULL, name varchar(40), score float8)");
    const TOTAL: usize = 50_000;
    const BATCH: usize = 10_000;
    let started = Instant::now();
    insert_bulk_rows(&conn, TOTAL, BATCH);
    eprintln!("inserted {TOTAL} rows with parameter arrays in {:?}", started.elapsed());
    assert_eq!(single_i64(&conn, "SELECT count(*) FROM bulk"), TOTAL as i64);
    assert_eq!(single_i64(&conn, "SELECT sum(id) FROM bulk"), (TOTAL * (TOTAL + 1) / 2) as i64);
    assert_eq!(single_i64(&conn, "SELECT count(*) FROM bulk WHERE score IS NULL"), (TOTAL / 10) as i64);
    assert_eq!(single_i64(&conn, "SELECT count(*) FROM bulk WHERE name = 'näme-33333' AND score = 33333 / 4.0"), 1);
}

#[test]
fn transactions_commit_roll_back_and_stay_invisible_to_other_sessions_until_committed() {
    let Some(pg) = PgTestServer::start(&["tx"]) else { return };
    let user = pg.user("tx");
    let writer = login(&pg, &user);
    let reader = login(&pg, &user);
    exec(&writer, "CREATE TABLE ledger (v int)");
    writer.set_autocommit(false).unwrap();
    exec(&writer, "INSERT INTO ledger VALUES (1)");
    assert_eq!(single_i64(&writer, "SELECT count(*) FROM ledger"), 1, "the writer sees its own row");
    assert_eq!(single_i64(&reader, "SELECT count(*) FROM ledger"), 0, "uncommitted: another session sees none");
    writer.rollback().unwrap();
    assert_eq!(single_i64(&writer, "SELECT count(*) FROM ledger"), 0, "rolled back");
    exec(&writer, "INSERT INTO ledger VALUES (2)");
    exec(&writer, "INSERT INTO ledger VALUES (3)");
    writer.commit().unwrap();
    assert_eq!(single_i64(&reader, "SELECT sum(v) FROM ledger"), 5, "committed: visible to the other session");
    // DDL is transactional in PostgreSQL too.
    exec(&writer, "CREATE TABLE scratch (x int)");
    writer.rollback().unwrap();
    let err = reader.execute("SELECT * FROM scratch", (), None).map(|_| ()).expect_err("rolled-back DDL");
    assert_eq!(sqlstate(&err).0, "42P01");
    // Autocommit back on commits each statement at once.
    writer.set_autocommit(true).unwrap();
    exec(&writer, "INSERT INTO ledger VALUES (10)");
    assert_eq!(single_i64(&reader, "SELECT sum(v) FROM ledger"), 15);
}

/// A statement handle that another thread may cancel: ODBC allows SQLCancel from any
/// thread while the statement runs.
struct CancelHandle(usize);
unsafe impl Send for CancelHandle {}

#[test]
fn sqlcancel_from_another_thread_ends_a_running_pg_sleep_and_the_session_goes_on() {
    let Some(pg) = PgTestServer::start(&["cancel"]) else { return };
    let user = pg.user("cancel");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&pg.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()))).unwrap();
    let stmt = Statement::new(&dbc);
    let handle = CancelHandle(stmt.h as usize);
    let canceller = std::thread::spawn(move || {
        let handle = handle;
        std::thread::sleep(Duration::from_millis(1500));
        unsafe { odbc_sys::SQLCancel(odbc_sys::HStmt(handle.0 as _)) }
    });
    let started = Instant::now();
    let err = stmt.exec("SELECT pg_sleep(60)").expect_err("cancelled");
    let took = started.elapsed();
    let rc = canceller.join().unwrap();
    assert_eq!(rc, odbc_sys::SqlReturn::SUCCESS, "SQLCancel");
    assert_eq!(err.state(), "HY008", "the cancelled statement: {:?}", err.records);
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(dbc.query_i64("SELECT 6 * 7").unwrap(), Some(42), "the session after the cancel");
    // PostgreSQL itself is no longer running it.
    let waiting = dbc
        .query_i64(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' \
         AND query LIKE 'SELECT pg_sleep(60)%'",
        )
        .unwrap();
    assert_eq!(waiting, Some(0));
}

#[test]
fn a_query_timeout_cancels_pg_sleep_with_hyt00_and_the_connection_stays_usable() {
    let Some(pg) = PgTestServer::start(&["timeout"]) else { return };
    let user = pg.user("timeout");
    let conn = login(&pg, &user);
    let started = Instant::now();
    let err = conn.execute("SELECT pg_sleep(60)", (), Some(1)).map(|_| ()).expect_err("past its timeout");
    let took = started.elapsed();
    let (state, _, message) = sqlstate(&err);
    assert_eq!(state, "HYT00", "{message}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(10), "took {took:?}");
    assert!(!conn.is_dead().unwrap(), "a cancel keeps the connection");
    assert_eq!(single_i64(&conn, "SELECT 40 + 2"), 42);
    // Inside a transaction: the cancelled statement aborts it; a rollback recovers.
    conn.set_autocommit(false).unwrap();
    let err = conn.execute("SELECT pg_sleep(60)", (), Some(1)).map(|_| ()).expect_err("past its timeout");
    assert_eq!(sqlstate(&err).0, "HYT00");
    conn.rollback().unwrap();
    assert_eq!(single_i64(&conn, "SELECT 1"), 1);
}

/// Rows of ~110 bytes: the whole result is ~110 MB on the wire, so a server that held it
/// (or any sizable part) would show it in its peak RSS.
const WIDE_ROWS: &str = "CREATE TABLE big AS SELECT x::int8 AS id, lpad(x::text, 100, '.') AS name \
                         FROM generate_series(1, 1000000) AS x";

#[test]
fn a_million_rows_stream_through_a_block_cursor_in_flat_server_memory() {
    let Some(pg) = PgTestServer::start(&["stream"]) else { return };
    let user = pg.user("stream");
    let conn = login(&pg, &user);
    exec(&conn, WIDE_ROWS);
    let fetch_all = |sql: &str| {
        let cursor = conn.execute(sql, (), None).unwrap().expect("a result set");
        let buffer = ColumnarDynBuffer::from_descs(
            10_000,
            [BufferDesc::I64 { nullable: false }, BufferDesc::Text { max_str_len: 100 }],
        );
        let mut block = cursor.bind_buffer(buffer).unwrap();
        let (mut rows, mut sum) = (0u64, 0i64);
        while let Some(batch) = block.fetch().unwrap() {
            let ids = batch.column(0).as_slice::<i64>().unwrap();
            let names = batch.column(1).as_text().unwrap();
            for (k, id) in ids.iter().enumerate().take(batch.num_rows()) {
                rows += 1;
                sum += id;
                assert_eq!(*id as u64, rows, "rows in order, none lost or repeated");
                if rows % 99_991 == 1 {
                    assert_eq!(names.get(k).unwrap(), format!("{id:.>100}").as_bytes());
                }
            }
        }
        (rows, sum)
    };
    // The same shape of query once, so every buffer on the path has reached its working
    // size before the peak is read.
    assert_eq!(fetch_all("SELECT id, name FROM big ORDER BY id LIMIT 50000").0, 50_000);
    let (peak_before, rss_before) = memory_kib(pg.pid());
    let started = Instant::now();
    let (rows, sum) = fetch_all("SELECT id, name FROM big ORDER BY id");
    let took = started.elapsed();
    let (peak_after, rss_after) = memory_kib(pg.pid());
    eprintln!(
        "1,000,000 rows of ~110 bytes in {took:?}; server VmHWM {peak_before} -> {peak_after} KiB, \
         VmRSS {rss_before} -> {rss_after} KiB"
    );
    assert_eq!((rows, sum), (1_000_000, 500_000_500_000));
    // 16 MiB is less than a sixth of the ~110 MB the result weighs: a server holding the
    // whole result, or the rows of one PostgreSQL round trip without a row limit, goes far
    // past it, while batches of `fetch_rows` (1,024 rows, ~110 KiB) stay well inside.
    let grew = peak_after.saturating_sub(peak_before);
    assert!(grew < 16 * 1024, "the server's peak RSS grew by {grew} KiB while streaming a million rows");
}
