//! Attribute 1002 through the unixODBC driver manager, narrow and wide: the IRIS flow,
//! rejected, replayed and late codes, the lockout, and the code set before connecting.

use std::time::Duration;

use odbc_api::Cursor;
use twofactor_e2e::odbc::{connect_with_code_before, sqlstate, utf16z};
use twofactor_e2e::raw::{Charset, Env};
use twofactor_e2e::{ServerOptions, TestServer};

const BOTH: [Charset; 2] = [Charset::Narrow, Charset::Wide];

fn narrow_z(s: &str) -> Vec<u8> {
    s.bytes().chain(std::iter::once(0)).collect()
}

fn wide_z_bytes(s: &str) -> Vec<u8> {
    s.encode_utf16().chain(std::iter::once(0)).flat_map(|u| u.to_ne_bytes()).collect()
}

#[test]
fn the_iris_flow_works_through_the_narrow_and_the_wide_entry_points() {
    let server = TestServer::start();
    let env = Env::new();
    for cs in BOTH {
        let user = server.user(&format!("iris_{cs:?}").to_lowercase());
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, ""))
            .unwrap_or_else(|e| panic!("{cs:?}: first factor: {e}"));
        assert_eq!(dbc.two_factor_pending().unwrap(), 1, "{cs:?}: 1002 must say a second factor is pending");

        let refused = dbc.exec("SELECT 1").expect_err("SQL must be refused before the second factor");
        assert_eq!(refused.state(), "28000", "{cs:?}: {refused}");
        assert_eq!(refused.native(), 1004, "{cs:?}: {refused}");
        assert!(refused.message().contains("two-factor authentication required"), "{cs:?}: {refused}");

        dbc.submit_code(&user.fresh_code()).unwrap_or_else(|e| panic!("{cs:?}: the right code: {e}"));
        assert_eq!(dbc.two_factor_pending().unwrap(), 0, "{cs:?}: 1002 after the code");
        assert_eq!(dbc.query_i64("SELECT 6 * 7").unwrap(), Some(42), "{cs:?}");
        dbc.disconnect().unwrap();
    }
}

#[test]
fn a_wrong_code_is_rejected_with_28000_and_the_connection_is_dead_afterwards() {
    let server = TestServer::start();
    let env = Env::new();
    for cs in BOTH {
        let user = server.user(&format!("wrong_{cs:?}").to_lowercase());
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let rejected = dbc.submit_code(&user.wrong_code()).expect_err("a wrong code must fail");
        assert_eq!(rejected.state(), "28000", "{cs:?}: {rejected}");
        assert_eq!(rejected.native(), 1002, "{cs:?}: {rejected}");
        assert!(rejected.message().contains("two-factor code rejected"), "{cs:?}: {rejected}");

        let dead = dbc.exec("SELECT 1").expect_err("the server dropped the session");
        assert_eq!(dead.state(), "08S01", "{cs:?}: {dead}");
        dbc.disconnect().expect("disconnecting a dead connection succeeds");
        let closed = dbc.two_factor_pending().expect_err("no connection after SQLDisconnect");
        assert_eq!(closed.state(), "08003", "{cs:?}: {closed}");
    }
}

#[test]
fn a_replayed_code_is_refused_by_the_driver_on_a_second_connection() {
    let server = TestServer::start();
    let user = server.user("replay");
    let env = Env::new();
    let mut first = env.dbc(Charset::Wide);
    first.driver_connect(&server.connection_string(&user, "")).unwrap();
    first.submit_code(&user.fresh_code()).unwrap();
    assert_eq!(first.query_i64("SELECT 1").unwrap(), Some(1));

    // The same process: the driver's ledger refuses the code before the server sees it
    // (a replay across processes is the server's refusal, native 1002: tests/isql/03).
    let mut second = env.dbc(Charset::Narrow);
    second.driver_connect(&server.connection_string(&user, "")).unwrap();
    let replay = second.submit_code(&user.last_code()).expect_err("a code is accepted once");
    assert_eq!(replay.state(), "28000", "{replay}");
    assert_eq!(replay.native(), 1020, "{replay}");
    // Nothing was sent: the second factor is still pending and a new code works.
    assert_eq!(second.two_factor_pending().unwrap(), 1);
    second.submit_code(&user.fresh_code()).unwrap();
    assert_eq!(second.query_i64("SELECT 3").unwrap(), Some(3));
    // The first session is unaffected.
    assert_eq!(first.query_i64("SELECT 2").unwrap(), Some(2));
}

#[test]
fn a_code_set_before_connecting_is_sent_right_after_the_password() {
    let server = TestServer::start();
    let env = Env::new();
    for cs in BOTH {
        let user = server.user(&format!("before_{cs:?}").to_lowercase());
        let mut dbc = env.dbc(cs);
        dbc.submit_code(&user.fresh_code()).unwrap_or_else(|e| panic!("{cs:?}: 1002 before connect: {e}"));
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap_or_else(|e| panic!("{cs:?}: connect: {e}"));
        assert_eq!(dbc.two_factor_pending().unwrap(), 0, "{cs:?}");
        assert_eq!(dbc.query_i64("SELECT 7").unwrap(), Some(7), "{cs:?}");
    }
}

#[test]
fn a_wrong_code_set_before_connecting_fails_the_connect_with_28000() {
    let server = TestServer::start();
    let user = server.user("before_wrong");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.submit_code(&user.wrong_code()).unwrap();
    let failed = dbc.driver_connect(&server.connection_string(&user, "")).expect_err("the code is wrong");
    assert_eq!(failed.state(), "28000", "{failed}");
    assert_eq!(failed.native(), 1002, "{failed}");
}

