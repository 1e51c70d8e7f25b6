//! Connection-string keys a DBA sets: TLS, timeouts, logging. Every failure must be quick
//! and name its cause.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use odbc_api::Cursor;
use twofactor_e2e::odbc::{connect, exec, sqlstate};
use twofactor_e2e::{driver_library, quote_value, TestServer};

fn driver() -> String {
    quote_value(&driver_library().display().to_string())
}

#[test]
fn the_driver_log_of_a_full_session_contains_neither_password_nor_code() {
    let server = TestServer::start();
    let password = "Pa55;w{or}}d-with-quotes";
    let user = server.user_with_password("logged", password);
    let code = user.fresh_code();
    let log = server.scratch().join("driver.log");
    let extra = format!("TwoFactorCode={code};LogFile={};LogLevel=trace", quote_value(&log.display().to_string()));
    let conn = connect(&server.connection_string(&user, &extra)).expect("login with logging on");
    exec(&conn, "CREATE TABLE t (x INTEGER)");
    exec(&conn, "INSERT INTO t VALUES (1)");
    let mut cursor = conn.execute("SELECT x FROM t", (), None).unwrap().unwrap();
    while cursor.next_row().unwrap().is_some() {}
    drop(cursor);
    drop(conn);

    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(text.lines().count() >= 5, "the trace log should describe the session:\n{text}");
    assert!(!text.contains(password), "the password is in the log:\n{text}");
    assert!(!text.contains("Pa55"), "part of the password is in the log:\n{text}");
    assert!(!text.contains(&code), "the code is in the log:\n{text}");
}

#[test]
fn a_password_with_braces_and_semicolons_works_when_brace_quoted() {
    let server = TestServer::start();
    let user = server.user_with_password("quoted", "a;b}c{d=e Grüße");
    let conn = connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code())))
        .expect("a brace-quoted password");
    exec(&conn, "SELECT 1");
}

#[test]
fn a_closed_port_gives_08001_quickly() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let err =
        connect(&format!("Driver={};Server=127.0.0.1;Port={port};UID=a;PWD=b;CAFile=/dev/null;TLSVerify=No", driver()))
            .expect_err("nothing listens");
    let (state, _, message) = sqlstate(&err);
    assert!(state == "08001" || state == "HYT00", "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}: {message}", started.elapsed());
}

#[test]
fn a_server_that_never_answers_times_out_with_hyt00_or_08001() {
    // Accepts TCP but never speaks TLS.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let err =
        connect(&format!("Driver={};Server=127.0.0.1;Port={port};UID=a;PWD=b;TLSVerify=No;LoginTimeout=2", driver()))
            .expect_err("silent server");
    let (state, _, _) = sqlstate(&err);
    assert!(state == "HYT00" || state == "08001", "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    drop(listener);
}

#[test]
fn a_missing_ca_file_is_an_error_naming_cafile() {
    let server = TestServer::start();
    let user = server.user("missing_ca");
    let conn_str = format!(
        "Driver={};Server=127.0.0.1;Port={};CAFile=/nonexistent/twofactor/ca.pem;UID={};PWD={}",
        driver(),
        server.port,
        user.name,
        user.password
    );
    let err = connect(&conn_str).expect_err("no CA file");
    let (_, _, message) = sqlstate(&err);
    assert!(message.contains("CAFile"), "{err}");
}

#[test]
fn a_server_certificate_from_another_ca_is_refused_unless_verification_is_off() {
    let server = TestServer::start();
    let other = TestServer::start();
    let user = server.user("other_ca");
    let wrong_ca = quote_value(&other.ca_file().display().to_string());
    let base = format!(
        "Driver={};Server=127.0.0.1;Port={};UID={};PWD={};TwoFactorCode={}",
        driver(),
        server.port,
        user.name,
        user.password,
        user.fresh_code()
    );
    let err = connect(&format!("{base};CAFile={wrong_ca}")).expect_err("the certificate is not ours");
    let (state, _, _) = sqlstate(&err);
    assert_eq!(state, "08001", "{err}");

    let conn = connect(&format!("{base};CAFile={wrong_ca};TLSVerify=No")).expect("TLSVerify=No is an explicit opt-out");
    exec(&conn, "SELECT 1");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let server = TestServer::start();
    let user = server.user("other_name");
    let err = connect(&server.connection_string(&user, "TLSServerName=db.example.invalid")).expect_err("name mismatch");
    let (state, _, _) = sqlstate(&err);
    assert_eq!(state, "08001", "{err}");
}

#[test]
fn a_bad_port_value_is_an_error_naming_the_key() {
    let err = connect(&format!("Driver={};Server=127.0.0.1;Port=seventy;UID=a;PWD=b", driver())).expect_err("bad port");
    let (_, _, message) = sqlstate(&err);
    assert!(message.contains("Port"), "{err}");
}

#[test]
fn server_localhost_and_the_default_tls_name_work() {
    let server = TestServer::start();
    let user = server.user("localhost");
    let conn_str = format!(
        "Driver={};Server=localhost;Port={};CAFile={};UID={};PWD={};TwoFactorCode={}",
        driver(),
        server.port,
        quote_value(&server.ca_file().display().to_string()),
        user.name,
        user.password,
        user.fresh_code()
    );
    let conn = connect(&conn_str).expect("Server=localhost");
    exec(&conn, "SELECT 1");
}

#[test]
fn the_driver_library_does_not_link_the_driver_manager() {
    // A driver that links libodbc would resolve its own SQL* calls to the driver manager.
    let out = std::process::Command::new("readelf").arg("-d").arg(driver_library()).output();
    let Ok(out) = out else {
        eprintln!("readelf not available; skipped");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = text.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(!needed.is_empty(), "readelf printed no NEEDED entries:\n{text}");
    assert!(!needed.iter().any(|l| l.contains("[libodbc.so")), "the driver links libodbc: {needed:#?}");
}
