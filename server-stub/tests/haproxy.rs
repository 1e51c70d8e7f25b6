//! Two instances behind a real HAProxy (Debian's `haproxy`) on loopback, configured by the
//! very file docs/deployment.md shows (tests/haproxy/haproxy.cfg): clients log in through
//! the balancer; one instance gets SIGTERM; HAProxy sees its readiness fail and sends new
//! logins to the other, while a transaction open on the stopped one may still commit; the
//! stopped one exits 0 within its drain deadline.
//!
//! The instances share the PostgreSQL user store of the test cluster (twofactor-pg-testkit,
//! as a deployment would), or, where none is configured, one SQLite data directory.
//! Without `haproxy` installed the test says so and passes, unless
//! `TWOFACTOR_REQUIRE_HAPROXY=1` (then a missing HAProxy fails it).

mod common;
mod fleet;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{no_params, Client};
use fleet::{connect_via, logged_in, login, set, Instance, Layout};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twofactor_pg_testkit::PgServer;
use twofactor_protocol::{ClientMessage, ServerMessage};

const DRAIN_GRACE_SECS: i64 = 3;
const DRAIN_TIMEOUT_SECS: i64 = 20;

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

/// The tested configuration, shared with docs/deployment.md.
fn config_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/haproxy/haproxy.cfg")
}

