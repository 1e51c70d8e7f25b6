//! One `twofactor-server` process per test: its own temporary data directory, an
//! ephemeral port, a cheap password hash, and users enrolled through the real CLI.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{driver_library, quote_value, server_binary};

/// Config tweaks written into `server.toml` before the server starts.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub two_factor_timeout_secs: u64,
    pub max_failed_attempts: u32,
    pub skew_steps: u32,
    /// `[sql] fetch_rows`, the server's default batch size.
    pub fetch_rows: Option<u32>,
    /// `(section, key, TOML value)` written into `server.toml`: replaced where `init` wrote
    /// the key, added otherwise (the section is appended when `init` wrote none). How the
    /// PostgreSQL backends are configured (`tests/src/pg.rs`).
    pub config: Vec<(String, String, String)>,
    /// Environment of `serve` and of the admin commands (a PostgreSQL password variable).
    pub env: Vec<(String, String)>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            two_factor_timeout_secs: 120,
            max_failed_attempts: 5,
            skew_steps: 1,
            fetch_rows: None,
            config: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// A running server; killed when dropped. The data directory is removed with it unless
/// `TWOFACTOR_KEEP_TEST_DIRS` is set (then its path is printed for post-mortems).
pub struct TestServer {
    child: Child,
    dir: tempfile::TempDir,
    pub addr: String,
    pub port: u16,
    options: ServerOptions,
}

/// An enrolled user: password and base-32 TOTP secret, and the last time step whose
/// code the harness handed out (the server accepts each step once, later steps only).
pub struct User {
    pub name: String,
    pub password: String,
    pub secret: String,
    last_step: Mutex<Option<u64>>,
    skew_steps: u32,
}

