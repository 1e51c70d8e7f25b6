//! The delegated second factor through the real server over TLS, with real hook
//! programs: the sample HOTP hook (docs/hooks/hotp_hook.py, run by python3 through its
//! shebang line), a hook that hangs, one that prints garbage, and one whose file others
//! could change (refused at start).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use twofactor_protocol::{SecondFactor, SecondFactorMethod, ServerMessage};
use twofactor_server::store::{Method, SqliteUserStore, UserStore};
use twofactor_server::{Config, ManualClock, Server};

const TOKEN_SECRET: &[u8] = b"hotp-token-secret-20";

fn sample_hook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/hooks/hotp_hook.py")
}

fn hotp(counter: i64) -> String {
    PARAMS.code_at_step(TOKEN_SECRET, counter)
}

/// A private directory beside the data directory, holding the hook and its token file.
fn hook_dir(data: &Path) -> PathBuf {
    let dir = data.parent().unwrap().join("hook");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn install(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
    p
}

/// The sample hook and a token for `hana` (counter 0), in a directory laid out before the
/// server starts; hana's method is DELEGATED.
fn hotp_setup(data: &Path) -> Vec<String> {
    let dir = hook_dir(data);
    let hook = install(dir.as_path(), "hotp_hook.py", &std::fs::read_to_string(sample_hook()).unwrap());
    let hex: String = TOKEN_SECRET.iter().map(|b| format!("{b:02x}")).collect();
    let tokens = dir.join("tokens.json");
    std::fs::write(&tokens, format!(r#"{{"hana": {{"secret_hex": "{hex}", "counter": 0, "digits": 6}}}}"#)).unwrap();
    vec![hook.display().to_string(), tokens.display().to_string()]
}

fn delegated_user(data: &Path, name: &str) {
    add_user(data, name, &format!("{name}-pw"), false);
    SqliteUserStore::open(&data.join("users.db")).unwrap().set_method(name, Method::Delegated).unwrap();
}

fn failures(f: &Fixture, name: &str) -> u32 {
    SqliteUserStore::open(&f.data.join("users.db")).unwrap().user(name).unwrap().unwrap().failed_second_factor
}

/// A server whose hook is the `argv` that `hook` laid out (in a private directory,
/// returned with the server so it lives as long).
async fn server(hook: impl FnOnce(&Path) -> Vec<String>, timeout_secs: u64) -> (Fixture, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    // The hook's path must be known to the config before start: lay it out first.
    let probe = dir.path().join("data");
    std::fs::create_dir_all(&probe).unwrap();
    let argv = hook(&probe);
    std::fs::remove_dir(&probe).ok();
    let f = start_with(
        |c| {
            c.auth.backoff_base_ms = 0;
            c.hook.program = argv;
            c.hook.timeout_secs = timeout_secs;
        },
        |data| {
            delegated_user(data, "hana");
            delegated_user(data, "hugo");
        },
    )
    .await;
    (f, dir)
}

fn expect_required(m: ServerMessage) -> (SecondFactorMethod, String) {
    match m {
        ServerMessage::FirstFactorOk { second_factor: SecondFactor::Required { method, hint, .. }, .. } => {
            (method, hint)
        }
        other => panic!("expected a second factor, got {other:?}"),
    }
}

#[tokio::test]
async fn the_sample_hotp_hook_accepts_a_code_once_and_our_ledger_refuses_its_replay() {
    let (f, _hook) = server(hotp_setup, 5).await;
    let mut c = Client::connect(&f).await;
    let (method, hint) = expect_required(c.login("hana", "hana-pw").await);
    assert_eq!(method, SecondFactorMethod::Delegated);
    assert_eq!(hint, "the next code of your HOTP token");
    assert!(matches!(c.code(&hotp(0)).await, ServerMessage::SecondFactorOk));

    // The same code again, on a new login: refused by our ledger before the hook is
    // asked, with the answer of a wrong code, and not counted.
    let mut c = Client::connect(&f).await;
    expect_required(c.login("hana", "hana-pw").await);
    assert_error(&c.code(&hotp(0)).await, "28000", 1002, true);
    assert_eq!(failures(&f, "hana"), 0);

    // A wrong code is the hook's rejection, counted as ours.
    let mut c = Client::connect(&f).await;
    expect_required(c.login("hana", "hana-pw").await);
    assert_error(&c.code("000000").await, "28000", 1002, true);
    assert_eq!(failures(&f, "hana"), 1);

    // Within the look-ahead window a later code is accepted (the token was pressed twice).
    let mut c = Client::connect(&f).await;
    expect_required(c.login("hana", "hana-pw").await);
    assert!(matches!(c.code(&hotp(2)).await, ServerMessage::SecondFactorOk));
    assert_eq!(failures(&f, "hana"), 0, "a completed login resets the count");

    let lines = audit_lines(&f);
    let outcomes: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["user"] == "hana" && l["event"] == "second_factor")
        .map(|l| (l["outcome"].as_str().unwrap().to_owned(), l["method"].as_str().unwrap_or("").to_owned()))
        .collect();
    let want = [("ok", "DELEGATED"), ("replay", "DELEGATED"), ("rejected", "DELEGATED"), ("ok", "DELEGATED")];
    assert_eq!(outcomes, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert!(lines.iter().any(|l| l["event"] == "delegated_init" && l["outcome"] == "sent"));

    // A user the hook has no token for: the hook refuses at init, the login fails closed.
    let mut c = Client::connect(&f).await;
    assert_error(&c.login("hugo", "hugo-pw").await, "28000", 1040, true);
}

#[tokio::test]
async fn five_rejections_by_the_hook_lock_the_user_like_wrong_codes() {
    let (f, _hook) = server(hotp_setup, 5).await;
    for _ in 0..4 {
        let mut c = Client::connect(&f).await;
        expect_required(c.login("hana", "hana-pw").await);
        assert_error(&c.code("999999").await, "28000", 1002, true);
    }
    let mut c = Client::connect(&f).await;
    expect_required(c.login("hana", "hana-pw").await);
    assert_error(&c.code("999999").await, "28000", 1003, true);
    // Locked: the right code is refused at the password now.
    let mut c = Client::connect(&f).await;
    assert_error(&c.login("hana", "hana-pw").await, "28000", 1003, true);
}

/// A hook that answers init and then hangs at check (or, with `hang_init`, at once).
fn sleepy(hang_init: bool) -> impl FnOnce(&Path) -> Vec<String> {
    move |data| {
        let script = format!(
            "#!/usr/bin/python3\nimport json, sys, time\nreq = json.load(sys.stdin)\n\
             if req['call'] == 'init' and not {}:\n    print(json.dumps({{'result': 'sent', 'hint': 'h'}}))\n\
             else:\n    time.sleep(30)\n",
            if hang_init { "True" } else { "False" }
        );
        vec![install(&hook_dir(data), "sleepy.py", &script).display().to_string()]
    }
}

#[tokio::test]
async fn a_hook_that_hangs_is_cut_at_its_timeout_and_counts_as_a_failed_check() {
    let (f, _hook) = server(sleepy(false), 1).await;
    let mut c = Client::connect(&f).await;
    expect_required(c.login("hana", "hana-pw").await);
    let t = Instant::now();
    assert_error(&c.code("123456").await, "HY000", 1041, true);
    assert!(t.elapsed() < Duration::from_secs(5), "answered after {:?}", t.elapsed());
    assert_eq!(failures(&f, "hana"), 1, "a hook that hangs is a failed check");
    let lines = audit_lines(&f);
    assert!(lines.iter().any(|l| l["event"] == "second_factor" && l["outcome"] == "hook_timeout"), "{lines:?}");

    let (f, _hook) = server(sleepy(true), 1).await;
    let mut c = Client::connect(&f).await;
    let t = Instant::now();
    assert_error(&c.login("hana", "hana-pw").await, "HY000", 1041, true);
    assert!(t.elapsed() < Duration::from_secs(5), "answered after {:?}", t.elapsed());
}

#[tokio::test]
async fn a_hook_that_prints_garbage_is_an_error_logged_without_the_code() {
    let garbage = |data: &Path| {
        // Echoes the request (with the code) back as something that is not the JSON.
        let script = "#!/bin/sh\nread -r req\ncase \"$req\" in\n  *init*) echo '{\"result\":\"sent\",\"hint\":\"h\"}';;\n  *) echo \"no idea what $req is\"; echo \"stderr has $req\" >&2;;\nesac\n";
        vec![install(&hook_dir(data), "garbage.sh", script).display().to_string()]
    };
    let (f, _hook) = server(garbage, 5).await;
    let mut c = Client::connect(&f).await;
    expect_required(c.login("hana", "hana-pw").await);
    let code = "314159";
    assert_error(&c.code(code).await, "HY000", 1041, true);
    assert_eq!(failures(&f, "hana"), 1);
    let audit = std::fs::read_to_string(f.data.join("audit.log")).unwrap();
    assert!(audit.contains("hook_failed"), "{audit}");
    assert!(audit.contains("***"), "the echoed code is masked: {audit}");
    assert!(!audit.contains(code), "the code reached the audit log: {audit}");
}

#[tokio::test]
async fn a_hook_program_others_can_change_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    twofactor_server::init::init_data_dir(
        &data,
        &twofactor_server::init::InitOptions { listen: "127.0.0.1:0".into(), hostnames: vec!["localhost".into()] },
    )
    .unwrap();
    let argv = hotp_setup(&data);
    let mut config = Config::load(&data).unwrap();
    config.hook.program = argv.clone();
    std::fs::set_permissions(&argv[0], std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Server::start(config.clone(), Arc::new(ManualClock::new(T0))).await.err().expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("hook.program") && msg.contains("writable by group or others"), "{msg}");

    std::fs::set_permissions(&argv[0], std::fs::Permissions::from_mode(0o700)).unwrap();
    let parent = Path::new(&argv[0]).parent().unwrap().to_owned();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o775)).unwrap();
    let err = Server::start(config.clone(), Arc::new(ManualClock::new(T0))).await.err().expect("refused");
    assert!(err.to_string().contains("a directory above the hook program"), "{err}");

    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).unwrap();
    let server = Server::start(config, Arc::new(ManualClock::new(T0))).await.expect("a private hook is accepted");
    server.shutdown().await;
}

