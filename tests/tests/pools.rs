//! Pools and repeated connections (docs/pooling.md): the driver never sends a code
//! twice, `SQL_ATTR_CONNECTION_DEAD` asks the socket and never lets a pool reuse a
//! connection whose second factor is pending, and `DMConnAttr=[1002]=...` works in a
//! connection string that names a DSN (unixODBC leaves it to the driver there).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use odbc_sys::{ConnectionAttribute, Pointer, SqlReturn};
use twofactor_e2e::raw::{Charset, Dbc, Env};
use twofactor_e2e::{driver_library, isolate_odbc_config, quote_value, ServerOptions, TestServer, User};

const SQL_ATTR_AUTOCOMMIT: i32 = 102;
const SQL_ATTR_CONNECTION_DEAD: i32 = 1209;
/// The driver's "already submitted by this process" (docs/sqlstates.md).
const NATIVE_CODE_ALREADY_USED: i32 = 1020;

fn get_u32_attr(dbc: &Dbc<'_>, attr: i32) -> u32 {
    let mut value: u32 = 0xdead_beef;
    let mut len = 0i32;
    let ptr = &mut value as *mut u32 as Pointer;
    // Safety: a live connection handle and a 4-byte buffer.
    let rc = unsafe { odbc_sys::SQLGetConnectAttr(dbc.handle(), ConnectionAttribute(attr), ptr, 4, &mut len) };
    assert_eq!(rc, SqlReturn::SUCCESS, "SQLGetConnectAttr({attr})");
    value
}

/// A DSN that names only the driver: the tests give the server in the connection
/// string, so one DSN serves every server of this process. Written once, before the
/// first connect reads odbc.ini.
fn dsn() -> &'static str {
    static DSN: OnceLock<&'static str> = OnceLock::new();
    DSN.get_or_init(|| {
        let ini = isolate_odbc_config().join("odbc.ini");
        std::fs::write(&ini, format!("[pools_dsn]\nDriver = {}\n", driver_library().display())).unwrap();
        "pools_dsn"
    })
}

fn dsn_connection_string(server: &TestServer, user: &User, extra: &str) -> String {
    format!(
        "DSN={};Server=127.0.0.1;Port={};CAFile={};UID={};PWD={};{extra}",
        dsn(),
        server.port,
        quote_value(&server.ca_file().display().to_string()),
        quote_value(&user.name),
        quote_value(&user.password),
    )
}

#[test]
fn dm_conn_attr_in_a_connection_string_that_names_a_dsn_submits_the_code() {
    let server = TestServer::start();
    let user = server.user("dmconnattr_dsn");
    let env = Env::new();
    for cs in [Charset::Narrow, Charset::Wide] {
        let mut dbc = env.dbc(cs);
        let conn_str = dsn_connection_string(&server, &user, &format!("DMConnAttr=[1002]={}", user.fresh_code()));
        dbc.driver_connect(&conn_str).unwrap_or_else(|e| panic!("{cs:?}: {e}"));
        assert_eq!(dbc.two_factor_pending().unwrap(), 0, "{cs:?}: the code was applied");
        assert_eq!(dbc.query_i64("SELECT 11").unwrap(), Some(11), "{cs:?}");
        dbc.disconnect().unwrap();
    }
}

#[test]
fn dm_conn_attr_applies_a_quoted_code_and_the_other_attributes_it_lists() {
    let server = TestServer::start();
    let user = server.user("dmconnattr_list");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    let attrs = format!("DMConnAttr={{[1002]=\"{}\";SQL_ATTR_AUTOCOMMIT=SQL_AUTOCOMMIT_OFF}}", user.fresh_code());
    dbc.driver_connect(&dsn_connection_string(&server, &user, &attrs)).unwrap();
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
    assert_eq!(get_u32_attr(&dbc, SQL_ATTR_AUTOCOMMIT), 0, "autocommit off, from DMConnAttr");
    assert_eq!(dbc.query_i64("SELECT 12").unwrap(), Some(12));
}

#[test]
fn a_code_already_submitted_is_refused_locally_and_counts_no_failure() {
    let server = TestServer::start_with(ServerOptions { max_failed_attempts: 2, ..ServerOptions::default() });
    let user = server.user("ledger_ok");
    let env = Env::new();
    let conn_str = server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()));
    let mut first = env.dbc(Charset::Narrow);
    first.driver_connect(&conn_str).expect("the first use of the code");
    first.disconnect().unwrap();
    // What a pool does when it opens more connections, or reopens one, with the
    // connection string it was given: the same code again.
    for attempt in 1..=3 {
        let mut again = env.dbc(Charset::Wide);
        let refused = again.driver_connect(&conn_str).expect_err("the code was already used");
        assert_eq!((refused.state(), refused.native()), ("28000", NATIVE_CODE_ALREADY_USED), "{attempt}: {refused}");
        assert!(refused.message().contains("a new code is needed"), "{refused}");
    }
    // Three refusals, two allowed failures: the server counted none of them.
    let mut fresh = env.dbc(Charset::Narrow);
    fresh
        .driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code())))
        .expect("not locked: the replays never reached the server");
}

