//! Server instances as processes: the real `twofactor-server` binary started with
//! `serve`, several of them on one data layout, probed on their readiness port, signalled
//! like a supervisor would, and logged into over the protocol with real TLS.
//!
//! A layout is one data directory made by `init` (the template). Instances on a SQLite
//! store all serve that directory (SQLite's WAL lets processes on one machine share
//! `users.db`); instances on a PostgreSQL store each get a directory of their own holding
//! copies of the template's `server.toml`, `secrets.key` and TLS files, as separate
//! machines would. Users are set up through the admin commands, so whatever the store is,
//! they reach it the way an administrator's would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use twofactor_pg_testkit::TestDb;
use twofactor_protocol::{ClientMessage, ServerMessage, PROTOCOL_VERSION};
use twofactor_server::init::{init_data_dir, InitOptions};
use twofactor_server::totp::{Algorithm, TotpParams};

use crate::common::Client;

pub const BIN: &str = env!("CARGO_BIN_EXE_twofactor-server");
/// The TOTP key every TOTP user of these tests gets (base-32 in [`otpauth_uri`]).
pub const SECRET: &[u8] = b"fleet-shared-secret!";
pub const PARAMS: TotpParams = TotpParams { algorithm: Algorithm::Sha1, digits: 6, period_secs: 30 };

/// Files an instance of its own needs from the template (not `ca.key`: an instance never
/// signs certificates).
const INSTANCE_FILES: &[&str] = &["server.toml", "secrets.key", "ca.pem", "server.pem", "server.key"];

pub struct Layout {
    pub root: PathBuf,
    /// The directory `init` made; the admin commands run against it.
    pub template: PathBuf,
    /// Each instance has a directory of its own (a shared store elsewhere: PostgreSQL).
    separate: bool,
}

impl Layout {
    /// `init` with cheap hashing and a readiness port per instance, then `config` edits
    /// the parsed `server.toml` (a missing section is created).
    pub fn new(root: &Path, config: impl FnOnce(&mut toml::Table)) -> Layout {
        let template = root.join("template");
        init_data_dir(&template, &InitOptions { listen: "127.0.0.1:0".into(), hostnames: vec!["localhost".into()] })
            .unwrap();
        edit_config(&template, |t| {
            set(t, "auth", "argon2_memory_kib", 64);
            set(t, "auth", "argon2_iterations", 1);
            set(t, "server", "health_listen", "127.0.0.1:0");
            config(t);
        });
        Layout { root: root.to_owned(), template, separate: false }
    }

    /// A layout whose user store is the PostgreSQL database `db` (TLS verified against
    /// its CA, the password in a 0600 file); each instance gets a directory of its own.
    pub fn on_postgres(root: &Path, db: &TestDb<'_>, config: impl FnOnce(&mut toml::Table)) -> Layout {
        let password_file = db.password_file(root);
        let layout = Layout::new(root, |t| {
            set(t, "store", "url", db.url());
            set(t, "store", "ca_file", db.ca_file.display().to_string());
            set(t, "store", "password_file", password_file.display().to_string());
            set(t, "store", "pool_size", 8);
            config(t);
        });
        layout.separate_instances()
    }

    /// Instances get directories of their own from now on (their store is shared
    /// elsewhere).
    pub fn separate_instances(mut self) -> Layout {
        self.separate = true;
        self
    }

    /// The data directory instance `name` serves.
    pub fn instance_dir(&self, name: &str) -> PathBuf {
        if !self.separate {
            return self.template.clone();
        }
        let dir = self.root.join(name);
        if !dir.exists() {
            std::fs::create_dir(&dir).unwrap();
            for f in INSTANCE_FILES {
                std::fs::copy(self.template.join(f), dir.join(f)).unwrap();
            }
            // Per instance, as on separate machines: its own audit log.
            edit_config(&dir, |t| set(t, "audit", "file", format!("audit-{name}.log")));
        }
        dir
    }

    pub fn start(&self, name: &str) -> Instance {
        Instance::start(&self.instance_dir(name), name)
    }

    /// Runs an admin command against the template's store; panics (with its output) if
    /// it fails.
    pub fn admin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.admin_result(args, stdin);
        assert!(ok, "twofactor-server {args:?} failed:\n{out}{err}");
        out
    }

    pub fn admin_result(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        admin_in(&self.template, args, stdin)
    }

    /// A user who logs in with a password alone.
    pub fn add_password_user(&self, name: &str, password: &str) {
        self.admin(&["user", "add", name, "--password-stdin"], Some(&format!("{password}\n")));
        self.admin(&["user", "two-factor", name, "off"], None);
    }

    /// A user with the TOTP key [`SECRET`].
    pub fn add_totp_user(&self, name: &str, password: &str) {
        self.admin(&["user", "add", name, "--password-stdin"], Some(&format!("{password}\n")));
        self.admin(&["totp", "import", name, &otpauth_uri(name)], None);
    }
}

/// Runs `twofactor-server ARGS --data-dir DIR`.
pub fn admin_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

pub fn otpauth_uri(name: &str) -> String {
    let secret = data_encoding::BASE32_NOPAD.encode(SECRET);
    format!("otpauth://totp/TwoFactor:{name}?secret={secret}&issuer=TwoFactor&algorithm=SHA1&digits=6&period=30")
}

/// The TOTP code of [`SECRET`] now, by the system clock the servers use.
pub fn code_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    PARAMS.code_at_time(SECRET, now)
}

/// Seconds left in the current TOTP step.
pub fn step_left() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    30 - now % 30
}

