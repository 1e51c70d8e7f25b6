//! Nothing an application, a DSN or the network does brings the host process down or
//! hangs it: sizes and counts beyond ODBC's limits, values the server would close the
//! connection on, a server that dies mid-write (SIGPIPE), files that never end, timeouts
//! of centuries, and a link that freezes mid-query or mid-fetch. All through the real
//! unixODBC driver manager and the real server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use odbc_api::Cursor;
use twofactor_e2e::hardening::*;
use twofactor_e2e::odbc::{connect, exec, sqlstate};
use twofactor_e2e::raw::{Charset, Dbc, Env};
use twofactor_e2e::{driver_library, quote_value, TestServer};

const MIB: usize = 1024 * 1024;

fn connected<'e>(env: &'e Env, server: &TestServer) -> Dbc<'e> {
    let user = server.user_without_two_factor("hardy");
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, "")).expect("login");
    dbc
}

fn assert_refused(outcome: &Outcome, state: &str, what: &str) {
    assert_eq!(outcome.rc, SQL_ERROR, "{what}: {outcome:?}");
    assert_eq!(outcome.state, state, "{what}: {outcome:?}");
}

#[test]
fn descriptor_counts_beyond_a_smallint_are_refused_on_every_descriptor() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connected(&env, &server);
    let stmt = RawStmt::new(&dbc);
    let local = 0u64;
    let pointer_by_mistake = &local as *const u64 as usize;
    let descriptors = [
        ("ARD", stmt.descriptor(SQL_ATTR_APP_ROW_DESC)),
        ("APD", stmt.descriptor(SQL_ATTR_APP_PARAM_DESC)),
        ("IPD", stmt.descriptor(SQL_ATTR_IMP_PARAM_DESC)),
        ("explicit", RawDesc::explicit(&dbc)),
    ];
    for (name, desc) in &descriptors {
        for count in [1usize << 31, 1 << 40, 65535, 100_000, 32768, pointer_by_mistake, usize::MAX] {
            let outcome = desc.set_field(0, SQL_DESC_COUNT, count);
            assert_refused(&outcome, "07009", &format!("{name} SQL_DESC_COUNT={count}"));
            assert_eq!(desc.count(), 0, "{name}: a refused count changes nothing");
        }
        assert!(desc.set_field(0, SQL_DESC_COUNT, 32767).is_ok(), "{name}: the largest SQLSMALLINT");
        assert_eq!(desc.count(), 32767, "{name}");
        assert!(desc.set_field(0, SQL_DESC_COUNT, 2).is_ok());
        assert_eq!(desc.count(), 2, "{name}");
        assert!(desc.set_field(0, SQL_DESC_COUNT, 0).is_ok());
    }
    // The statement still works.
    assert!(stmt.exec_direct("SELECT 1").is_ok());
}

#[test]
fn array_sizes_no_application_can_mean_are_refused_before_anything_is_allocated() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connected(&env, &server);
    assert!(dbc.exec("CREATE TABLE t (x INTEGER)").is_ok());
    let stmt = RawStmt::new(&dbc);
    for (attr, name) in [
        (SQL_ATTR_PARAMSET_SIZE, "PARAMSET_SIZE"),
        (SQL_ATTR_ROW_ARRAY_SIZE, "ROW_ARRAY_SIZE"),
        (SQL_ROWSET_SIZE, "ROWSET_SIZE"),
    ] {
        for size in [1usize << 40, (1 << 20) + 1, usize::MAX] {
            assert_refused(&stmt.set_attr(attr, size), "HY024", &format!("SQL_ATTR_{name}={size}"));
        }
        assert_eq!(stmt.attr(attr), 1, "{name} unchanged");
    }
    let ard = stmt.descriptor(SQL_ATTR_APP_ROW_DESC);
    assert_refused(&ard.set_field(0, SQL_DESC_ARRAY_SIZE, 1 << 40), "HY024", "SQL_DESC_ARRAY_SIZE");
    // With a parameter bound, SQLExecute runs one row, as the refused size left it.
    assert!(stmt.prepare("INSERT INTO t VALUES (?)").is_ok());
    assert!(stmt.bind_int_param(1).is_ok());
    assert_refused(&stmt.set_attr(SQL_ATTR_PARAMSET_SIZE, 1 << 40), "HY024", "PARAMSET_SIZE before SQLExecute");
    assert!(stmt.execute().is_ok());
    assert_eq!(dbc.query_i64("SELECT count(*) FROM t").unwrap(), Some(1));
    // A large but sane size is accepted.
    assert!(stmt.set_attr(SQL_ATTR_ROW_ARRAY_SIZE, 1 << 20).is_ok());
    assert_eq!(stmt.attr(SQL_ATTR_ROW_ARRAY_SIZE), 1 << 20);
}

