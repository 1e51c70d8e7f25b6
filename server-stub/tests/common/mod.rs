//! The harness the integration tests share: a real server on 127.0.0.1 port 0 with real
//! TLS, and a client speaking the protocol crate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use twofactor_protocol::{ClientMessage, RowBatch, RowBatchBuilder, ServerMessage, MAX_FRAME_LEN, PROTOCOL_VERSION};
use twofactor_server::crypto::SecretsKey;
use twofactor_server::init::{init_data_dir, InitOptions};
use twofactor_server::password::{hash_password, HashCost};
use twofactor_server::store::{SqliteUserStore, TotpEnrolment, UserStore};
use twofactor_server::totp::{Algorithm, TotpParams};
use twofactor_server::{tls, Clock, Config, ManualClock, Server, ServerHandle};

pub const CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
pub const SECRET: &[u8] = b"integration-secret!!";
pub const PARAMS: TotpParams = TotpParams { algorithm: Algorithm::Sha1, digits: 6, period_secs: 30 };
pub const T0: i64 = 1_800_000_000;

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub server: ServerHandle,
    pub clock: Arc<ManualClock>,
    pub connector: TlsConnector,
    /// The data directory (users.db, audit.log, secrets.key).
    pub data: PathBuf,
    pub config: Config,
}

pub fn add_user(dir: &Path, name: &str, password: &str, enrol: bool) {
    let store = SqliteUserStore::open(&dir.join("users.db")).unwrap();
    store.create_user(name, &hash_password(password, CHEAP).unwrap()).unwrap();
    if enrol {
        let key = SecretsKey::load(&dir.join("secrets.key")).unwrap();
        let sealed_secret = key.seal(name, SECRET);
        store.set_totp(name, &TotpEnrolment { sealed_secret, algorithm: "SHA1".into(), digits: 6 }).unwrap();
    }
}

pub async fn start(tweak: impl FnOnce(&mut Config)) -> Fixture {
    start_with(tweak, |_| {}).await
}

/// A server with alice and bob (TOTP) and carol (unenrolled), after `tweak` changed the
/// config and `setup` the data directory.
pub async fn start_with(tweak: impl FnOnce(&mut Config), setup: impl FnOnce(&Path)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init_data_dir(&data, &InitOptions { listen: "127.0.0.1:0".into(), hostnames: vec!["localhost".into()] }).unwrap();
    let mut config = Config::load(&data).unwrap();
    config.auth.argon2_memory_kib = CHEAP.memory_kib;
    config.auth.argon2_iterations = CHEAP.iterations;
    tweak(&mut config);
    add_user(&data, "alice", "alice-pw", true);
    add_user(&data, "bob", "bob-pw", true);
    add_user(&data, "carol", "carol-pw", false);
    setup(&data);
    let clock = Arc::new(ManualClock::new(T0));
    let server = Server::start(config.clone(), clock.clone()).await.unwrap();
    let connector = TlsConnector::from(tls::client_config(&data.join("ca.pem")).unwrap());
    Fixture { _dir: dir, server, clock, connector, data, config }
}

pub struct Client {
    pub tls: TlsStream<TcpStream>,
    pub buf: Vec<u8>,
}

impl Client {
    pub async fn connect(f: &Fixture) -> Client {
        let tcp = TcpStream::connect(f.server.local_addr()).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = f.connector.connect(name, tcp).await.unwrap();
        let mut c = Client { tls, buf: Vec::new() };
        c.send(ClientMessage::Hello { min_version: 1, max_version: PROTOCOL_VERSION, client_name: "test".into() })
            .await;
        assert!(matches!(c.recv().await, Some(ServerMessage::HelloOk { .. })));
        c
    }

    pub async fn send(&mut self, m: ClientMessage) {
        let mut out = Vec::new();
        m.encode(&mut out);
        self.send_raw(&out).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        // The server may have closed already; the next recv tells.
        let _ = self.tls.write_all(bytes).await;
        let _ = self.tls.flush().await;
    }

    /// The next message, or None once the server has closed the connection.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some((m, n)) = ServerMessage::decode(&self.buf, MAX_FRAME_LEN).unwrap() {
                self.buf.drain(..n);
                return Some(m);
            }
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.tls.read(&mut chunk)).await.expect("reply in time");
            match n {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn login(&mut self, user: &str, password: &str) -> ServerMessage {
        self.send(ClientMessage::Login { user: user.into(), password: password.into() }).await;
        self.recv().await.unwrap()
    }

    pub async fn code(&mut self, code: &str) -> ServerMessage {
        self.send(ClientMessage::SecondFactor { code: code.into() }).await;
        self.recv().await.unwrap()
    }

    /// This connection's TLS exporter, which ticket proofs are bound to.
    pub fn exporter(&self) -> [u8; twofactor_protocol::proof::EXPORTER_LEN] {
        let (_, conn) = self.tls.get_ref();
        conn.export_keying_material(
            [0u8; twofactor_protocol::proof::EXPORTER_LEN],
            twofactor_protocol::proof::EXPORTER_LABEL,
            None,
        )
        .unwrap()
    }

    pub async fn login_with_ticket(
        &mut self,
        user: &str,
        password: &str,
        ticket_id: &[u8],
        proof: Vec<u8>,
    ) -> ServerMessage {
        let ticket_id = twofactor_protocol::Secret::new(ticket_id.to_vec());
        self.send(ClientMessage::LoginWithTicket { user: user.into(), password: password.into(), ticket_id, proof })
            .await;
        self.recv().await.unwrap()
    }

    pub async fn exec(&mut self, sql: &str, params: RowBatch) -> ServerMessage {
        self.send(ClientMessage::ExecDirect { sql: sql.into(), params, fetch_rows: 0 }).await;
        self.recv().await.unwrap()
    }
}

/// The data directory's audit log, one JSON object per line.
pub fn audit_lines(f: &Fixture) -> Vec<serde_json::Value> {
    std::fs::read_to_string(f.data.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

pub fn no_params() -> RowBatch {
    RowBatchBuilder::new(0).finish()
}

pub fn code_now(f: &Fixture) -> String {
    PARAMS.code_at_time(SECRET, f.clock.now())
}

pub fn wrong_code(f: &Fixture) -> String {
    let right = code_now(f);
    format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000)
}

pub fn assert_error(m: &ServerMessage, state: &str, native: i32, fatal: bool) {
    match m {
        ServerMessage::Error(e) => {
            assert_eq!((e.sqlstate_str(), e.native, e.fatal), (state, native, fatal), "{}", e.message);
        }
        other => panic!("expected error {state}/{native}, got {other:?}"),
    }
}

pub async fn logged_in(f: &Fixture, user: &str, password: &str) -> Client {
    let mut c = Client::connect(f).await;
    assert!(matches!(c.login(user, password).await, ServerMessage::FirstFactorOk { .. }));
    assert_eq!(c.code(&code_now(f)).await, ServerMessage::SecondFactorOk);
    c
}