#[test]
fn odbc_api_can_set_1002_before_connecting_as_pyodbc_attrs_before_does() {
    let server = TestServer::start();
    let user = server.user("attrs_before");
    let code = utf16z(&user.fresh_code());
    let conn = connect_with_code_before(&server.connection_string(&user, ""), &code).expect("login");
    let mut cursor = conn.execute("SELECT 'ok'", (), None).unwrap().expect("a result set");
    let mut row = cursor.next_row().unwrap().expect("one row");
    let mut text = Vec::new();
    row.get_text(1, &mut text).unwrap();
    assert_eq!(text, b"ok");
}

#[test]
fn a_narrow_token_handed_to_the_wide_entry_point_is_accepted() {
    // unixODBC passes an ANSI application's token unchanged to SQLSetConnectAttrW.
    let server = TestServer::start();
    let user = server.user("crossed_narrow");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Wide);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    dbc.submit_code_bytes(Charset::Wide, &narrow_z(&user.fresh_code()), -3).expect("narrow token via W");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
}

#[test]
fn a_wide_token_handed_to_the_narrow_entry_point_is_accepted() {
    let server = TestServer::start();
    let user = server.user("crossed_wide");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    dbc.submit_code_bytes(Charset::Narrow, &wide_z_bytes(&user.fresh_code()), -3).expect("wide token via A");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
}

#[test]
fn a_token_with_an_explicit_byte_length_is_accepted() {
    let server = TestServer::start();
    let user = server.user("byte_length");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Wide);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    let code = user.fresh_code();
    let bytes: Vec<u8> = code.encode_utf16().flat_map(|u| u.to_ne_bytes()).collect();
    dbc.submit_code_bytes(Charset::Wide, &bytes, bytes.len() as i32).expect("UTF-16 token with byte length");
    assert_eq!(dbc.query_i64("SELECT 3").unwrap(), Some(3));
}

#[test]
fn getting_1002_on_a_handle_that_is_not_connected_fails_with_08003() {
    let env = Env::new();
    for cs in BOTH {
        let dbc = env.dbc(cs);
        let err = dbc.two_factor_pending().expect_err("not connected");
        assert_eq!(err.state(), "08003", "{cs:?}: {err}");
    }
}

#[test]
fn a_null_token_gets_hy009() {
    let server = TestServer::start();
    let user = server.user("null_token");
    let env = Env::new();
    for cs in BOTH {
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let err = dbc.submit_null_code().expect_err("NULL token");
        assert_eq!(err.state(), "HY009", "{cs:?}: {err}");
        assert_eq!(dbc.two_factor_pending().unwrap(), 1, "{cs:?}: still pending after a NULL token");
    }
}

#[test]
fn submitting_a_code_when_none_is_pending_succeeds_with_info() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("no_2fa");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
    let warnings = dbc.submit_code("123456").expect("SQL_SUCCESS_WITH_INFO");
    assert!(!warnings.is_empty(), "expected SQL_SUCCESS_WITH_INFO with a message saying no code is pending");
    assert_eq!(dbc.query_i64("SELECT 5").unwrap(), Some(5));
}

#[test]
fn a_code_sent_after_the_servers_two_factor_timeout_gets_08s01() {
    let server = TestServer::start_with(ServerOptions { two_factor_timeout_secs: 1, ..ServerOptions::default() });
    let user = server.user("late");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let late = dbc.submit_code(&user.fresh_code()).expect_err("the server closed the session");
    assert_eq!(late.state(), "08S01", "{late}");
    let dead = dbc.exec("SELECT 1").expect_err("dead");
    assert_eq!(dead.state(), "08S01", "{dead}");
}

#[test]
fn five_wrong_codes_lock_the_account_and_the_right_code_then_says_locked() {
    let server = TestServer::start();
    let user = server.user("locked");
    let env = Env::new();
    for attempt in 1..=5 {
        let mut dbc = env.dbc(Charset::Narrow);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let err = dbc.submit_code(&user.wrong_code()).expect_err("wrong code");
        assert_eq!(err.state(), "28000", "attempt {attempt}: {err}");
        if attempt == 5 {
            assert_eq!(err.native(), 1003, "the fifth failure locks: {err}");
        }
    }
    let mut dbc = env.dbc(Charset::Narrow);
    let locked = dbc
        .driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code())))
        .expect_err("locked");
    assert_eq!(locked.state(), "28000", "{locked}");
    assert_eq!(locked.native(), 1003, "{locked}");
    assert!(locked.message().to_lowercase().contains("locked"), "a locked user is told so: {locked}");

    server.admin(&["user", "unlock", "locked"]);
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code())))
        .expect("unlocked by the admin");
}

#[test]
fn a_wrong_password_gets_28000_native_1001() {
    let server = TestServer::start();
    let mut user = server.user("bad_password");
    user.password = "not-the-password".into();
    let err = twofactor_e2e::odbc::connect(&server.connection_string(&user, "")).expect_err("bad password");
    let (state, native, _) = sqlstate(&err);
    assert_eq!((state.as_str(), native), ("28000", 1001), "{err}");
}

#[test]
fn a_user_without_a_totp_key_gets_28000_native_1006() {
    let server = TestServer::start();
    let user = server.unenrolled_user("unenrolled");
    let err = twofactor_e2e::odbc::connect(&server.connection_string(&user, "")).expect_err("not enrolled");
    let (state, native, _) = sqlstate(&err);
    assert_eq!((state.as_str(), native), ("28000", 1006), "{err}");
}

#[test]
fn a_user_without_two_factor_connects_with_1002_equal_to_0() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("password_only");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Wide);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
    assert_eq!(dbc.query_i64("SELECT 11").unwrap(), Some(11));
}