#[test]
fn column_and_parameter_numbers_beyond_32767_are_refused() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connected(&env, &server);
    let stmt = RawStmt::new(&dbc);
    for number in [32768u16, 40000, 65535] {
        assert_refused(&stmt.bind_col(number), "07009", &format!("SQLBindCol({number})"));
        assert_refused(&stmt.bind_int_param(number), "07009", &format!("SQLBindParameter({number})"));
    }
    assert_eq!(stmt.descriptor(SQL_ATTR_APP_ROW_DESC).count(), 0);
    assert!(stmt.bind_col(32767).is_ok());
    assert_eq!(stmt.descriptor(SQL_ATTR_APP_ROW_DESC).count(), 32767);
}

/// Runs the client process (which does not ignore SIGPIPE) and returns its RESULT lines
/// as (step, return code, SQLSTATE, message). Fails if it died of a signal or printed
/// anything on stderr (a panic message would go there).
fn run_client(
    scenario: &str,
    size: usize,
    conn_str: &str,
    between: impl FnOnce(),
) -> Vec<(String, i16, String, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hardening_client"))
        .args([scenario, &size.to_string(), conn_str])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut line = String::new();
    // The first line is the connect; then the test may act (kill the server).
    if stdout.read_line(&mut line).unwrap() > 0 {
        lines.push(std::mem::take(&mut line));
    }
    between();
    let _ = child.stdin.take().unwrap().write_all(b"go\n");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    lines.extend(rest.lines().map(|l| format!("{l}\n")));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    let all = lines.concat();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            None,
            "{scenario}: the client died of signal {:?}; its output:\n{all}",
            status.signal()
        );
    }
    assert!(status.success(), "{scenario}: {status}; stdout:\n{all}\nstderr:\n{stderr}");
    assert!(stderr.is_empty(), "{scenario}: the driver printed on the host's stderr:\n{stderr}");
    assert!(all.contains("DONE"), "{scenario}: {all}");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .map(|l| {
            let mut parts = l.trim_end().splitn(4, ' ');
            let step = parts.next().unwrap().to_owned();
            let rc = parts.next().unwrap().parse().unwrap();
            let state = parts.next().unwrap().to_owned();
            (step, rc, state, parts.next().unwrap_or("").to_owned())
        })
        .collect()
}

fn step<'a>(results: &'a [(String, i16, String, String)], name: &str) -> &'a (String, i16, String, String) {
    results.iter().find(|r| r.0 == name).unwrap_or_else(|| panic!("no step {name} in {results:?}"))
}

#[test]
fn credentials_too_long_for_the_login_frame_are_refused_locally_and_the_host_lives() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("longcreds");
    let results = run_client("long-uid", MIB, &server.base_connection_string(""), || {});
    let (_, rc, state, message) = step(&results, "connect");
    assert_eq!((*rc, state.as_str()), (SQL_ERROR, "HY090"), "{message}");
    assert!(message.contains("user name and password"), "{message}");
    let conn_str = format!("{};UID={}", server.base_connection_string(""), user.name);
    let results = run_client("long-pwd", MIB, &conn_str, || {});
    assert_eq!(step(&results, "connect").2, "HY090");
}

#[test]
fn a_statement_beyond_the_frame_limit_is_refused_locally_and_the_connection_stays_usable() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("longsql");
    let results = run_client("long-sql", 65 * MIB, &server.connection_string(&user, ""), || {});
    assert_eq!(step(&results, "connect").1, 0);
    let (_, rc, state, message) = step(&results, "exec");
    assert_eq!((*rc, state.as_str()), (SQL_ERROR, "HY090"), "{message}");
    assert!(message.contains("nothing was sent"), "{message}");
    assert_eq!(step(&results, "after").1, 0, "{results:?}");
}

