//! Readiness and the SIGTERM drain, on the real binary: readiness turns 503 at the signal,
//! the listener keeps accepting through `server.drain_grace_secs`, then refuses; idle
//! sessions end, a transaction may be finished until `server.drain_timeout_secs` and is
//! rolled back after it, and the process exits 0 within the deadline.

mod common;
mod fleet;

use std::time::{Duration, Instant};

use common::{assert_error, no_params, Client};
use fleet::{logged_in, login, set, Instance, Layout};
use twofactor_protocol::{ClientMessage, ServerMessage, ValueRef};

/// Slack for a loaded 2-core machine on top of the configured times.
const SLACK: Duration = Duration::from_secs(3);

fn layout(root: &std::path::Path, grace: i64, timeout: i64) -> Layout {
    let layout = Layout::new(root, |t| {
        set(t, "server", "drain_grace_secs", grace);
        set(t, "server", "drain_timeout_secs", timeout);
    });
    layout.add_password_user("alice", "alice-pw");
    layout
}

async fn session(i: &Instance) -> Client {
    let mut c = i.connect().await;
    let answer = login(&mut c, "alice", "alice-pw", None).await;
    assert!(logged_in(&answer), "{answer:?}");
    c
}

async fn ok(c: &mut Client, sql: &str) {
    match c.exec(sql, no_params()).await {
        ServerMessage::Ok | ServerMessage::ExecuteDone { .. } => {}
        other => panic!("{sql}: {other:?}"),
    }
}

