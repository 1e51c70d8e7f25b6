//! Cancel across instances: two `twofactor-server` processes on one PostgreSQL user store,
//! a session on A running a statement that never ends (a recursive CTE on SQLite), and
//! the Cancel sent to B, as a balancer may route it. B does not hold the session and
//! relays the request through PostgreSQL; A cancels only when the key is the session's.
//! The relay's listener reconnects after PostgreSQL restarts (a private cluster); a flood
//! of bogus cancels is capped; with `[sql] backend = "postgres"` the relayed cancel
//! becomes PostgreSQL's own cancel request.
//!
//! PostgreSQL resources are made outside any runtime (the blocking client must not run on
//! tokio's workers); the instances are driven from a runtime of the test's own.

mod common;
mod fleet;

use std::time::{Duration, Instant};

use common::{assert_error, no_params, Client};
use fleet::{eventually, login, set, Instance, Layout};
use twofactor_pg_testkit::{PgServer, TestDb};
use twofactor_protocol::{ClientMessage, Secret, ServerMessage};

const ENDLESS: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";
/// A relayed cancel must stop the statement within this (measured: see the eprintln).
const BOUND: Duration = Duration::from_secs(2);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn layout(root: &std::path::Path, db: &TestDb<'_>) -> Layout {
    let layout = Layout::on_postgres(root, db, |t| {
        set(t, "auth", "backoff_base_ms", 0);
        set(t, "store", "connect_timeout_secs", 2);
    });
    layout.add_password_user("pat", "pat-pw");
    layout
}

/// How many times the instance's relay has started listening (first time and after each
/// reconnection).
fn listening_count(i: &Instance) -> usize {
    let log = i.log_text();
    log.matches("cancel relay: listening on channel").count() + log.matches("cancel relay: listening again").count()
}

async fn wait_listening(i: &Instance, times: usize) {
    let ok = eventually(Duration::from_secs(20), || listening_count(i) >= times).await;
    assert!(ok, "instance {}: relay not listening ({times} times expected); log:\n{}", i.name, i.log_text());
}

/// A session logged in on `i` with its id and cancel key, running [`ENDLESS`].
async fn running_statement(i: &Instance) -> (Client, u64, [u8; 16]) {
    let mut c = i.connect().await;
    let ServerMessage::FirstFactorOk { session_id, cancel_key, .. } = login(&mut c, "pat", "pat-pw", None).await else {
        panic!("pat logs in with a password")
    };
    c.send(ClientMessage::ExecDirect { sql: ENDLESS.into(), params: no_params(), fetch_rows: 0 }).await;
    // Let the statement start (a cancel before it would find nothing to interrupt).
    tokio::time::sleep(Duration::from_millis(300)).await;
    (c, session_id, *cancel_key.expose())
}

/// Sends Cancel to `i` and checks the reply: always Ok, then the connection closes.
async fn send_cancel(i: &Instance, session_id: u64, key: [u8; 16]) {
    let mut k = i.connect().await;
    k.send(ClientMessage::Cancel { session_id, key: Secret::new(key) }).await;
    assert_eq!(k.recv().await, Some(ServerMessage::Ok), "the reply never says whether anything was cancelled");
    assert_eq!(k.recv().await, None);
}

/// Waits up to `within` for the statement's answer: HY008 (cancelled) or None (still
/// running).
async fn answer_within(c: &mut Client, within: Duration) -> Option<ServerMessage> {
    tokio::time::timeout(within, c.recv()).await.ok().map(|m| m.expect("the session stays open"))
}

/// Cancels through `via` (which does not hold the session) and asserts the statement on
/// the other instance stops within [`BOUND`]; the session goes on.
async fn cancel_through(via: &Instance, c: &mut Client, session_id: u64, key: [u8; 16]) -> Duration {
    let sent = Instant::now();
    send_cancel(via, session_id, key).await;
    let answer = answer_within(c, BOUND).await;
    let took = sent.elapsed();
    let answer =
        answer.unwrap_or_else(|| panic!("not cancelled within {BOUND:?}; {} log:\n{}", via.name, via.log_text()));
    assert_error(&answer, "HY008", 9, false);
    c.send(ClientMessage::Ping).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Pong), "the session goes on after the cancel");
    took
}