#[test]
fn put_data_beyond_the_frame_limit_is_refused_locally_and_the_connection_stays_usable() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("longput");
    let results = run_client("long-put-data", 70 * MIB, &server.connection_string(&user, ""), || {});
    assert_eq!(step(&results, "execute").1, SQL_NEED_DATA, "{results:?}");
    let (_, rc, state, message) = step(&results, "final-param-data");
    assert_eq!((*rc, state.as_str()), (SQL_ERROR, "22001"), "{message}");
    assert_eq!(step(&results, "after").1, 0, "{results:?}");
}

#[test]
fn writing_to_a_server_that_died_is_an_error_not_a_sigpipe() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("orphan");
    let conn_str = server.connection_string(&user, "");
    let mut server = Some(server);
    let results = run_client("after-server-dies", 32 * MIB, &conn_str, || {
        drop(server.take());
        std::thread::sleep(Duration::from_millis(200));
    });
    assert_eq!(step(&results, "connect").1, 0, "{results:?}");
    let (_, rc, state, message) = step(&results, "exec");
    assert_eq!((*rc, state.as_str()), (SQL_ERROR, "08S01"), "{message}");
    assert_eq!(step(&results, "after").2, "08S01");
}

#[test]
fn huge_timeouts_are_clamped_without_a_panic_or_a_word_on_stderr() {
    let server = TestServer::start();
    let user = server.user("patient");
    let max = u64::MAX;
    let extra = format!(
        "LoginTimeout={max};ConnectionTimeout={max};QueryTimeout={max};TwoFactorCodeCommandTimeout={max};\
         TwoFactorCodeCommand={}",
        quote_value(&format!("printf %s {}", user.fresh_code()))
    );
    let results = run_client("connect", 0, &server.connection_string(&user, &extra), || {});
    assert_eq!(step(&results, "connect").1, 0, "{results:?}");
    assert_eq!(step(&results, "select").1, 0, "{results:?}");
}

#[test]
fn a_ca_file_that_never_ends_or_never_opens_is_refused_at_once() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("cafile");
    let fifo = server.scratch().join("ca.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for path in ["/dev/zero".to_owned(), "/dev/urandom".to_owned(), fifo.display().to_string()] {
        let conn_str = server.connection_string(&user, &format!("CAFile={}", quote_value(&path)));
        // The first CAFile wins: put this one first.
        let conn_str = conn_str.replacen("CAFile=", &format!("CAFile={};Ignored=", quote_value(&path)), 1);
        let started = Instant::now();
        let err = connect(&conn_str).expect_err("not a CA file");
        let (state, _, message) = sqlstate(&err);
        assert_eq!(state, "08001", "{path}: {message}");
        assert!(message.contains(&path) && message.contains("not a regular file"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(3), "{path}: took {:?}", started.elapsed());
    }
}

/// A loopback TCP proxy in front of the server that can freeze: it then stops forwarding
/// in both directions (and for new connections) but keeps every socket open, as a dead
/// route or a stopped host does.
struct FreezableProxy {
    port: u16,
    frozen: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
}