#[test]
fn a_rejected_code_is_not_sent_again_so_it_fails_only_once_on_the_server() {
    let server = TestServer::start_with(ServerOptions { max_failed_attempts: 2, ..ServerOptions::default() });
    let user = server.user("ledger_wrong");
    let env = Env::new();
    let conn_str = server.connection_string(&user, &format!("TwoFactorCode={}", user.wrong_code()));
    let mut first = env.dbc(Charset::Narrow);
    let rejected = first.driver_connect(&conn_str).expect_err("wrong code");
    assert_eq!((rejected.state(), rejected.native()), ("28000", 1002), "{rejected}");
    let mut second = env.dbc(Charset::Narrow);
    let refused = second.driver_connect(&conn_str).expect_err("the same wrong code");
    assert_eq!(refused.native(), NATIVE_CODE_ALREADY_USED, "{refused}");
    let mut fresh = env.dbc(Charset::Narrow);
    fresh
        .driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code())))
        .expect("one failure of two allowed: not locked");
}

#[test]
fn connection_dead_is_true_while_the_second_factor_is_pending_and_after_the_server_closed() {
    let server = TestServer::start();
    let user = server.user("dead_probe");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    assert_eq!(dbc.two_factor_pending().unwrap(), 1);
    assert_eq!(get_u32_attr(&dbc, SQL_ATTR_CONNECTION_DEAD), 1, "a pending connection must never be reused by a pool");
    dbc.submit_code(&user.fresh_code()).unwrap();
    assert_eq!(get_u32_attr(&dbc, SQL_ATTR_CONNECTION_DEAD), 0, "verified and idle");
    assert_eq!(dbc.query_i64("SELECT 5").unwrap(), Some(5), "the probe left the session usable");
    assert_eq!(get_u32_attr(&dbc, SQL_ATTR_CONNECTION_DEAD), 0);

    drop(server); // kills the server process: the socket sees EOF
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_u32_attr(&dbc, SQL_ATTR_CONNECTION_DEAD) == 0 {
        assert!(Instant::now() < deadline, "SQL_ATTR_CONNECTION_DEAD never noticed the closed socket");
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = dbc.exec("SELECT 1").expect_err("the session is gone");
    assert_eq!(err.state(), "08S01", "{err}");
}

fn set_int_attr(dbc: &Dbc<'_>, attr: i32, value: usize) -> SqlReturn {
    // Safety: a live connection handle; integer attributes travel in the pointer.
    unsafe { odbc_sys::SQLSetConnectAttr(dbc.handle(), ConnectionAttribute(attr), value as Pointer, 0) }
}

const SQL_ATTR_RESET_CONNECTION: i32 = 116;

#[test]
fn resetting_a_verified_connection_rolls_back_and_keeps_it_verified() {
    let server = TestServer::start();
    let user = server.user("reset_verified");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()))).unwrap();
    dbc.exec("CREATE TABLE reset_t (v INTEGER)").unwrap();
    assert_eq!(set_int_attr(&dbc, SQL_ATTR_AUTOCOMMIT, 0), SqlReturn::SUCCESS);
    dbc.exec("INSERT INTO reset_t VALUES (1)").unwrap();

    assert_eq!(set_int_attr(&dbc, SQL_ATTR_RESET_CONNECTION, 1), SqlReturn::SUCCESS, "what a pool does on release");
    assert_eq!(get_u32_attr(&dbc, SQL_ATTR_AUTOCOMMIT), 1, "attributes back to their defaults");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0, "still verified");
    assert_eq!(dbc.query_i64("SELECT count(*) FROM reset_t").unwrap(), Some(0), "the open transaction was rolled back");
    assert_eq!(get_u32_attr(&dbc, SQL_ATTR_CONNECTION_DEAD), 0);
}

#[test]
fn a_connection_whose_second_factor_is_pending_cannot_be_reset_for_reuse() {
    let server = TestServer::start();
    let user = server.user("reset_pending");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    assert_eq!(set_int_attr(&dbc, SQL_ATTR_RESET_CONNECTION, 1), SqlReturn::ERROR);
    let diags = twofactor_e2e::raw::diagnostics(odbc_sys::HandleType::Dbc, dbc.handle().as_handle(), Charset::Narrow);
    assert_eq!(diags.first().map(|d| d.state.as_str()), Some("28000"), "{diags:?}");
    // The code still works on it: nothing was lost, the pool just must not reuse it.
    dbc.submit_code(&user.fresh_code()).unwrap();
    assert_eq!(dbc.query_i64("SELECT 9").unwrap(), Some(9));
}
