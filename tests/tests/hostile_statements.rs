//! Statements meant to bring the server down, sent through unixODBC and the driver
//! (`SQLExecDirect`), as an application would: each gets an answer, and the server goes on
//! serving this session and the others.

use odbc_api::Cursor;
use twofactor_e2e::odbc::{exec, login, sqlstate};
use twofactor_e2e::TestServer;

fn one(conn: &odbc_api::Connection<'_>, sql: &str) -> i64 {
    let mut cursor = conn.execute(sql, (), None).unwrap().expect("a result set");
    let mut row = cursor.next_row().unwrap().expect("one row");
    let mut n = 0i64;
    row.get_data(1, &mut n).unwrap();
    n
}

#[test]
fn two_thousand_statements_in_one_exec_direct_run_and_the_server_stays_up() {
    // Regression: this 18 KB text overflowed the SQL thread's stack and aborted the server.
    let server = TestServer::start();
    let (a, b) = (server.user("script_a"), server.user("script_b"));
    let conn = login(&server, &a);
    let other = login(&server, &b);
    exec(&conn, &"SELECT 1;".repeat(2000));
    exec(&conn, "CREATE TABLE s (x INTEGER); INSERT INTO s VALUES (1); INSERT INTO s SELECT x + 1 FROM s;");
    assert_eq!(one(&conn, "SELECT sum(x) FROM s"), 3);
    assert_eq!(one(&other, "SELECT 40 + 2"), 42);
}

#[test]
fn statements_over_sqlite_s_limits_fail_with_a_diagnostic_and_the_session_goes_on() {
    let server = TestServer::start();
    let user = server.user("limits");
    let conn = login(&server, &user);
    let refused = [
        ("SELECT randomblob(2000000000)".to_owned(), "22001"),
        ("SELECT zeroblob(2000000000)".to_owned(), "22001"),
        (format!("SELECT 1{}", "+1".repeat(100_000)), "HY000"),
    ];
    for (sql, state) in &refused {
        let e = conn.execute(sql, (), None).err().unwrap_or_else(|| panic!("{sql:.40} was refused"));
        let (got, _, message) = sqlstate(&e);
        assert_eq!(got, *state, "{sql:.40}: {message}");
        assert_eq!(one(&conn, "SELECT 6 * 7"), 42, "after {sql:.40}");
    }
    // Answered within the limits: parentheses add no depth, printf stops at the length limit.
    let deep = format!("SELECT {}1{}", "(".repeat(50_000), ")".repeat(50_000));
    assert_eq!(one(&conn, &deep), 1);
    assert_eq!(one(&conn, "SELECT coalesce(length(printf('%.*c', 2000000000, 'x')), 0)"), 0);
    assert_eq!(one(&conn, "SELECT 6 * 7"), 42);
}
