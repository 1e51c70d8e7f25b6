//! Cancel behind a real HAProxy with `balance roundrobin`: the tested configuration of
//! docs/deployment.md (tests/haproxy/haproxy.cfg) with its balance line swapped, so a
//! client's next connection, the one that carries its Cancel, goes to the other
//! instance. The statement still stops: that instance relays the cancel through the
//! PostgreSQL store.
//!
//! Needs `haproxy` (skipped with a message without it, unless
//! `TWOFACTOR_REQUIRE_HAPROXY=1`) and the shared test cluster.

mod common;
mod fleet;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_error, no_params};
use fleet::{connect_via, login, set, Instance, Layout};
use twofactor_pg_testkit::PgServer;
use twofactor_protocol::{ClientMessage, Secret, ServerMessage};

const ENDLESS: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

fn haproxy_installed() -> bool {
    let found = Command::new("haproxy").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        if std::env::var("TWOFACTOR_REQUIRE_HAPROXY").is_ok_and(|v| v == "1") {
            panic!("TWOFACTOR_REQUIRE_HAPROXY=1 but `haproxy` is not installed (apt-get install haproxy)");
        }
        eprintln!("skipped: `haproxy` is not installed (apt-get install haproxy)");
    }
    found
}

/// The tested configuration with `balance roundrobin`, written into `dir`.
fn roundrobin_config(dir: &Path) -> PathBuf {
    let tested = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/haproxy/haproxy.cfg");
    let text = std::fs::read_to_string(tested).unwrap();
    assert!(text.contains("    balance leastconn\n"), "the tested file's balance line moved");
    let path = dir.join("haproxy-roundrobin.cfg");
    std::fs::write(&path, text.replace("    balance leastconn\n", "    balance roundrobin\n")).unwrap();
    path
}

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_haproxy(dir: &Path, a: &Instance, b: &Instance) -> (Haproxy, std::net::SocketAddr) {
    let front = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(roundrobin_config(dir))
        .env("TF_FRONT", front.to_string())
        .env("TF_A", a.addr.to_string())
        .env("TF_B", b.addr.to_string())
        .env("TF_A_CHECK_PORT", a.health.port().to_string())
        .env("TF_B_CHECK_PORT", b.health.port().to_string())
        .env("TF_ADMIN_SOCKET", dir.join("haproxy.sock"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("haproxy");
    (Haproxy(child), front)
}

fn relay_listening(i: &Instance) -> bool {
    i.log_text().contains("cancel relay: listening on channel")
}

/// Cancels the instance answered without finding the session here.
fn no_match_logged(i: &Instance) -> usize {
    i.log_text().matches("cancel request for no matching session").count()
}

/// Whether `show stat` on HAProxy's admin socket says both instances are UP.
async fn both_up(socket: &Path) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::UnixStream::connect(socket).await else { return false };
    if s.write_all(b"show stat\n").await.is_err() {
        return false;
    }
    let mut out = String::new();
    if s.read_to_string(&mut out).await.is_err() {
        return false;
    }
    ["a", "b"]
        .iter()
        .all(|name| out.lines().any(|l| l.starts_with(&format!("twofactor_instances,{name},")) && l.contains(",UP,")))
}

fn sessions_started(i: &Instance) -> usize {
    i.log_text().matches("` logged in").count()
}

#[test]
fn behind_haproxy_roundrobin_a_cancel_landing_on_the_other_instance_stops_the_statement() {
    if !haproxy_installed() {
        return;
    }
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, |t| {
        set(t, "auth", "backoff_base_ms", 0);
        set(t, "server", "proxy_protocol_from", toml::Value::Array(vec!["127.0.0.1".into()]));
    });
    layout.add_password_user("pat", "pat-pw");
    let (a, b) = (layout.start("a"), layout.start("b"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        assert!(fleet::eventually(Duration::from_secs(20), || relay_listening(&a) && relay_listening(&b)).await);
        let (_haproxy, front) = start_haproxy(root.path(), &a, &b);
        // Until both are UP, roundrobin would send everything to the one that is.
        let socket = root.path().join("haproxy.sock");
        let until = Instant::now() + Duration::from_secs(10);
        while !both_up(&socket).await {
            assert!(Instant::now() < until, "haproxy: both instances not UP within 10 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut other_side = 0;
        for round in 0..4 {
            let before = [sessions_started(&a), sessions_started(&b)];
            let no_match_before = [no_match_logged(&a), no_match_logged(&b)];
            let mut c = connect_via(front, &a.connector).await.unwrap();
            let ServerMessage::FirstFactorOk { session_id, cancel_key, .. } =
                login(&mut c, "pat", "pat-pw", None).await
            else {
                panic!("pat logs in through haproxy")
            };
            c.send(ClientMessage::ExecDirect { sql: ENDLESS.into(), params: no_params(), fetch_rows: 0 }).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let holder = if sessions_started(&a) > before[0] { "a" } else { "b" };
            let sent = Instant::now();
            let mut k = connect_via(front, &a.connector).await.unwrap();
            k.send(ClientMessage::Cancel { session_id, key: Secret::new(*cancel_key.expose()) }).await;
            assert_eq!(k.recv().await, Some(ServerMessage::Ok));
            let answer = tokio::time::timeout(Duration::from_secs(2), c.recv())
                .await
                .unwrap_or_else(|_| panic!("round {round}: not cancelled within 2 s"))
                .unwrap();
            assert_error(&answer, "HY008", 9, false);
            let took = sent.elapsed();
            // Where the Cancel went: the instance without the session logs it found none.
            let not_holder = if holder == "a" { &b } else { &a };
            if no_match_logged(not_holder) > no_match_before[usize::from(holder == "a")] {
                other_side += 1;
            }
            eprintln!("round {round}: session on {holder}, cancelled after {took:?}");
            c.send(ClientMessage::Terminate).await;
        }
        // Roundrobin alternates: each Cancel, the connection after its session's, went to
        // the instance that does not hold the session.
        assert_eq!(other_side, 4, "Cancels that reached the other instance:\n{}\n{}", a.log_text(), b.log_text());
    });
}
