//! Clients that try to bring the server down, or to make it hold memory, threads, CPU or
//! SQLite's WAL for nothing: a real server on 127.0.0.1 with real TLS and real SQLite.
//! Each test checks the server still serves afterwards. The tests that measure the
//! server process itself (CPU, memory, kill -9) run the `twofactor-server` binary; see
//! `hostile_process.rs`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncWriteExt;
use twofactor_protocol::{ClientMessage, SecondFactor, ServerMessage};

/// A server without the second factor, so a test can open many sessions of one user.
async fn single_factor(tweak: impl FnOnce(&mut twofactor_server::Config)) -> Fixture {
    start(|c| {
        c.auth.two_factor = false;
        tweak(c);
    })
    .await
}

fn encoded(m: ClientMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(&mut out);
    out
}

async fn count(c: &mut Client, sql: &str) -> i64 {
    c.send(ClientMessage::ExecDirect { sql: sql.into(), params: no_params(), fetch_rows: 0 }).await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
    match c.recv().await {
        Some(ServerMessage::Rows { batch, .. }) => match batch.value(0, 0) {
            twofactor_protocol::ValueRef::Int(n) => n,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

async fn session(f: &Fixture) -> Client {
    let mut c = Client::connect(f).await;
    match c.login("alice", "alice-pw").await {
        ServerMessage::FirstFactorOk { second_factor: SecondFactor::NotRequired, .. } => c,
        other => panic!("{other:?}"),
    }
}

/// The session (and so the server) still runs SQL.
async fn still_serves(c: &mut Client) {
    c.send(ClientMessage::ExecDirect { sql: "SELECT 41 + 1".into(), params: no_params(), fetch_rows: 0 }).await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })), "the session still runs SQL");
    match c.recv().await {
        Some(ServerMessage::Rows { batch, last: true }) => {
            assert_eq!(batch.value(0, 0), twofactor_protocol::ValueRef::Int(42))
        }
        other => panic!("{other:?}"),
    }
}