struct Haproxy {
    child: Child,
    front: std::net::SocketAddr,
    admin: PathBuf,
    log: PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Haproxy {
    fn start(dir: &Path, a: &Instance, b: &Instance) -> Haproxy {
        let front = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = dir.join("haproxy.sock");
        let log = dir.join("haproxy.log");
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(config_file())
            .env("TF_FRONT", front.to_string())
            .env("TF_A", a.addr.to_string())
            .env("TF_B", b.addr.to_string())
            .env("TF_A_CHECK_PORT", a.health.port().to_string())
            .env("TF_B_CHECK_PORT", b.health.port().to_string())
            .env("TF_ADMIN_SOCKET", &admin)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).unwrap()))
            .spawn()
            .expect("haproxy");
        Haproxy { child, front, admin, log }
    }

    /// `show stat` on the admin socket: the status (UP, DOWN, ...) of server `name`.
    async fn status(&self, name: &str) -> Option<String> {
        let mut s = tokio::net::UnixStream::connect(&self.admin).await.ok()?;
        s.write_all(b"show stat\n").await.ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        let header: Vec<&str> = out.lines().next()?.trim_start_matches("# ").split(',').collect();
        let col = header.iter().position(|h| *h == "status")?;
        let row = out.lines().find(|l| l.starts_with(&format!("twofactor_instances,{name},")))?;
        row.split(',').nth(col).map(str::to_owned)
    }

    async fn wait_status(&self, name: &str, want: &str, within: Duration) {
        let until = Instant::now() + within;
        loop {
            let now = self.status(name).await;
            if now.as_deref().is_some_and(|s| s.starts_with(want)) {
                return;
            }
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            assert!(Instant::now() < until, "haproxy server {name}: {now:?}, not {want}, after {within:?}\n{log}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn logins_served(i: &Instance) -> usize {
    i.log_text().matches("` logged in").count()
}

/// Whether both instances together have logged `n` logins within 5 s.
async fn eventually_served(instances: &[Instance; 2], n: usize) -> bool {
    fleet::eventually(Duration::from_secs(5), || logins_served(&instances[0]) + logins_served(&instances[1]) >= n).await
}

/// Connects through the balancer and logs alice in; the session, or why not.
async fn login_through(front: std::net::SocketAddr, i: &Instance) -> Result<Client, String> {
    let mut c = connect_via(front, &i.connector).await?;
    let answer = login(&mut c, "alice", "alice-pw", None).await;
    if logged_in(&answer) {
        Ok(c)
    } else {
        Err(format!("{answer:?}"))
    }
}

fn drain_keys(t: &mut toml::Table) {
    set(t, "server", "drain_grace_secs", DRAIN_GRACE_SECS);
    set(t, "server", "drain_timeout_secs", DRAIN_TIMEOUT_SECS);
    // HAProxy (on loopback) sends send-proxy-v2 headers.
    set(t, "server", "proxy_protocol_from", toml::Value::Array(vec!["127.0.0.1".into()]));
}

#[test]
fn behind_haproxy_a_sigterm_drains_one_instance_while_logins_go_on_through_the_other() {
    if !haproxy_installed() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    // The database outlives the runtime: it is dropped with the blocking client.
    let pg = std::env::var_os("TWOFACTOR_TEST_PG_DIR").and_then(|_| PgServer::shared());
    let db = pg.map(|pg| pg.create_database());
    let layout = match &db {
        Some(db) => Layout::on_postgres(root.path(), db, drain_keys),
        None => {
            eprintln!("no TWOFACTOR_TEST_PG_DIR: both instances serve one SQLite data directory");
            Layout::new(root.path(), drain_keys)
        }
    };
    layout.add_password_user("alice", "alice-pw");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(drain_behind_haproxy(root.path(), &layout));
}

async fn drain_behind_haproxy(root: &Path, layout: &Layout) {
    let mut instances = [layout.start("a"), layout.start("b")];
    let haproxy = Haproxy::start(root, &instances[0], &instances[1]);
    for name in ["a", "b"] {
        haproxy.wait_status(name, "UP", Duration::from_secs(10)).await;
    }

    // Logins through the balancer reach both instances, which see each client's own
    // address (its port here, all being on loopback) through the PROXY header.
    let mut client_addrs = Vec::new();
    for _ in 0..6 {
        let mut c = login_through(haproxy.front, &instances[0]).await.expect("login through haproxy");
        client_addrs.push(c.tls.get_ref().0.local_addr().unwrap());
        c.send(ClientMessage::Terminate).await;
    }
    // Each instance logs a login just after its answer.
    assert!(eventually_served(&instances, 6).await, "every login is logged");
    let served = [logins_served(&instances[0]), logins_served(&instances[1])];
    assert!(served[0] >= 1 && served[1] >= 1, "both instances serve: {served:?}");
    let logs = instances[0].log_text() + &instances[1].log_text();
    for addr in client_addrs {
        assert!(logs.contains(&format!("{addr}: user `alice` logged in")), "the client's address {addr}:\n{logs}");
    }

    // A session with an open transaction; which instance holds it is what gets SIGTERM.
    let before = [logins_served(&instances[0]), logins_served(&instances[1])];
    let mut held = login_through(haproxy.front, &instances[0]).await.unwrap();
    assert!(eventually_served(&instances, before[0] + before[1] + 1).await);
    held.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(held.recv().await, Some(ServerMessage::Ok));
    let created = held.exec("CREATE TABLE IF NOT EXISTS drained(x)", no_params()).await;
    assert!(matches!(created, ServerMessage::ExecuteDone { .. }), "{created:?}");
    let stopped = if logins_served(&instances[0]) > before[0] { 0 } else { 1 };
    let (stopped_name, other_name) = if stopped == 0 { ("a", "b") } else { ("b", "a") };
    let signalled = Instant::now();
    instances[stopped].sigterm();

    // From the signal on, every new login through the balancer succeeds: first on either
    // instance (the grace), then only on the other.
    let mut logins = 0;
    while signalled.elapsed() < Duration::from_secs(DRAIN_GRACE_SECS as u64 + 2) {
        let mut c = login_through(haproxy.front, &instances[0])
            .await
            .unwrap_or_else(|e| panic!("a login {:?} after SIGTERM failed: {e}", signalled.elapsed()));
        c.send(ClientMessage::Terminate).await;
        logins += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    haproxy.wait_status(stopped_name, "DOWN", Duration::from_secs(1)).await;
    assert!(haproxy.status(other_name).await.is_some_and(|s| s.starts_with("UP")));
    let on_stopped = logins_served(&instances[stopped]);
    let on_other = logins_served(&instances[1 - stopped]);
    for _ in 0..5 {
        login_through(haproxy.front, &instances[0]).await.expect("login after the drain began");
    }
    let other = &instances[1 - stopped];
    assert!(fleet::eventually(Duration::from_secs(5), || logins_served(other) >= on_other + 5).await);
    assert_eq!(logins_served(&instances[stopped]), on_stopped, "no new login reaches the draining instance");

    // The transaction on the stopped instance still commits through the balancer, then
    // its session is closed and the process exits 0 well within its deadline.
    held.send(ClientMessage::EndTransaction { commit: true }).await;
    assert_eq!(held.recv().await, Some(ServerMessage::Ok), "the commit on the draining instance is answered");
    let status = instances[stopped]
        .wait_exit(Duration::from_secs(DRAIN_TIMEOUT_SECS as u64 + 5))
        .expect("the stopped instance exits within its drain deadline");
    assert!(status.success(), "{status:?}\n{}", instances[stopped].log_text());
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(DRAIN_TIMEOUT_SECS as u64), "exited after {took:?}");
    eprintln!("{logins} logins through haproxy during the drain; the stopped instance exited 0 after {took:?}");

    // And logins go on, and their SQL runs (on the instance's own SQL database: with
    // separate data directories, each instance's SQLite data.db is its own).
    let mut c = login_through(haproxy.front, &instances[0]).await.expect("login after the exit");
    let answered = c.exec("SELECT 1", no_params()).await;
    assert!(matches!(answered, ServerMessage::ResultSet { .. }), "{answered:?}");
}
