//! Hostile clients against the `twofactor-server` binary, measured from outside: its CPU
//! time and resident memory from /proc, a client process killed with SIGKILL, the server
//! itself killed with SIGKILL, and a low file descriptor limit.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{add_user, no_params, Client};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use twofactor_protocol::{ClientMessage, ServerMessage, ValueRef, PROTOCOL_VERSION};
use twofactor_server::init::{init_data_dir, InitOptions};

struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    connector: TlsConnector,
    data: PathBuf,
    log: PathBuf,
}

/// A data directory with alice (password only: `two_factor = false`), cheap hashing and
/// `extra` lines replacing the defaults they name.
fn data_dir(root: &Path, extra: &[(&str, &str)]) -> PathBuf {
    let data = root.join("data");
    init_data_dir(&data, &InitOptions { listen: "127.0.0.1:0".into(), hostnames: vec!["localhost".into()] }).unwrap();
    let path = data.join("server.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let mut replace = vec![
        ("two_factor = true", "two_factor = false"),
        ("argon2_memory_kib = 19456", "argon2_memory_kib = 64"),
        ("argon2_iterations = 2", "argon2_iterations = 1"),
    ];
    replace.extend_from_slice(extra);
    for (from, to) in replace {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    std::fs::write(&path, text).unwrap();
    add_user(&data, "alice", "alice-pw", false);
    data
}

impl ServerProcess {
    /// Starts `twofactor-server serve`; `shell_prefix` runs before it in `sh -c` (ulimit).
    fn start(data: &Path, shell_prefix: &str) -> ServerProcess {
        let log = data.with_file_name(format!("server-{}.log", std::process::id()));
        let exe = env!("CARGO_BIN_EXE_twofactor-server");
        let script = format!("{shell_prefix} exec \"$0\" serve --data-dir \"$1\"");
        let mut child = Command::new("sh")
            .args(["-c", &script, exe, &data.display().to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line}")).parse().unwrap();
        let connector = TlsConnector::from(twofactor_server::tls::client_config(&data.join("ca.pem")).unwrap());
        ServerProcess { child, addr, connector, data: data.to_owned(), log }
    }

    async fn connect(&self) -> Client {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self.connector.connect(name, tcp).await.unwrap();
        let mut c = Client { tls, buf: Vec::new() };
        c.send(hello()).await;
        assert!(matches!(c.recv().await, Some(ServerMessage::HelloOk { .. })));
        c
    }

    async fn session(&self) -> Client {
        let mut c = self.connect().await;
        assert!(matches!(c.login("alice", "alice-pw").await, ServerMessage::FirstFactorOk { .. }));
        c
    }

    /// User plus system CPU time the server has used so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }

    /// CPU the server uses over the next `window`.
    fn cpu_over(&self, window: Duration) -> Duration {
        let before = self.cpu();
        std::thread::sleep(window);
        self.cpu() - before
    }

    fn rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hello() -> ClientMessage {
    ClientMessage::Hello { min_version: 1, max_version: PROTOCOL_VERSION, client_name: "hostile".into() }
}

fn encoded(m: ClientMessage) -> String {
    let mut out = Vec::new();
    m.encode(&mut out);
    out.iter().map(|b| format!("{b:02x}")).collect()
}

/// A client process, killed (SIGKILL) when dropped if the test has not killed it.
struct ClientProcess(Child);

impl ClientProcess {
    fn kill_9(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A client in its own process (Python's ssl module), sending the frames given as hex
/// and reading one reply after each but the last, then waiting to be killed.
fn client_process(server: &ServerProcess, frames: &[ClientMessage]) -> ClientProcess {
    const SCRIPT: &str = r#"
import socket, ssl, sys, time
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname="localhost")
frames = sys.argv[3:]
for i, f in enumerate(frames):
    s.sendall(bytes.fromhex(f))
    if i + 1 < len(frames):
        s.recv(65536)
print("sent", flush=True)
time.sleep(600)
"#;
    let login = ClientMessage::Login { user: "alice".into(), password: "alice-pw".into() };
    let mut args = vec![encoded(hello()), encoded(login)];
    args.extend(frames.iter().cloned().map(encoded));
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, &server.addr.to_string(), &server.data.join("ca.pem").display().to_string()])
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let stdout = child.stdout.take().unwrap();
    let child = ClientProcess(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "sent");
    child
}

async fn answers(c: &mut Client) {
    c.send(ClientMessage::ExecDirect { sql: "SELECT 6 * 7".into(), params: no_params(), fetch_rows: 0 }).await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
    match c.recv().await {
        Some(ServerMessage::Rows { batch, .. }) => assert_eq!(batch.value(0, 0), ValueRef::Int(42)),
        other => panic!("{other:?}"),
    }
}

const ENDLESS: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_whose_client_was_killed_stops_and_the_cpu_returns_to_idle() {
    let root = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&data_dir(root.path(), &[]), "");
    let query = ClientMessage::ExecDirect { sql: ENDLESS.into(), params: no_params(), fetch_rows: 0 };
    let mut client = client_process(&server, &[query]);
    // The machine may be shared, so the query's CPU is compared with what is left after.
    let busy = server.cpu_over(Duration::from_secs(2));
    client.kill_9();
    std::thread::sleep(Duration::from_millis(500));
    let idle = server.cpu_over(Duration::from_secs(2));
    assert!(
        idle < Duration::from_millis(300) && idle * 4 < busy,
        "the abandoned query was interrupted: {busy:?} of CPU in 2 s while it ran, {idle:?} after"
    );
    answers(&mut server.session().await).await;
    assert!(server.log_text().contains("connection lost during a request"), "{}", server.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_fetch_leaves_the_server_serving_and_idle() {
    let root = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&data_dir(root.path(), &[]), "");
    let mut c = server.session().await;
    let fill = "CREATE TABLE big AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
                SELECT i, hex(randomblob(50)) AS v FROM n";
    c.send(ClientMessage::ExecDirect { sql: fill.into(), params: no_params(), fetch_rows: 0 }).await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ExecuteDone { .. })));
    let select = ClientMessage::ExecDirect { sql: "SELECT i, v FROM big".into(), params: no_params(), fetch_rows: 100 };
    let mut clients: Vec<ClientProcess> =
        (0..3).map(|_| client_process(&server, std::slice::from_ref(&select))).collect();
    for child in &mut clients {
        child.kill_9();
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle = server.cpu_over(Duration::from_secs(2));
    assert!(idle < Duration::from_millis(300), "{idle:?} of CPU in 2 s after the clients died");
    // Their cursors are gone: a write is not held back by their snapshots.
    c.send(ClientMessage::ExecDirect { sql: "DELETE FROM big".into(), params: no_params(), fetch_rows: 0 }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::ExecuteDone { row_count: 100_000 }));
    answers(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_large_frames_do_not_take_the_server_s_memory() {
    // Regression: 20 connections each sending all but the last byte of a 64 MiB frame took
    // the server to 1,322 MiB. Here 8 send 31 MiB of 32 MiB frames under a 64 MiB budget.
    let root = tempfile::tempdir().unwrap();
    let server =
        ServerProcess::start(&data_dir(root.path(), &[("frame_memory_mib = 512", "frame_memory_mib = 64")]), "");
    let before = server.rss_mib();
    let mut writers = Vec::new();
    for _ in 0..8 {
        let mut c = server.session().await;
        writers.push(tokio::spawn(async move {
            let mut header = vec![0x20u8];
            header.extend_from_slice(&(32u32 << 20).to_le_bytes());
            let _ = c.tls.write_all(&header).await;
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..31 {
                if tokio::time::timeout(Duration::from_secs(20), c.tls.write_all(&chunk)).await.is_err() {
                    break;
                }
            }
            c
        }));
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let grown = server.rss_mib().saturating_sub(before);
    assert!(grown < 160, "the server grew by {grown} MiB for 248 MiB of unfinished frames");
    answers(&mut server.session().await).await;
    for w in writers {
        w.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_rows_survive_a_kill_of_the_server() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), &[]);
    let server = ServerProcess::start(&data, "");
    let mut c = server.session().await;
    for sql in ["CREATE TABLE kept (i INTEGER)", "INSERT INTO kept VALUES (1), (2), (3)"] {
        c.send(ClientMessage::ExecDirect { sql: sql.into(), params: no_params(), fetch_rows: 0 }).await;
        assert!(matches!(c.recv().await, Some(ServerMessage::ExecuteDone { .. })));
    }
    c.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));
    c.send(ClientMessage::ExecDirect { sql: "INSERT INTO kept VALUES (4)".into(), params: no_params(), fetch_rows: 0 })
        .await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ExecuteDone { .. })));
    server.kill(); // SIGKILL with a transaction open
    let server = ServerProcess::start(&data, "");
    let mut c = server.session().await;
    c.send(ClientMessage::ExecDirect { sql: "SELECT sum(i) FROM kept".into(), params: no_params(), fetch_rows: 0 })
        .await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
    match c.recv().await {
        Some(ServerMessage::Rows { batch, .. }) => assert_eq!(batch.value(0, 0), ValueRef::Int(6)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_descriptor_limit_is_raised_and_connections_fit_what_is_left() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), &[]);
    let server = ServerProcess::start(&data, "ulimit -S -n 100 && ulimit -H -n 200 &&");
    let log = server.log_text();
    assert!(log.contains("RLIMIT_NOFILE raised from 100 to 200"), "{log}");
    assert!(log.contains("accepting at most 34 connections"), "{log}");
    // More clients than fit: the extra ones are refused, the server stays up.
    let started = Instant::now();
    let mut open = Vec::new();
    for _ in 0..40 {
        if let Ok(tcp) = TcpStream::connect(server.addr).await {
            open.push(tcp);
        }
    }
    drop(open);
    // Once the server has seen them go, their places are free again.
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    loop {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        if let Ok(tls) = server.connector.connect(name.clone(), tcp).await {
            let mut c = Client { tls, buf: Vec::new() };
            c.send(hello()).await;
            assert!(matches!(c.recv().await, Some(ServerMessage::HelloOk { .. })));
            assert!(matches!(c.login("alice", "alice-pw").await, ServerMessage::FirstFactorOk { .. }));
            answers(&mut c).await;
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the server serves again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