/// Runs `sql` and returns the SQLSTATE of its error, or "" if it succeeded (result rows
/// are read to the end).
async fn outcome(c: &mut Client, sql: &str) -> String {
    c.send(ClientMessage::ExecDirect { sql: sql.into(), params: no_params(), fetch_rows: 0 }).await;
    loop {
        match c.recv().await.expect("the server answers") {
            ServerMessage::Error(e) => {
                assert!(!e.fatal, "{sql:.60}: {}", e.message);
                return e.sqlstate_str().to_owned();
            }
            ServerMessage::ExecuteDone { .. } | ServerMessage::Rows { last: true, .. } => return String::new(),
            ServerMessage::ResultSet { .. } => {}
            ServerMessage::Rows { last: false, .. } => c.send(ClientMessage::Fetch { max_rows: 0 }).await,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_of_two_thousand_statements_runs_instead_of_overflowing_the_stack() {
    // Regression: rusqlite's multi-statement check recursed once per statement and this
    // 18 KB text aborted the whole server.
    let f = single_factor(|_| {}).await;
    let mut c = session(&f).await;
    assert_eq!(outcome(&mut c, &"SELECT 1;".repeat(2000)).await, "");
    // As many as max_statement_bytes allows: no stack would hold a frame per statement.
    assert_eq!(outcome(&mut c, &"SELECT 1;".repeat(100_000)).await, "");
    assert_eq!(outcome(&mut c, &format!("SELECT 1{}", ";".repeat(100_000))).await, "");
    // Nothing but semicolons: answered like an empty statement, and nothing recursed.
    outcome(&mut c, &";".repeat(100_000)).await;
    assert_eq!(
        outcome(&mut c, "CREATE TABLE s (x); INSERT INTO s VALUES (1); INSERT INTO s SELECT x + 1 FROM s").await,
        ""
    );
    assert_eq!(outcome(&mut c, "SELECT x FROM s; -- a comment after the only statement").await, "");
    still_serves(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_sqlite_cannot_afford_get_an_error_and_the_session_goes_on() {
    let f = single_factor(|_| {}).await;
    let mut c = session(&f).await;
    let deep = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
    // Answered either way (parentheses add no depth to SQLite's expression tree).
    for sql in [deep(100_000), format!("SELECT {}1", "- ".repeat(200_000))] {
        outcome(&mut c, &sql).await;
        still_serves(&mut c).await;
    }
    let too_much: Vec<(String, &str, &str)> = vec![
        (format!("SELECT 1{}", "+1".repeat(100_000)), "HY000", "100,000-term sum (expression depth)"),
        (format!("SELECT 1 IN ({})", vec!["1"; 600_000].join(",")), "22001", "IN list over max_statement_bytes"),
        (format!("SELECT {}1{}", "(SELECT ".repeat(2000), ")".repeat(2000)), "HY000", "2,000 nested subqueries"),
        (vec!["SELECT 1"; 1000].join(" UNION ALL "), "HY000", "1,000-term compound SELECT"),
        ("SELECT randomblob(2000000000)".into(), "22001", "randomblob(2e9)"),
        ("SELECT zeroblob(2000000000)".into(), "22001", "zeroblob(2e9)"),
        ("SELECT replace(hex(zeroblob(10000000)), '0', '00')".into(), "22001", "a string past max_value_bytes"),
        (
            "WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) SELECT length(s) FROM r".into(),
            "22001",
            "a recursive CTE doubling a string",
        ),
        ("ATTACH 'users.db' AS u".into(), "HY000", "ATTACH of the user store"),
        (format!("VACUUM INTO '{}'", f.data.join("copy.db").display()), "HY000", "VACUUM INTO a new file"),
    ];
    for (sql, state, what) in &too_much {
        assert_eq!(outcome(&mut c, sql).await, *state, "{what}");
        still_serves(&mut c).await;
    }
    assert!(!f.data.join("copy.db").exists());
    // printf answers NULL at the limit instead of failing: the memory is bounded all the same.
    let n = count(&mut c, "SELECT coalesce(length(printf('%.*c', 2000000000, 'x')), 0)").await;
    assert!(n <= 16 << 20, "printf made {n} characters");
    still_serves(&mut c).await;
    // Within the limits, deep and wide statements still work.
    assert_eq!(outcome(&mut c, &deep(90)).await, "");
    // The deepest trees the expression limit lets through, which SQLite walks recursively
    // in C: the SQL thread's stack holds them.
    assert_eq!(outcome(&mut c, &format!("SELECT 1{}", "+1".repeat(990))).await, "");
    assert_eq!(outcome(&mut c, &format!("SELECT {}1{}", "abs(".repeat(990), ")".repeat(990))).await, "");
    let nested_case = format!("SELECT {}1{}", "CASE WHEN 1 THEN ".repeat(490), " END".repeat(490));
    assert_eq!(outcome(&mut c, &nested_case).await, "");
    assert_eq!(outcome(&mut c, &format!("SELECT 1 IN ({})", vec!["1"; 50_000].join(","))).await, "");
    assert_eq!(outcome(&mut c, "SELECT length(randomblob(1000000))").await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_query_that_never_ends_is_cancelled_and_the_session_goes_on() {
    let f = single_factor(|_| {}).await;
    let mut c = Client::connect(&f).await;
    let ServerMessage::FirstFactorOk { session_id, cancel_key, .. } = c.login("alice", "alice-pw").await else {
        panic!("no login")
    };
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";
    c.send(ClientMessage::ExecDirect { sql: endless.into(), params: no_params(), fetch_rows: 0 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut canceller = Client::connect(&f).await;
    canceller.send(ClientMessage::Cancel { session_id, key: cancel_key }).await;
    assert_eq!(canceller.recv().await, Some(ServerMessage::Ok));
    assert_error(&c.recv().await.unwrap(), "HY008", 9, false);
    still_serves(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_oversized_and_out_of_state_frames_close_only_their_connection() {
    let f = start(|_| {}).await;
    let mut bystander = logged_in(&f, "alice", "alice-pw").await;

    // Not our protocol at all.
    let mut c = Client::connect(&f).await;
    c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_error(&c.recv().await.unwrap(), "08S01", 2001, true);
    assert_eq!(c.recv().await, None);

    // A header declaring more than a pre-login frame may hold.
    let mut c = Client::connect(&f).await;
    let mut frame = vec![0x10u8];
    frame.extend_from_slice(&(1u32 << 30).to_le_bytes());
    c.send_raw(&frame).await;
    assert_error(&c.recv().await.unwrap(), "08S01", 2001, true);
    assert_eq!(c.recv().await, None);

    // An unknown tag, and a known one with a truncated body.
    for raw in [vec![0xEEu8, 1, 0, 0, 0, 0], vec![0x11u8, 2, 0, 0, 0, 0xFF, 0xFF]] {
        let mut c = Client::connect(&f).await;
        c.send_raw(&raw).await;
        assert_error(&c.recv().await.unwrap(), "08S01", 2001, true);
    }

    // SQL before the login, and a second Hello after it.
    let mut c = Client::connect(&f).await;
    c.send(ClientMessage::Fetch { max_rows: 1 }).await;
    assert_error(&c.recv().await.unwrap(), "08S01", 2001, true);
    let mut c = logged_in(&f, "bob", "bob-pw").await;
    c.send(ClientMessage::Hello { min_version: 1, max_version: 1, client_name: "again".into() }).await;
    assert_error(&c.recv().await.unwrap(), "08S01", 2001, true);

    still_serves(&mut bystander).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_cut_by_the_frame_timeout_in_every_state() {
    let f = single_factor(|c| {
        c.server.frame_timeout_secs = 1;
        c.server.login_timeout_secs = 30;
    })
    .await;
    let hello = encoded(ClientMessage::Hello { min_version: 1, max_version: 1, client_name: "slow".into() });
    let select = encoded(ClientMessage::ExecDirect { sql: "SELECT 1".into(), params: no_params(), fetch_rows: 0 });
    // Before the login (the login timeout alone would allow 30 s) and once logged in (the
    // idle timeout would allow 8 hours): one byte every 300 ms never completes a frame.
    for logged in [false, true] {
        let mut c = if logged { session(&f).await } else { Client::connect(&f).await };
        let frame = if logged { &select } else { &hello };
        let started = Instant::now();
        for b in frame.iter().take(frame.len() - 1) {
            c.send_raw(std::slice::from_ref(b)).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            if started.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        assert_error(&c.recv().await.unwrap(), "08S01", 2004, true);
        assert!(started.elapsed() < Duration::from_secs(4), "cut after about a second");
    }
    still_serves(&mut session(&f).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sessions_time_out_and_sooner_with_a_cursor_or_transaction_open() {
    let f = single_factor(|c| {
        c.server.idle_timeout_secs = 4;
        c.server.idle_in_transaction_timeout_secs = 1;
    })
    .await;
    let mut setup = session(&f).await;
    assert_eq!(outcome(&mut setup, "CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3), (4)").await, "");

    let mut idle = session(&f).await;
    still_serves(&mut idle).await;
    let mut cursor = session(&f).await;
    cursor.send(ClientMessage::ExecDirect { sql: "SELECT x FROM t".into(), params: no_params(), fetch_rows: 1 }).await;
    assert!(matches!(cursor.recv().await, Some(ServerMessage::ResultSet { .. })));
    assert!(matches!(cursor.recv().await, Some(ServerMessage::Rows { last: false, .. })));
    let mut transaction = session(&f).await;
    transaction.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(transaction.recv().await, Some(ServerMessage::Ok));
    assert_eq!(outcome(&mut transaction, "INSERT INTO t VALUES (5)").await, "");

    let started = Instant::now();
    for c in [&mut cursor, &mut transaction] {
        match c.recv().await {
            Some(ServerMessage::Error(e)) => {
                assert_eq!((e.sqlstate_str(), e.native, e.fatal), ("08S01", 2004, true));
                assert!(e.message.contains("idle_in_transaction_timeout_secs"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(3), "the shorter timeout applied");
    // The uncommitted row went with its session.
    assert_eq!(count(&mut setup, "SELECT count(*) FROM t").await, 4);
    // A session without a transaction stays until the idle timeout.
    still_serves(&mut idle).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    match idle.recv().await {
        Some(ServerMessage::Error(e)) => {
            assert_eq!((e.native, e.fatal), (2004, true));
            assert!(e.message.contains("server.idle_timeout_secs"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_still_arriving_share_one_memory_budget() {
    let f = single_factor(|c| {
        c.server.frame_memory_mib = 4;
        c.server.frame_timeout_secs = 3;
    })
    .await;
    // A 3 MiB ExecDirect whose last byte never comes holds 3 MiB of the 4.
    let big = |n: usize| {
        let sql = format!("SELECT '{}'", "x".repeat(n));
        encoded(ClientMessage::ExecDirect { sql, params: no_params(), fetch_rows: 0 })
    };
    let frame = big(3 << 20);
    let mut hog = session(&f).await;
    hog.send_raw(&frame[..frame.len() - 1]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A second one must wait for the budget until the first is cut by the frame timeout.
    let mut waiter = session(&f).await;
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        let _ = waiter.tls.write_all(&frame).await;
        let _ = waiter.tls.flush().await;
        waiter
    });
    assert_error(&hog.recv().await.unwrap(), "08S01", 2004, true);
    let mut waiter = writer.await.unwrap();
    // Over max_statement_bytes: refused, but only once the whole frame was read.
    assert_eq!(waiter.recv().await.map(|m| matches!(m, ServerMessage::Error(_))), Some(true));
    assert!(started.elapsed() > Duration::from_millis(1200), "it waited for the budget");
    // A frame larger than the whole budget can never be read: refused at its header.
    let mut c = session(&f).await;
    c.send_raw(&big(5 << 20)[..64]).await;
    assert_error(&c.recv().await.unwrap(), "08S01", 2001, true);
    still_serves(&mut waiter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_mid_fetch_is_dropped_and_no_longer_pins_the_wal() {
    let f = single_factor(|c| c.server.write_timeout_secs = 1).await;
    let mut writer = session(&f).await;
    let fill = "CREATE TABLE blobs AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
                SELECT i, randomblob(1000000) AS b FROM n";
    assert_eq!(outcome(&mut writer, fill).await, "");
    let mut stalled = session(&f).await;
    stalled
        .send(ClientMessage::ExecDirect { sql: "SELECT i, b FROM blobs".into(), params: no_params(), fetch_rows: 1 })
        .await;
    // Ask for every batch at once and read none of them (a frozen link looks the same):
    // 200 MB the server cannot hand over, while its cursor holds a read snapshot.
    for _ in 0..200 {
        stalled.send(ClientMessage::Fetch { max_rows: 1 }).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outcome(&mut writer, "INSERT INTO blobs VALUES (0, x'00')").await, "");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Regression: the stalled reader kept its snapshot and the WAL could not be reset.
    assert_eq!(count(&mut writer, "PRAGMA wal_checkpoint(TRUNCATE)").await, 0, "no reader blocks the checkpoint");
    let mut batches = 0;
    while let Some(m) = stalled.recv().await {
        if let ServerMessage::Rows { .. } = m {
            batches += 1;
        }
    }
    assert!(batches < 100, "the server gave up writing ({batches} batches arrived)");
    still_serves(&mut writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_in_the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    // A data directory made by an older version, with 0644 files in a 0755 directory.
    let loosen = |dir: &std::path::Path| {
        for name in ["server.toml", "users.db", "ca.pem"] {
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let f = start_with(|c| c.auth.two_factor = false, loosen).await;
    let mut c = session(&f).await;
    assert_eq!(outcome(&mut c, "CREATE TABLE p (x); INSERT INTO p VALUES (1)").await, "");
    c.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));
    assert_eq!(outcome(&mut c, "INSERT INTO p VALUES (2)").await, "");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&f.data), 0o700);
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&f.data).unwrap() {
        let path = entry.unwrap().path();
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    for name in ["users.db", "audit.log", "data.db", "data.db-wal", "data.db-shm", "server.toml", "secrets.key"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
}