/// Edits `DIR/server.toml` through its parsed form.
pub fn edit_config(dir: &Path, edit: impl FnOnce(&mut toml::Table)) {
    let path = dir.join("server.toml");
    let mut table: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    edit(&mut table);
    std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
}

/// Sets `[section] key = value`, creating the section if need be.
pub fn set(table: &mut toml::Table, section: &str, key: &str, value: impl Into<toml::Value>) {
    let entry = table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    entry.as_table_mut().unwrap().insert(key.to_string(), value.into());
}

/// A `twofactor-server serve` process; killed (SIGKILL) when dropped if still running.
pub struct Instance {
    pub name: String,
    child: Child,
    pub addr: SocketAddr,
    /// The readiness port.
    pub health: SocketAddr,
    pub data: PathBuf,
    pub log: PathBuf,
    pub connector: TlsConnector,
    exit: Option<ExitStatus>,
}

impl Instance {
    /// Starts `serve --listen 127.0.0.1:0` on `data` (whose config has a readiness port)
    /// and waits for it to say where it listens.
    pub fn start(data: &Path, name: &str) -> Instance {
        let log = data.parent().unwrap().join(format!("{name}.log"));
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let mut line = |prefix: &str| {
            let mut l = String::new();
            lines.read_line(&mut l).unwrap();
            let rest = l.trim().strip_prefix(prefix).map(str::to_owned);
            rest.unwrap_or_else(|| {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("instance {name}: expected `{prefix}...`, got {l:?}; log:\n{text}")
            })
        };
        let addr = line("listening on ").parse().unwrap();
        let health = line("readiness on http://").trim_end_matches("/ready").parse().unwrap();
        let connector = TlsConnector::from(twofactor_server::tls::client_config(&data.join("ca.pem")).unwrap());
        Instance { name: name.into(), child, addr, health, data: data.to_owned(), log, connector, exit: None }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as systemd, Kubernetes or `haproxy`-fronted rolling restarts do.
    pub fn sigterm(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    }

    pub fn sigint(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    }

    /// The exit status if the process ends within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        while self.exit.is_none() && Instant::now() < until {
            self.exit = self.child.try_wait().unwrap();
            if self.exit.is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.exit
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A TLS connection that has said Hello.
    pub async fn connect(&self) -> Client {
        connect_via(self.addr, &self.connector).await.unwrap_or_else(|e| panic!("instance {}: {e}", self.name))
    }

    /// `GET path` on the readiness port: the status and the body.
    pub async fn probe(&self, path: &str) -> (u16, String) {
        http_get(self.health, path).await.unwrap_or_else(|e| panic!("instance {}: probe {path}: {e}", self.name))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A connection to `addr` (an instance or a balancer in front of some) that has said
/// Hello; an error if it cannot be made or is refused.
pub async fn connect_via(addr: SocketAddr, connector: &TlsConnector) -> Result<Client, String> {
    connect_after(addr, connector, &[]).await
}

/// [`connect_via`], sending `prefix` (a PROXY protocol header, say) before TLS.
pub async fn connect_after(addr: SocketAddr, connector: &TlsConnector, prefix: &[u8]) -> Result<Client, String> {
    let mut tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.write_all(prefix).await.map_err(|e| format!("{addr}: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| format!("{addr}: TLS handshake timed out"))?
        .map_err(|e| format!("{addr}: TLS: {e}"))?;
    let mut c = Client { tls, buf: Vec::new() };
    c.send(ClientMessage::Hello { min_version: 1, max_version: PROTOCOL_VERSION, client_name: "fleet".into() }).await;
    match c.recv().await {
        Some(ServerMessage::HelloOk { .. }) => Ok(c),
        other => Err(format!("{addr}: Hello answered with {other:?}")),
    }
}

/// Logs in with a password and, when asked for one, `code`; the server's last answer.
pub async fn login(c: &mut Client, user: &str, password: &str, code: Option<&str>) -> ServerMessage {
    c.send(ClientMessage::Login { user: user.into(), password: password.into() }).await;
    let Some(first) = c.recv().await else {
        return ServerMessage::Error(twofactor_protocol::ErrorInfo::new(b"08S01", 0, "closed after Login"));
    };
    match (&first, code) {
        (
            ServerMessage::FirstFactorOk { second_factor: twofactor_protocol::SecondFactor::Required { .. }, .. },
            Some(code),
        ) => {
            c.send(ClientMessage::SecondFactor { code: code.into() }).await;
            c.recv().await.unwrap_or_else(|| {
                ServerMessage::Error(twofactor_protocol::ErrorInfo::new(b"08S01", 0, "closed after SecondFactor"))
            })
        }
        _ => first,
    }
}

/// Whether a login's last answer means the session may run SQL now.
pub fn logged_in(m: &ServerMessage) -> bool {
    matches!(
        m,
        ServerMessage::SecondFactorOk
            | ServerMessage::FirstFactorOk { second_factor: twofactor_protocol::SecondFactor::NotRequired, .. }
    )
}

/// A minimal HTTP/1.0 GET, as a balancer's health check sends it.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: probe\r\n\r\n").as_bytes()).await.map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut reply))
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    parse_reply(&reply)
}

/// The status and body of an HTTP/1.x reply.
pub fn parse_reply(reply: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(reply);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no header end: {text:?}"))?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("status: {head:?}"))?;
    Ok((status, body.trim_end().to_string()))
}

/// Polls `f` every 50 ms until it is true or `within` has passed; whether it became true.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