async fn count(c: &mut Client, table: &str) -> i64 {
    match c.exec(&format!("SELECT count(*) FROM {table}"), no_params()).await {
        ServerMessage::ResultSet { .. } => {}
        other => panic!("{other:?}"),
    }
    match c.recv().await {
        Some(ServerMessage::Rows { batch, .. }) => match batch.value(0, 0) {
            ValueRef::Int(n) => n,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// Readiness fails within a moment of the signal (the time the process takes to see
/// it); the reason it gives.
async fn not_ready_soon(i: &Instance) -> String {
    let until = Instant::now() + Duration::from_millis(500);
    loop {
        let (status, reason) = i.probe("/ready").await;
        if status == 503 {
            eprintln!("readiness 503 within {:?} of the signal", Duration::from_millis(500) - (until - Instant::now()));
            return reason;
        }
        assert!(Instant::now() < until, "still {status} {reason} 500 ms after the signal");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The session is closed by the drain without asking anything: an 08S01 "shutting
/// down", then the end of the stream.
async fn closed_by_drain(c: &mut Client) {
    let m = c.recv().await.expect("told why");
    assert_error(&m, "08S01", 2003, true);
    assert!(c.recv().await.is_none(), "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_at_once_keeps_accepting_through_the_grace_then_refuses_and_exits_0() {
    let root = tempfile::tempdir().unwrap();
    let layout = layout(root.path(), 2, 20);
    let mut server = layout.start("a");
    assert_eq!(server.probe("/ready").await, (200, "ready".into()));
    assert_eq!(server.probe("/live").await, (200, "live".into()));
    let mut idle = session(&server).await;
    let mut busy = session(&server).await;
    ok(&mut busy, "CREATE TABLE t(x)").await;
    busy.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(busy.recv().await, Some(ServerMessage::Ok));
    ok(&mut busy, "INSERT INTO t VALUES (1)").await;

    let signalled = Instant::now();
    server.sigterm();
    let reason = not_ready_soon(&server).await;
    assert!(reason.contains("draining"), "{reason}");
    assert_eq!(server.probe("/live").await.0, 200, "alive while draining");

    // Within the grace, a balancer that has not noticed yet still gets a working login.
    let mut late = session(&server).await;
    assert_eq!(count(&mut late, "t").await, 0, "the open transaction is not visible");
    drop(late);

    // After it, the listener is closed: a balancer's connect fails and it goes elsewhere.
    let refused = fleet::eventually(Duration::from_secs(2) + SLACK, || {
        std::net::TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)).is_err()
    })
    .await;
    assert!(refused, "the listener still accepts after the grace:\n{}", server.log_text());
    assert!(signalled.elapsed() >= Duration::from_secs(2), "refused before the grace was over");

    // The idle session is closed; the one inside a transaction may still commit it.
    closed_by_drain(&mut idle).await;
    busy.send(ClientMessage::EndTransaction { commit: true }).await;
    assert_eq!(busy.recv().await, Some(ServerMessage::Ok), "the commit is answered");
    closed_by_drain(&mut busy).await;

    let status = server.wait_exit(Duration::from_secs(20) + SLACK).expect("exits within drain_timeout_secs");
    assert!(status.success(), "{status:?}\n{}", server.log_text());
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "the last session ended, so the drain need not wait for its deadline ({:?})",
        signalled.elapsed()
    );
    let log = server.log_text();
    assert!(log.contains("draining: readiness answers 503"), "{log}");

    // The committed row is there for the next server.
    let again = layout.start("a2");
    let mut c = session(&again).await;
    assert_eq!(count(&mut c, "t").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_drain_deadline_busy_sessions_are_closed_their_work_rolled_back_and_the_exit_is_0() {
    let root = tempfile::tempdir().unwrap();
    let layout = layout(root.path(), 0, 3);
    let mut server = layout.start("a");
    let mut open_tx = session(&server).await;
    ok(&mut open_tx, "CREATE TABLE t(x)").await;
    open_tx.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(open_tx.recv().await, Some(ServerMessage::Ok));
    ok(&mut open_tx, "INSERT INTO t VALUES (1)").await;
    // A statement that never ends by itself, running when the deadline comes.
    let mut running = session(&server).await;
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";
    running.send(ClientMessage::ExecDirect { sql: endless.into(), params: no_params(), fetch_rows: 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    server.sigterm();
    not_ready_soon(&server).await;
    // Inside its transaction, the session is left alone until the deadline...
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(server.wait_exit(Duration::ZERO).is_none(), "the drain waits for the transaction");
    // ...and closed at it, like the running statement.
    let m = open_tx.recv().await.expect("told why");
    assert_error(&m, "08S01", 2003, true);
    assert!(signalled.elapsed() >= Duration::from_secs(3) - Duration::from_millis(100), "{:?}", signalled.elapsed());
    let m = running.recv().await.expect("told why");
    assert_error(&m, "08S01", 2003, true);
    let status = server.wait_exit(Duration::from_secs(5) + SLACK).expect("exits after the deadline");
    assert!(status.success(), "{status:?}\n{}", server.log_text());
    assert!(server.log_text().contains("server.drain_timeout_secs is over"), "{}", server.log_text());

    let again = layout.start("a2");
    let mut c = session(&again).await;
    assert_eq!(count(&mut c, "t").await, 0, "the transaction open at the deadline was rolled back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_during_the_drain_closes_everything_at_once() {
    let root = tempfile::tempdir().unwrap();
    let layout = layout(root.path(), 30, 60);
    let mut server = layout.start("a");
    let mut open_tx = session(&server).await;
    open_tx.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(open_tx.recv().await, Some(ServerMessage::Ok));
    ok(&mut open_tx, "CREATE TABLE t(x)").await;
    server.sigint();
    not_ready_soon(&server).await;
    let hurried = Instant::now();
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(5) + SLACK).expect("a second signal does not wait 60 s");
    assert!(status.success(), "{status:?}\n{}", server.log_text());
    assert!(hurried.elapsed() < Duration::from_secs(8));
    assert!(server.log_text().contains("asked to hurry"), "{}", server.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_in_progress_when_the_listener_closes_are_ended_not_left_waiting() {
    let root = tempfile::tempdir().unwrap();
    let layout = layout(root.path(), 0, 30);
    layout.add_totp_user("bob", "bob-pw");
    let mut server = layout.start("a");
    // bob has given his password and not yet his code; a second client has said only Hello.
    let mut bob = server.connect().await;
    bob.send(ClientMessage::Login { user: "bob".into(), password: "bob-pw".into() }).await;
    assert!(matches!(bob.recv().await, Some(ServerMessage::FirstFactorOk { .. })));
    let mut hello_only = server.connect().await;
    let signalled = Instant::now();
    server.sigterm();
    for c in [&mut bob, &mut hello_only] {
        let m = c.recv().await.expect("told why");
        assert_error(&m, "08S01", 2003, true);
    }
    let status = server.wait_exit(Duration::from_secs(5) + SLACK).expect("nothing left to wait for");
    assert!(status.success(), "{status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10), "no 30 s wait for logins: {:?}", signalled.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readiness_port_answers_probes_only_and_bounds_what_it_reads() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let root = tempfile::tempdir().unwrap();
    let layout = layout(root.path(), 0, 5);
    let server = layout.start("a");
    assert_eq!(server.probe("/nothing").await.0, 404);
    assert_eq!(server.probe("/ready?from=haproxy").await, (200, "ready".into()));
    let raw = |request: Vec<u8>| {
        let addr = server.health;
        async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _ = tcp.write_all(&request).await;
            let mut reply = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut reply)).await;
            fleet::parse_reply(&reply).map(|(status, _)| status)
        }
    };
    assert_eq!(raw(b"POST /ready HTTP/1.0\r\n\r\n".to_vec()).await, Ok(405));
    assert_eq!(raw(b"\x16\x03\x01 not http\r\n\r\n".to_vec()).await, Ok(400));
    // Exactly the limit and no end of headers (so the server leaves nothing unread, which
    // would make its close a reset).
    let mut huge = b"GET /ready HTTP/1.0\r\nX: ".to_vec();
    huge.resize(2048, b'a');
    assert_eq!(raw(huge).await, Ok(431), "a request past the size limit is refused, not buffered");
    // A probe that sends nothing is dropped after the read timeout.
    let started = Instant::now();
    assert_eq!(raw(Vec::new()).await, Ok(408));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // Idle connections beyond the cap are closed unanswered while probes keep working
    // once they go.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(tokio::net::TcpStream::connect(server.health).await.unwrap());
    }
    // Accepted in order: the first 32 wait for a request, the rest are closed at once.
    for tcp in &mut idle[32..] {
        let mut b = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(500), tcp.read(&mut b)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "a connection past the cap is closed at once: {read:?}");
    }
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.probe("/ready").await.0, 200, "probes work again once the idle ones are gone");
}