fn run_cli(dir: &Path, env: &[(String, String)], args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new(server_binary());
    cmd.args(args).arg("--data-dir").arg(dir);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", server_binary().display()));
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "twofactor-server {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Replaces `key = ...` inside `[section]` of a TOML file written by `init`.
fn set_toml(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut current = String::new();
    let mut done = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = trimmed.trim_matches(['[', ']']).to_owned();
        }
        let is_key = trimmed.split('=').next().map(str::trim) == Some(key);
        if current == section && is_key && !trimmed.starts_with('#') {
            out.push_str(&format!("{key} = {value}\n"));
            done = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(done, "server.toml has no [{section}] {key}: the server's config changed?");
    out
}

/// Sets `key = value` in `[section]`: replaced if present, else added under the section's
/// header, else in a new section at the end (TOML allows `[sql.postgres]` after `[audit]`).
fn put_toml(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut current = String::new();
    let mut has_section = false;
    let mut has_key = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = trimmed.trim_matches(['[', ']']).to_owned();
            has_section |= current == section;
        } else if current == section && trimmed.split('=').next().map(str::trim) == Some(key) {
            has_key = true;
        }
    }
    if has_key {
        return set_toml(text, section, key, value);
    }
    if !has_section {
        return format!("{text}\n[{section}]\n{key} = {value}\n");
    }
    let header = format!("[{section}]");
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim() == header {
            out.push_str(&format!("{key} = {value}\n"));
        }
    }
    out
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(options: ServerOptions) -> TestServer {
        let dir = tempfile::Builder::new().prefix("twofactor-e2e-").tempdir().expect("tempdir");
        let data = dir.path().join("data");
        run_cli(
            &data,
            &options.env,
            &["init", "--listen", "127.0.0.1:0", "--hostname", "localhost", "--hostname", "127.0.0.1"],
            None,
        );
        let config_path = data.join("server.toml");
        let mut config = std::fs::read_to_string(&config_path).unwrap();
        // A cheap hash: the tests measure the protocol, not Argon2.
        config = set_toml(&config, "auth", "argon2_memory_kib", "64");
        config = set_toml(&config, "auth", "argon2_iterations", "1");
        config = set_toml(&config, "auth", "two_factor_timeout_secs", &options.two_factor_timeout_secs.to_string());
        config = set_toml(&config, "auth", "max_failed_attempts", &options.max_failed_attempts.to_string());
        config = set_toml(&config, "totp", "skew_steps", &options.skew_steps.to_string());
        if let Some(rows) = options.fetch_rows {
            config = set_toml(&config, "sql", "fetch_rows", &rows.to_string());
        }
        for (section, key, value) in &options.config {
            config = put_toml(&config, section, key, value);
        }
        std::fs::write(&config_path, config).unwrap();

        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = Command::new(server_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env("RUST_LOG", "debug")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn twofactor-server serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                panic!("the server did not print `listening on ADDR` within 30 s; its log:\n{log}");
            }
        };
        let port = addr.rsplit(':').next().unwrap().parse().expect("port in the listening line");
        TestServer { child, dir, addr, port, options }
    }

    /// The server's process id (its memory is read from `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("ca.pem")
    }

    /// A scratch directory that lives as long as the server (log files, scripts).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs an admin command against this server's data directory.
    pub fn admin(&self, args: &[&str]) -> String {
        run_cli(&self.data_dir(), &self.options.env, args, None)
    }

    /// A user with a password and an enrolled TOTP secret (two-factor required).
    pub fn user(&self, name: &str) -> User {
        self.user_with_password(name, &format!("pw-{name}-1"))
    }

    /// A user with the given password (a test of quoting in connection strings).
    pub fn user_with_password(&self, name: &str, password: &str) -> User {
        let password = password.to_owned();
        run_cli(
            &self.data_dir(),
            &self.options.env,
            &["user", "add", name, "--password-stdin"],
            Some(&format!("{password}\n")),
        );
        let secret = run_cli(&self.data_dir(), &self.options.env, &["totp", "enrol", name, "--secret-only"], None)
            .trim()
            .to_owned();
        assert!(!secret.is_empty() && !secret.contains(char::is_whitespace), "unexpected secret output `{secret}`");
        User {
            name: name.to_owned(),
            password,
            secret,
            last_step: Mutex::new(None),
            skew_steps: self.options.skew_steps,
        }
    }

    /// A user with a password only: the server does not ask this one for a second factor.
    pub fn user_without_two_factor(&self, name: &str) -> User {
        let user = self.user(name);
        self.admin(&["user", "two-factor", name, "off"]);
        user
    }

    /// A user who must give a second factor but has no TOTP key.
    pub fn unenrolled_user(&self, name: &str) -> User {
        let password = format!("pw-{name}");
        run_cli(
            &self.data_dir(),
            &self.options.env,
            &["user", "add", name, "--password-stdin"],
            Some(&format!("{password}\n")),
        );
        User { name: name.to_owned(), password, secret: String::new(), last_step: Mutex::new(None), skew_steps: 0 }
    }

    /// `Driver=...;Server=127.0.0.1;Port=...;CAFile=...;UID=...;PWD=...` plus `extra`.
    pub fn connection_string(&self, user: &User, extra: &str) -> String {
        self.connection_string_for(&user.name, &user.password, extra)
    }

    /// The same with any user name and password.
    pub fn connection_string_for(&self, name: &str, password: &str, extra: &str) -> String {
        format!(
            "Driver={};Server=127.0.0.1;Port={};CAFile={};UID={};PWD={};{extra}",
            quote_value(&driver_library().display().to_string()),
            self.port,
            quote_value(&self.ca_file().display().to_string()),
            quote_value(name),
            quote_value(password),
        )
    }

    /// The same without credentials.
    pub fn base_connection_string(&self, extra: &str) -> String {
        format!(
            "Driver={};Server=127.0.0.1;Port={};CAFile={};{extra}",
            quote_value(&driver_library().display().to_string()),
            self.port,
            quote_value(&self.ca_file().display().to_string()),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("TWOFACTOR_KEEP_TEST_DIRS").is_some() {
            let path = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
            eprintln!("kept the test server's directory: {}", path.display());
        }
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

impl User {
    fn totp(&self) -> totp_rs::Totp {
        let secret = totp_rs::Secret::try_from_base32(&self.secret).expect("base-32 secret");
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_secret(secret)
            .build_noncompliant()
    }

    /// The code of time step `step` (30 s steps since the epoch).
    pub fn code_at_step(&self, step: u64) -> String {
        self.totp().generate(step * 30).to_string()
    }

    /// A code the server has not seen yet: the earliest step of the skew window later
    /// than the last one handed out; waits for the clock when the window is used up.
    /// The code stays valid for at least 2 s.
    pub fn fresh_code(&self) -> String {
        self.fresh_code_lasting(Duration::from_secs(2))
    }

    /// As `fresh_code`, for a code that reaches the server only after `lasting` (a helper
    /// that sleeps first): the step handed out is still in the window then.
    pub fn fresh_code_lasting(&self, lasting: Duration) -> String {
        let mut last = self.last_step.lock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(95);
        loop {
            let now_secs = unix_now();
            let now = now_secs / 30;
            let lowest = now.saturating_sub(self.skew_steps as u64);
            let first = match *last {
                Some(l) if l >= lowest => l + 1,
                _ => lowest,
            };
            // The server accepts a step until that step plus the skew has passed; the
            // earliest one that is still accepted after `lasting` is taken.
            let lasts = |step: u64| now_secs + lasting.as_secs().max(1) < (step + self.skew_steps as u64 + 1) * 30;
            if let Some(step) = (first..=now + self.skew_steps as u64).find(|&step| lasts(step)) {
                *last = Some(step);
                return self.code_at_step(step);
            }
            assert!(Instant::now() < deadline, "no fresh TOTP step within 95 s");
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The code most recently handed out again (for replay tests).
    pub fn last_code(&self) -> String {
        let last = self.last_step.lock().unwrap().expect("no code handed out yet");
        self.code_at_step(last)
    }

    /// A well-formed code that is not valid anywhere near now.
    pub fn wrong_code(&self) -> String {
        let now = unix_now() / 30;
        let window: Vec<String> = (now.saturating_sub(3)..=now + 3).map(|s| self.code_at_step(s)).collect();
        // A different one on every call: the driver never sends the same code twice (its
        // submitted-code ledger), so a test that needs several failures needs several codes.
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let offset = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (0..1_000_000u64)
            .map(|n| format!("{:06}", ((n + offset) * 7919 + 123_457) % 1_000_000))
            .find(|c| !window.contains(c))
            .unwrap()
    }
}
