//! PostgreSQL going away under a PostgreSQL-backed server, seen through unixODBC and the
//! real driver: a running session's next statement gets 08S01, a session opened while
//! PostgreSQL is down gets a connection error (08...), and once PostgreSQL is back a new
//! login runs SQL again without restarting the server. A private cluster (the testkit's
//! `PgServer::private`), since the test stops it.

use std::time::{Duration, Instant};

use twofactor_e2e::odbc::{connect, sqlstate};
use twofactor_e2e::pg::{PgOptions, PgTestServer};
use twofactor_pg_testkit::PgServer;

fn sql_error_state(conn: &odbc_api::Connection<'_>, sql: &str) -> Option<(String, String)> {
    conn.execute(sql, (), None).err().map(|e| {
        let (state, _, message) = sqlstate(&e);
        (state, message)
    })
}

#[test]
fn postgresql_stopped_mid_session_gives_08s01_and_the_server_recovers_when_it_is_back() {
    let Some(cluster) = PgServer::private() else { return };
    let pg = PgTestServer::start_on(&cluster, PgOptions::users(&["outage"]));
    // No second factor: the test logs in many times while it waits for PostgreSQL, more
    // often than TOTP steps go by.
    let user = pg.user_without_two_factor("outage");
    let conn_str = pg.connection_string(&user, "");
    let before = connect(&conn_str).expect("login");
    assert_eq!(sql_error_state(&before, "SELECT 1"), None);

    cluster.stop();
    let (state, message) = sql_error_state(&before, "SELECT 1").expect("PostgreSQL is down");
    eprintln!("the running session: {state}: {message}");
    assert_eq!(state, "08S01", "a running session whose PostgreSQL went away: {message}");

    // A login while PostgreSQL is down: the connect or the first statement fails with a
    // connection error, and the message does not carry the password.
    let (state, message) = match connect(&conn_str) {
        Err(e) => {
            let (state, _, message) = sqlstate(&e);
            (state, message)
        }
        Ok(conn) => sql_error_state(&conn, "SELECT 1").expect("no PostgreSQL, no SQL"),
    };
    eprintln!("a login while PostgreSQL is down: {state}: {message}");
    assert!(state.starts_with("08"), "{state}: {message}");
    assert!(!message.contains(&pg.db.password));

    cluster.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let outcome = match connect(&conn_str) {
            Ok(conn) => sql_error_state(&conn, "SELECT 40 + 2"),
            Err(e) => Some((sqlstate(&e).0, sqlstate(&e).2)),
        };
        match outcome {
            None => break,
            Some(failure) if Instant::now() > deadline => {
                panic!("30 s after PostgreSQL came back a new session still fails: {failure:?}")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    let log = pg.server_log();
    assert!(!log.contains(&pg.db.password), "the PostgreSQL password is in the server's log");
}