impl FreezableProxy {
    fn start(target_port: u16) -> FreezableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicBool::new(false));
        let (f, c) = (Arc::clone(&frozen), Arc::clone(&closed));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if c.load(Ordering::Acquire) {
                    return;
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target_port)) else { continue };
                for (from, to) in [(client.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, client)] {
                    let (f, c) = (Arc::clone(&f), Arc::clone(&c));
                    std::thread::spawn(move || pump(from, to, &f, &c));
                }
            }
        });
        FreezableProxy { port, frozen, closed }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool, closed: &AtomicBool) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 64 * 1024];
    let hold_while_frozen = || {
        while frozen.load(Ordering::Acquire) && !closed.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    while !closed.load(Ordering::Acquire) {
        hold_while_frozen();
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Bytes read just as the link froze are held too, never forwarded.
                hold_while_frozen();
                if closed.load(Ordering::Acquire) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn through_proxy(server: &TestServer, proxy: &FreezableProxy, name: &str, extra: &str) -> String {
    let user = server.user_without_two_factor(name);
    format!(
        "Driver={};Server=127.0.0.1;Port={};CAFile={};UID={};PWD={};{extra}",
        quote_value(&driver_library().display().to_string()),
        proxy.port,
        quote_value(&server.ca_file().display().to_string()),
        user.name,
        quote_value(&user.password),
    )
}

#[test]
fn a_link_that_freezes_mid_query_gives_hyt00_within_the_timeout_and_then_08s01() {
    let server = TestServer::start();
    let proxy = FreezableProxy::start(server.port);
    let conn = connect(&through_proxy(&server, &proxy, "frozenq", "QueryTimeout=2")).expect("login through the proxy");
    exec(&conn, "SELECT 1");
    proxy.freeze();
    let started = Instant::now();
    let err = conn.execute("SELECT 2", (), None).map(|_| ()).expect_err("the link is frozen");
    let took = started.elapsed();
    assert_eq!(sqlstate(&err).0, "HYT00", "{err}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "took {took:?}");
    assert!(conn.is_dead().unwrap(), "SQL_ATTR_CONNECTION_DEAD reads SQL_CD_TRUE");
    let started = Instant::now();
    let err = conn.execute("SELECT 3", (), None).map(|_| ()).expect_err("the connection is gone");
    assert_eq!(sqlstate(&err).0, "08S01", "{err}");
    assert!(started.elapsed() < Duration::from_secs(1), "reported at once");
}

#[test]
fn a_link_that_freezes_mid_fetch_gives_hyt00_within_the_timeout_and_then_08s01() {
    let server = TestServer::start();
    let proxy = FreezableProxy::start(server.port);
    let conn = connect(&through_proxy(&server, &proxy, "frozenf", "QueryTimeout=2;FetchRows=10"))
        .expect("login through the proxy");
    exec(&conn, "CREATE TABLE t (x INTEGER)");
    exec(
        &conn,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) INSERT INTO t SELECT i FROM n",
    );
    let mut cursor = conn.execute("SELECT x FROM t", (), None).unwrap().expect("a result set");
    let mut rows = 0;
    let mut failure = None;
    let mut started = Instant::now();
    loop {
        match cursor.next_row() {
            Ok(Some(_)) => {
                rows += 1;
                if rows == 25 {
                    // Mid-stream: the server has more, the driver must ask for it.
                    proxy.freeze();
                    started = Instant::now();
                }
            }
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let took = started.elapsed();
    let err = failure.unwrap_or_else(|| panic!("all {rows} rows came through a frozen link"));
    assert_eq!(sqlstate(&err).0, "HYT00", "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    drop(cursor);
    assert!(conn.is_dead().unwrap());
    let err = conn.execute("SELECT 1", (), None).map(|_| ()).expect_err("the connection is gone");
    assert_eq!(sqlstate(&err).0, "08S01", "{err}");
}

#[test]
fn the_login_timeout_bounds_a_server_that_trickles_its_handshake() {
    // Sends a TLS record header announcing 16 KiB, then one byte every 300 ms: every read
    // gets something, so only a deadline over the whole login ends it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else { return };
        let _ = s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
        while !stop.load(Ordering::Acquire) {
            if s.write_all(&[0x02]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let started = Instant::now();
    let err = connect(&format!(
        "Driver={};Server=127.0.0.1;Port={port};UID=a;PWD=b;TLSVerify=No;LoginTimeout=2",
        quote_value(&driver_library().display().to_string())
    ))
    .expect_err("no TLS server there");
    done.store(true, Ordering::Release);
    let took = started.elapsed();
    assert_eq!(sqlstate(&err).0, "HYT00", "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_two_factor_code_of_a_megabyte_is_refused_locally_and_the_real_code_can_follow() {
    let server = TestServer::start();
    let user = server.user("longcode");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, "")).expect("first factor");
    assert_eq!(dbc.two_factor_pending().unwrap(), 1);
    // Refused for its length (HY090) while it is read, long before the frame limit:
    // nothing is sent, and the server does not drop the session.
    let err = dbc.submit_code(&"1".repeat(MIB)).expect_err("a megabyte is no code");
    assert_eq!(err.state(), "HY090", "{err}");
    assert_eq!(dbc.two_factor_pending().unwrap(), 1, "still waiting for the code, the session intact");
    dbc.submit_code(&user.fresh_code()).expect("the real code");
    assert_eq!(dbc.query_i64("SELECT 42").unwrap(), Some(42));
}