#[test]
fn a_cancel_sent_to_the_other_instance_stops_the_statement_within_two_seconds() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = layout(root.path(), &db);
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        wait_listening(&a, 1).await;
        wait_listening(&b, 1).await;
        for round in 0..3 {
            let (mut c, session_id, key) = running_statement(&a).await;
            let took = cancel_through(&b, &mut c, session_id, key).await;
            eprintln!("round {round}: relayed cancel answered {took:?} after it was sent to B");
        }
        // And the other way round.
        let (mut c, session_id, key) = running_statement(&b).await;
        let took = cancel_through(&a, &mut c, session_id, key).await;
        eprintln!("B's session cancelled through A after {took:?}");
        let text = b.log_text();
        assert!(text.contains("cancel relayed through PostgreSQL: cancel request for session"), "{text}");
        assert!(!text.contains(&data_encoding::HEXLOWER.encode(&key)), "the key never appears in a log");
    });
}

#[test]
fn a_cancel_with_a_wrong_key_sent_to_the_other_instance_cancels_nothing() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = layout(root.path(), &db);
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        wait_listening(&a, 1).await;
        wait_listening(&b, 1).await;
        let (mut c, session_id, key) = running_statement(&a).await;
        let mut wrong = key;
        wrong[0] ^= 0x80;
        send_cancel(&b, session_id, wrong).await;
        // A unknown session id too: the same reply, nothing relayed reaches a session.
        send_cancel(&b, session_id ^ 1, key).await;
        assert_eq!(answer_within(&mut c, Duration::from_secs(3)).await, None, "still running after 3 s");
        // The relay did deliver it: A saw the wrong proof and ignored it.
        let seen = eventually(Duration::from_secs(2), || a.log_text().contains("with a wrong key; ignored")).await;
        assert!(seen, "A's log:\n{}", a.log_text());
        // The right key, straight to A, still cancels (the session was left as it was).
        send_cancel(&a, session_id, key).await;
        assert_error(&answer_within(&mut c, BOUND).await.expect("cancelled"), "HY008", 9, false);
    });
}

#[test]
fn after_postgresql_restarts_the_relay_listens_again_and_a_relayed_cancel_works() {
    let Some(pg) = PgServer::private() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = layout(root.path(), &db);
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        wait_listening(&a, 1).await;
        wait_listening(&b, 1).await;
        let stopping = Instant::now();
        tokio::task::block_in_place(|| pg.stop());
        let stopped = Instant::now();
        eprintln!("PostgreSQL stopped in {:?}", stopping.elapsed());
        for i in [&a, &b] {
            let lost =
                eventually(Duration::from_secs(15), || i.log_text().contains("cancel relay: connection to")).await;
            assert!(lost, "instance {}: the relay did not notice PostgreSQL stopping:\n{}", i.name, i.log_text());
        }
        eprintln!("both relays saw the connection lost {:?} after the stop", stopped.elapsed());
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| pg.start_again());
        let started = Instant::now();
        wait_listening(&a, 2).await;
        wait_listening(&b, 2).await;
        eprintln!("both relays listening again {:?} after PostgreSQL started", started.elapsed());
        // The user store is back too; a new session on A, cancelled through B.
        let (mut c, session_id, key) = running_statement(&a).await;
        let took = cancel_through(&b, &mut c, session_id, key).await;
        eprintln!("relayed cancel after the restart answered in {took:?}");
    });
}

