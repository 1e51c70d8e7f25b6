//! The ways a client that cannot call SQLSetConnectAttr(1002) passes the code, and their
//! documented order of precedence (docs/dsn-keys.md).

use std::time::{Duration, Instant};

use odbc_api::Cursor;

use twofactor_e2e::odbc::{connect, connect_with_code_before, sqlstate, utf16z};
use twofactor_e2e::raw::{Charset, Env};
use twofactor_e2e::TestServer;

fn assert_logged_in(conn: &odbc_api::Connection<'_>) {
    let mut cursor = conn.execute("SELECT 40 + 2", (), None).unwrap().expect("a result set");
    let mut row = cursor.next_row().unwrap().expect("a row");
    let mut value = 0i64;
    row.get_data(1, &mut value).unwrap();
    assert_eq!(value, 42);
}

#[test]
fn two_factor_code_in_the_connection_string_logs_in_in_one_step() {
    let server = TestServer::start();
    let user = server.user("in_string");
    let conn = connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code())))
        .expect("one-step login (wide)");
    assert_logged_in(&conn);

    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, &format!("twofactorcode={};", user.fresh_code())))
        .expect("one-step login (narrow), key names are case-insensitive");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
}

#[test]
fn a_rejected_code_in_the_connection_string_fails_the_connect_with_28000() {
    let server = TestServer::start();
    let user = server.user("in_string_wrong");
    let err = connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.wrong_code())))
        .expect_err("wrong code");
    let (state, native, message) = sqlstate(&err);
    assert_eq!((state.as_str(), native), ("28000", 1002), "{err}");
    assert!(message.contains("two-factor code rejected"), "{message}");
}

#[test]
fn the_code_after_the_last_password_separator_is_used() {
    let server = TestServer::start();
    let user = server.user_with_password("separated", "pass:with:colons");
    let password_and_code = format!("{}:{}", user.password, user.fresh_code());
    let conn_str = server.connection_string_for(&user.name, &password_and_code, "PasswordCodeSeparator=:");
    let conn = connect(&conn_str).expect("password:code");
    assert_logged_in(&conn);
}

#[test]
fn the_code_printed_by_a_helper_command_is_used() {
    let server = TestServer::start();
    let user = server.user("helper");
    let command = format!("TwoFactorCodeCommand={{/bin/echo {}}}", user.fresh_code());
    let conn = connect(&server.connection_string(&user, &command)).expect("helper command");
    assert_logged_in(&conn);
}

#[test]
fn a_helper_command_that_fails_is_an_error_naming_the_key() {
    let server = TestServer::start();
    let user = server.user("helper_fails");
    let err = connect(&server.connection_string(&user, "TwoFactorCodeCommand=/bin/false")).expect_err("exit 1");
    let (_, _, message) = sqlstate(&err);
    assert!(message.contains("TwoFactorCodeCommand"), "{err}");
}

#[test]
fn a_helper_command_that_hangs_is_stopped_by_its_timeout() {
    let server = TestServer::start();
    let user = server.user("helper_hangs");
    let started = Instant::now();
    let err =
        connect(&server.connection_string(&user, "TwoFactorCodeCommand={sleep 60};TwoFactorCodeCommandTimeout=1"))
            .expect_err("timed out");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    let (_, _, message) = sqlstate(&err);
    assert!(message.contains("TwoFactorCodeCommand"), "{err}");
}

#[test]
fn the_helper_command_runs_without_a_shell() {
    let server = TestServer::start();
    let user = server.user("no_shell");
    let marker = server.scratch().join("shell-ran");
    // With a shell, `;` would run touch; without one, echo prints the whole line and the
    // code is wrong (or the connect fails): the marker file must not exist either way.
    let command = format!("TwoFactorCodeCommand={{/bin/echo 123456; touch {}}}", marker.display());
    let _ = connect(&server.connection_string(&user, &command));
    assert!(!marker.exists(), "the helper command was run through a shell");
}

#[test]
fn dmconnattr_in_the_connection_string_sets_1002_before_the_driver_connects() {
    let server = TestServer::start();
    let user = server.user("dmconnattr");
    let attr = format!("DMConnAttr=[1002]={}", user.fresh_code());
    let conn = connect(&server.connection_string(&user, &attr)).expect("unixODBC applies DMConnAttr before connect");
    assert_logged_in(&conn);
}

#[test]
fn dmconnattr_sets_1002_for_an_odbc2_application_too() {
    // isql and iusql are ODBC 2 applications: unixODBC applies DMConnAttr to their
    // connections with SQLSetConnectOption, not SQLSetConnectAttr.
    let server = TestServer::start();
    let user = server.user("dmconnattr_odbc2");
    let env = Env::odbc2();
    for cs in [Charset::Narrow, Charset::Wide] {
        let mut dbc = env.dbc(cs);
        let attr = format!("DMConnAttr=[1002]={}", user.fresh_code());
        dbc.driver_connect(&server.connection_string(&user, &attr)).unwrap();
        assert_eq!(dbc.two_factor_pending().unwrap(), 0, "{cs:?}: the DM's SQLSetConnectOption(1002) was not applied");
    }
}

#[test]
fn attribute_1002_set_before_connecting_wins_over_the_connection_string() {
    let server = TestServer::start();
    let user = server.user("precedence_attr");
    let code = utf16z(&user.fresh_code());
    let conn_str = server.connection_string(&user, &format!("TwoFactorCode={}", user.wrong_code()));
    let conn = connect_with_code_before(&conn_str, &code).expect("the attribute comes first");
    assert_logged_in(&conn);
}

#[test]
fn the_connection_string_code_wins_over_the_helper_command() {
    let server = TestServer::start();
    let user = server.user("precedence_string");
    let conn_str = server.connection_string(
        &user,
        &format!("TwoFactorCode={};TwoFactorCodeCommand={{/bin/echo {}}}", user.fresh_code(), user.wrong_code()),
    );
    let conn = connect(&conn_str).expect("TwoFactorCode comes before TwoFactorCodeCommand");
    assert_logged_in(&conn);
}

#[test]
fn a_code_for_a_user_who_needs_none_is_dropped() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("needs_none");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Wide);
    dbc.driver_connect(&server.connection_string(&user, "TwoFactorCode=123456")).expect("the code is not needed");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
    assert_eq!(dbc.query_i64("SELECT 1").unwrap(), Some(1));
}

#[test]
fn no_code_anywhere_connects_with_the_second_factor_pending() {
    let server = TestServer::start();
    let user = server.user("pending");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    // TwoFactorPrompt defaults to No: under SQL_DRIVER_NOPROMPT nothing may block.
    let started = Instant::now();
    dbc.driver_connect(&server.connection_string(&user, "TwoFactorCodeEnv=TWOFACTOR_E2E_UNSET_VARIABLE")).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(dbc.two_factor_pending().unwrap(), 1);
}