/// A real HTTPS hook endpoint: Python's http.server behind ssl, with the certificate the
/// fixture's `init` made for `localhost`. Accepts the code 246810 for anyone; answers
/// `init` with a hint naming the session it was given.
struct Endpoint {
    child: std::process::Child,
    port: u16,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ENDPOINT: &str = r#"
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("Authorization") != "Bearer hook-token":
            self.send_response(401); self.end_headers(); return
        if req["call"] == "init":
            answer = {"result": "sent", "hint": "push sent for session " + req["session_id"]}
        else:
            answer = {"result": "accepted" if req["code"] == "246810" else "rejected"}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

fn start_endpoint(cert: &Path, key: &Path) -> Endpoint {
    use std::io::BufRead;
    let mut child = std::process::Command::new("python3")
        .args(["-c", ENDPOINT])
        .arg(cert)
        .arg(key)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the HTTPS endpoint");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| panic!("the endpoint printed {line:?}"));
    Endpoint { child, port }
}

#[tokio::test]
async fn an_https_endpoint_verified_by_its_ca_checks_codes_and_an_unknown_ca_fails_closed() {
    // The endpoint's certificate comes from a first fixture's init (its CA signs
    // `localhost`); the servers under test trust that CA through hook.ca_file, or not.
    let issuer = start(|_| {}).await;
    let endpoint = start_endpoint(&issuer.data.join("server.pem"), &issuer.data.join("server.key"));
    let url = format!("https://localhost:{}/mfa", endpoint.port);
    let ca = issuer.data.join("ca.pem");
    let (u, c) = (url.clone(), ca.clone());
    let f = start_with(
        move |cfg| {
            cfg.auth.backoff_base_ms = 0;
            cfg.hook.url = u;
            cfg.hook.ca_file = c;
            cfg.hook.bearer_token = "hook-token".into();
        },
        |data| delegated_user(data, "hana"),
    )
    .await;
    let mut c = Client::connect(&f).await;
    let (method, hint) = expect_required(c.login("hana", "hana-pw").await);
    assert_eq!(method, SecondFactorMethod::Delegated);
    assert!(hint.starts_with("push sent for session "), "{hint}");
    assert!(matches!(c.code("246810").await, ServerMessage::SecondFactorOk));
    let mut c = Client::connect(&f).await;
    expect_required(c.login("hana", "hana-pw").await);
    assert_error(&c.code("246810").await, "28000", 1002, true);
    assert_eq!(failures(&f, "hana"), 0, "a replay is not counted");
    let mut c = Client::connect(&f).await;
    expect_required(c.login("hana", "hana-pw").await);
    assert_error(&c.code("111111").await, "28000", 1002, true);
    assert_eq!(failures(&f, "hana"), 1);

    // Without the CA the certificate is not trusted (public roots only): fail closed.
    let f = start_with(
        move |cfg| {
            cfg.hook.url = url;
            cfg.hook.bearer_token = "hook-token".into();
        },
        |data| delegated_user(data, "hana"),
    )
    .await;
    let mut c = Client::connect(&f).await;
    assert_error(&c.login("hana", "hana-pw").await, "HY000", 1041, true);
    let lines = audit_lines(&f);
    let init = lines.iter().find(|l| l["event"] == "delegated_init").expect("an init line");
    assert_eq!(init["outcome"], "failed", "{init}");
}