#[test]
fn a_flood_of_bogus_cancels_on_one_instance_sends_at_most_fifty_notifications_a_second() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    // What reaches PostgreSQL, seen by a listener of the test's own.
    let mut watcher = db.client();
    watcher.batch_execute("LISTEN twofactor_cancel").unwrap();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, |t| set(t, "auth", "address_max_pending_logins", 64));
    let b = layout.start("b");
    let watching = Duration::from_secs(6);
    let counter = std::thread::spawn(move || {
        use postgres::fallible_iterator::FallibleIterator;
        let until = Instant::now() + watching;
        let mut seen = 0usize;
        while Instant::now() < until {
            let mut n = watcher.notifications();
            let mut it = n.timeout_iter(Duration::from_millis(100));
            while let Some(note) = it.next().unwrap() {
                assert_eq!(note.payload().len(), 83, "every payload has the fixed length");
                seen += 1;
            }
        }
        seen
    });
    let flood = 400u64;
    let elapsed = runtime().block_on(async {
        wait_listening(&b, 1).await;
        let started = Instant::now();
        let senders: Vec<_> = (0..4u64)
            .map(|t| {
                let (addr, connector) = (b.addr, b.connector.clone());
                tokio::spawn(async move {
                    for i in 0..flood / 4 {
                        let mut k = fleet::connect_via(addr, &connector).await.unwrap();
                        k.send(ClientMessage::Cancel { session_id: (t << 32) | i | 1, key: Secret::new([7; 16]) })
                            .await;
                        assert_eq!(k.recv().await, Some(ServerMessage::Ok));
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        let elapsed = started.elapsed();
        // The count of what was dropped is logged by the first cancel of the next second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        send_cancel(&b, 12345, [7; 16]).await;
        elapsed
    });
    let seen = counter.join().unwrap();
    let windows = elapsed.as_secs() as usize + 2;
    eprintln!("{flood} bogus cancels in {elapsed:?}: {seen} notifications reached PostgreSQL");
    assert!(seen >= 1, "the relay sent nothing");
    assert!(seen <= 50 * windows + 1, "{seen} notifications for {flood} cancels in {elapsed:?}");
    assert!(elapsed < watching, "the watcher stopped before the flood ended");
    let text = b.log_text();
    assert!(text.contains("were not relayed in the last second (over 50/s,"), "{text}");
}

#[test]
fn with_sql_on_postgresql_a_cancel_sent_to_the_other_instance_stops_the_statement() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let password_file = db.password_file(root.path());
    // SQL on the store's database as its login role (pat maps to it).
    let layout = Layout::on_postgres(root.path(), &db, |t| {
        set(t, "auth", "backoff_base_ms", 0);
        set(t, "sql", "backend", "postgres");
        let mut section = toml::Table::new();
        section.insert("url".into(), db.url().into());
        section.insert("ca_file".into(), db.ca_file.display().to_string().into());
        section.insert("password_file".into(), password_file.display().to_string().into());
        section.insert("role_map".into(), "table".into());
        let sql = t.get_mut("sql").unwrap().as_table_mut().unwrap();
        sql.insert("postgres".into(), toml::Value::Table(section));
        sql.insert(
            "roles".into(),
            toml::Value::Table(toml::Table::from_iter([("pat".into(), db.role.clone().into())])),
        );
    });
    layout.add_password_user("pat", "pat-pw");
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        wait_listening(&a, 1).await;
        wait_listening(&b, 1).await;
        let mut c = a.connect().await;
        let ServerMessage::FirstFactorOk { session_id, cancel_key, .. } = login(&mut c, "pat", "pat-pw", None).await
        else {
            panic!("pat logs in with a password")
        };
        // The session's PostgreSQL connection exists before the statement to cancel.
        select_one(&mut c).await;
        c.send(ClientMessage::ExecDirect { sql: "SELECT pg_sleep(60)".into(), params: no_params(), fetch_rows: 0 })
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = Instant::now();
        send_cancel(&b, session_id, *cancel_key.expose()).await;
        let answer = answer_within(&mut c, BOUND).await.unwrap_or_else(|| panic!("not cancelled within {BOUND:?}"));
        match &answer {
            ServerMessage::Error(e) => assert_eq!(e.sqlstate_str(), "HY008", "{}", e.message),
            other => panic!("expected HY008, got {other:?}"),
        }
        eprintln!("pg_sleep on PostgreSQL cancelled through B after {:?}", sent.elapsed());
        select_one(&mut c).await;
    });
}

/// Runs `SELECT 1` and reads its whole answer (the description, then rows until the
/// last batch).
async fn select_one(c: &mut Client) {
    let answer = c.exec("SELECT 1", no_params()).await;
    assert!(matches!(answer, ServerMessage::ResultSet { .. }), "{answer:?}");
    loop {
        match c.recv().await {
            Some(ServerMessage::Rows { last: true, .. }) => break,
            Some(ServerMessage::Rows { .. }) => {}
            other => panic!("rows of SELECT 1: {other:?}"),
        }
    }
}
