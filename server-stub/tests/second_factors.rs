//! SMS and e-mail codes over a real SMTP server (aiosmtpd, from Debian's
//! `python3-aiosmtpd` or PyPI's `aiosmtpd`, run on loopback and writing a Maildir), an
//! HTTP SMS provider, backup codes, drift, separate counters, throttling and the audit
//! trail, all through the real server over TLS.

mod common;

use std::io::Write;
use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use twofactor_protocol::{SecondFactor, SecondFactorMethod, ServerMessage};
use twofactor_server::auth::Authenticator;
use twofactor_server::crypto::SecretsKey;
use twofactor_server::store::{Method, SqliteUserStore, UserRecord, UserStore};
use twofactor_server::{Clock, Config};
use twofactor_smtp_testkit::{Mail, SmtpSink};

const PHONE: &str = "+15551234567";
const GATEWAY_TO: &str = "5551234567@txt.att.net";
const EMAIL: &str = "erin@example.com";

// ---------------------------------------------------------------------------------------
/// The first run of exactly six digits in the message body (after the headers).
fn code_in(text: &str) -> String {
    let mail = Mail { to: String::new(), text: text.to_owned() };
    mail.code(6).unwrap_or_else(|| panic!("no 6-digit code in {text:?}"))
}

fn start_smtp() -> Option<SmtpSink> {
    SmtpSink::start()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------
// Fixture helpers.

fn quiet(c: &mut Config) {
    // Most tests are not about the backoff; one is.
    c.auth.backoff_base_ms = 0;
}

fn smtp_config(c: &mut Config, port: u16) {
    quiet(c);
    c.smtp.host = "127.0.0.1".into();
    c.smtp.port = port;
    c.smtp.security = "none".into();
    c.smtp.timeout_secs = 5;
}

fn store(dir: &Path) -> SqliteUserStore {
    SqliteUserStore::open(&dir.join("users.db")).unwrap()
}

/// erin gets e-mail codes, sam SMS through the AT&T gateway.
fn add_code_users(dir: &Path) {
    add_user(dir, "erin", "erin-pw", false);
    add_user(dir, "sam", "sam-pw", false);
    let s = store(dir);
    s.set_email("erin", Some(EMAIL)).unwrap();
    s.set_method("erin", Method::Email).unwrap();
    s.set_phone("sam", Some(PHONE), Some("AT&T Wireless")).unwrap();
    s.set_method("sam", Method::Sms).unwrap();
}

fn user(f: &Fixture, name: &str) -> UserRecord {
    store(&f.data).user(name).unwrap().unwrap()
}

fn audit_lines(f: &Fixture) -> Vec<serde_json::Value> {
    std::fs::read_to_string(f.data.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn has_event(f: &Fixture, user: &str, event: &str, outcome: &str, method: Option<&str>) -> bool {
    audit_lines(f).iter().any(|v| {
        v["user"] == user
            && v["event"] == event
            && v["outcome"] == outcome
            && method.is_none_or(|m| v["method"] == m)
            && v["time"].as_str().is_some_and(|t| t.ends_with('Z'))
            && v["peer"].as_str().is_some_and(|p| !p.is_empty())
    })
}

/// Logs in with the password; returns the client and the second-factor request.
async fn first_factor(f: &Fixture, name: &str, password: &str) -> (Client, SecondFactor) {
    let mut c = Client::connect(f).await;
    match c.login(name, password).await {
        ServerMessage::FirstFactorOk { second_factor, .. } => (c, second_factor),
        other => panic!("{name}: expected FirstFactorOk, got {other:?}"),
    }
}

async fn login_error(f: &Fixture, name: &str, password: &str) -> ServerMessage {
    let mut c = Client::connect(f).await;
    c.login(name, password).await
}

async fn assert_sql_works(c: &mut Client) {
    let m = c.exec("SELECT 1", no_params()).await;
    assert!(matches!(m, ServerMessage::ResultSet { .. }), "SQL after login: {m:?}");
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_and_sms_users_log_in_with_the_delivered_code_once() {
    let Some(smtp) = start_smtp() else { return };
    let f = start_with(|c| smtp_config(c, smtp.port), add_code_users).await;

    // E-mail.
    let (mut c, sf) = first_factor(&f, "erin", "erin-pw").await;
    match sf {
        SecondFactor::Required { method: SecondFactorMethod::Email, seconds_left, hint } => {
            assert_eq!(seconds_left, 120);
            assert_eq!(hint, "code sent by e-mail to e***@example.com");
        }
        other => panic!("{other:?}"),
    }
    let mail = smtp.wait_for(1);
    assert_eq!(mail.to, EMAIL);
    assert!(mail.text.contains("Subject: Your TwoFactor code"), "{}", mail.text);
    let erin_code = code_in(&mail.text);
    // SQL before the code is refused.
    assert_error(&c.exec("SELECT 1", no_params()).await, "28000", 1004, false);
    assert_eq!(c.code(&erin_code).await, ServerMessage::SecondFactorOk);
    assert_sql_works(&mut c).await;

    // SMS through the carrier gateway.
    let (mut c, sf) = first_factor(&f, "sam", "sam-pw").await;
    match sf {
        SecondFactor::Required { method: SecondFactorMethod::Sms, hint, .. } => {
            assert_eq!(hint, "code sent by SMS to +1 ***-***-4567")
        }
        other => panic!("{other:?}"),
    }
    let sms = smtp.wait_for(2);
    assert_eq!(sms.to, GATEWAY_TO);
    let sam_code = code_in(&sms.text);
    assert_eq!(c.code(&sam_code).await, ServerMessage::SecondFactorOk);
    assert_sql_works(&mut c).await;

    // A code used twice is refused: the next login sends a new one, the old one is dead.
    let (mut c, _) = first_factor(&f, "sam", "sam-pw").await;
    let fresh = code_in(&smtp.wait_for(3).text);
    if fresh != sam_code {
        assert_error(&c.code(&sam_code).await, "28000", 1002, true);
    }
    let (mut c2, _) = first_factor(&f, "erin", "erin-pw").await;
    let erin_fresh = code_in(&smtp.wait_for(4).text);
    if erin_fresh != erin_code {
        assert_error(&c2.code(&erin_code).await, "28000", 1002, true);
    }

    // Only keyed hashes are stored: the code itself is nowhere in users.db.
    let db = std::fs::read(f.data.join("users.db")).unwrap();
    let wal = std::fs::read(f.data.join("users.db-wal")).unwrap_or_default();
    for hay in [&db, &wal] {
        assert!(!hay.windows(6).any(|w| w == erin_fresh.as_bytes() && erin_fresh != "000000"));
    }

    assert!(has_event(&f, "erin", "code_send", "ok", Some("EMAIL")));
    assert!(has_event(&f, "sam", "code_send", "ok", Some("SMS")));
    assert!(has_event(&f, "erin", "second_factor", "ok", Some("EMAIL")));
    assert!(has_event(&f, "sam", "second_factor", "ok", Some("SMS")));
    assert!(has_event(&f, "sam", "second_factor", "rejected", Some("SMS")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refused_and_a_pending_one_is_not_resent() {
    let Some(smtp) = start_smtp() else { return };
    let f = start_with(|c| smtp_config(c, smtp.port), add_code_users).await;
    let (mut c, _) = first_factor(&f, "erin", "erin-pw").await;
    let code = code_in(&smtp.wait_for(1).text);

    // A second login while the code is valid sends nothing new (a code obtained by an
    // earlier login, as with DMConnAttr, still works) and says so in the hint.
    let (c2, sf) = first_factor(&f, "erin", "erin-pw").await;
    match sf {
        SecondFactor::Required { hint, .. } => assert!(hint.contains("sent earlier"), "{hint}"),
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.messages().len(), 1);
    drop(c2);

    // Past its lifetime (the two-factor timeout, 120 s) the right code is refused.
    f.clock.advance(121);
    assert_error(&c.code(&code).await, "28000", 1002, true);
    // ...and the next login sends a new one.
    let (_c, _) = first_factor(&f, "erin", "erin-pw").await;
    smtp.wait_for(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tries_per_code_and_sends_per_hour_limits_hold() {
    let Some(smtp) = start_smtp() else { return };
    let f = start_with(
        |c| {
            smtp_config(c, smtp.port);
            c.codes.max_tries = 3;
            c.codes.max_sends_per_hour = 2;
            c.auth.max_failed_attempts = 20;
        },
        add_code_users,
    )
    .await;
    let (mut c, _) = first_factor(&f, "sam", "sam-pw").await;
    let first = code_in(&smtp.wait_for(1).text);
    let wrong = format!("{:06}", (first.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_error(&c.code(&wrong).await, "28000", 1002, true);
    // Two more wrong tries on later connections (the code stays pending, nothing resent).
    for _ in 0..2 {
        let (mut c, _) = first_factor(&f, "sam", "sam-pw").await;
        assert_error(&c.code(&wrong).await, "28000", 1002, true);
    }
    assert_eq!(smtp.messages().len(), 1);
    // Three tries spent: the code is void; even the right one is refused now, and the
    // next login sends a new code.
    let (mut c, _) = first_factor(&f, "sam", "sam-pw").await;
    let second = code_in(&smtp.wait_for(2).text);
    if second != first {
        assert_error(&c.code(&first).await, "28000", 1002, true);
    }
    // Void that one too with three wrong tries, and the third send in the hour is refused.
    let wrong2 = format!("{:06}", (second.parse::<u32>().unwrap() + 1) % 1_000_000);
    let tries = if second != first { 2 } else { 3 };
    for _ in 0..tries {
        let (mut c, _) = first_factor(&f, "sam", "sam-pw").await;
        assert_error(&c.code(&wrong2).await, "28000", 1002, true);
    }
    assert_error(&login_error(&f, "sam", "sam-pw").await, "HY000", 1008, true);
    assert!(has_event(&f, "sam", "code_send", "limited", Some("SMS")));
    // An hour later, sending works again.
    f.clock.advance(3601);
    let (mut c, _) = first_factor(&f, "sam", "sam-pw").await;
    let third = code_in(&smtp.wait_for(3).text);
    assert_eq!(c.code(&third).await, ServerMessage::SecondFactorOk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_fails_clearly_quickly_and_leaves_no_valid_code() {
    // Nothing listens on this port.
    let closed = free_port();
    let f = start_with(|c| smtp_config(c, closed), add_code_users).await;
    let t = Instant::now();
    let m = login_error(&f, "erin", "erin-pw").await;
    assert_error(&m, "HY000", 1007, true);
    match &m {
        ServerMessage::Error(e) => assert!(e.message.contains("could not send the two-factor code"), "{}", e.message),
        _ => unreachable!(),
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(store(&f.data).pending_code("erin", f.clock.now()).unwrap(), None);
    let failed: Vec<_> =
        audit_lines(&f).into_iter().filter(|v| v["event"] == "code_send" && v["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["reason"].as_str().unwrap().contains("smtp"), "{}", failed[0]);

    // A relay that accepts the connection and then says nothing: the send times out
    // (smtp.timeout_secs) and the login fails, well within the login timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = silent.accept().await {
            keep.lock().unwrap().push(s);
        }
    });
    let f = start_with(
        |c| {
            smtp_config(c, port);
            c.smtp.timeout_secs = 2;
        },
        add_code_users,
    )
    .await;
    let t = Instant::now();
    assert_error(&login_error(&f, "sam", "sam-pw").await, "HY000", 1007, true);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(8), "{took:?}");
    assert_eq!(store(&f.data).pending_code("sam", f.clock.now()).unwrap(), None);
    assert!(has_event(&f, "sam", "code_send", "failed", Some("SMS")));
}

/// The receiving end of the provider's webhook: records one request, answers 200.
async fn http_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            store.lock().unwrap().push(text.clone());
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sms_provider_gets_the_templated_body() {
    let (port, got) = http_receiver().await;
    let f = start_with(
        |c| {
            quiet(c);
            c.sms.provider = "http".into();
            c.sms.url = format!("http://127.0.0.1:{port}/v1/sms");
            c.sms.body = r#"{"to":"{to}","message":"code {code}"}"#.into();
            c.sms.bearer_token = "tok-123".into();
            c.sms.timeout_secs = 5;
        },
        add_code_users,
    )
    .await;
    let (mut c, sf) = first_factor(&f, "sam", "sam-pw").await;
    assert!(matches!(sf, SecondFactor::Required { method: SecondFactorMethod::Sms, .. }));
    let req = got.lock().unwrap().first().cloned().expect("a POST");
    assert!(req.starts_with("POST /v1/sms HTTP/1.1\r\n"), "{req}");
    let lower = req.to_ascii_lowercase();
    assert!(lower.contains("authorization: bearer tok-123"), "{req}");
    assert!(lower.contains("content-type: application/json"), "{req}");
    let body = req.split_once("\r\n\r\n").unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["to"], PHONE);
    let code = v["message"].as_str().unwrap().strip_prefix("code ").unwrap().to_owned();
    assert_eq!(code.len(), 6);
    assert_eq!(c.code(&code).await, ServerMessage::SecondFactorOk);
    assert!(has_event(&f, "sam", "code_send", "ok", Some("SMS")));

    // A provider that refuses: a clear failure, no code left.
    let f = start_with(
        |c| {
            quiet(c);
            c.sms.provider = "http".into();
            c.sms.url = format!("http://127.0.0.1:{}/nothing-here", free_port());
        },
        add_code_users,
    )
    .await;
    assert_error(&login_error(&f, "sam", "sam-pw").await, "HY000", 1007, true);
    assert_eq!(store(&f.data).pending_code("sam", f.clock.now()).unwrap(), None);
}

fn authenticator(f: &Fixture) -> Authenticator {
    Authenticator::new(
        &f.config,
        Arc::new(store(&f.data)),
        SecretsKey::load(&f.data.join("secrets.key")).unwrap(),
        f.clock.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_codes_work_once_each_in_place_of_any_method() {
    let Some(smtp) = start_smtp() else { return };
    let f = start_with(|c| smtp_config(c, smtp.port), add_code_users).await;
    let auth = authenticator(&f);
    let codes = auth.new_backup_codes("alice").unwrap();
    assert_eq!(codes.len(), 10);
    for c in &codes {
        assert_eq!(c.len(), 12);
        assert_eq!(c.matches('-').count(), 2);
    }
    assert_eq!(user(&f, "alice").backup_codes_left, 10);

    let (mut c, _) = first_factor(&f, "alice", "alice-pw").await;
    assert_eq!(c.code(&codes[0]).await, ServerMessage::SecondFactorOk);
    assert_sql_works(&mut c).await;
    // Lower case and without dashes is the same code, and it is used up.
    let (mut c, _) = first_factor(&f, "alice", "alice-pw").await;
    let typed = codes[0].replace('-', "").to_lowercase();
    assert_error(&c.code(&typed).await, "28000", 1002, true);
    let (mut c, _) = first_factor(&f, "alice", "alice-pw").await;
    assert_eq!(c.code(&codes[1].to_lowercase()).await, ServerMessage::SecondFactorOk);
    assert_eq!(user(&f, "alice").backup_codes_left, 8);

    // An e-mail user too (the sent code stays unused).
    let erin = auth.new_backup_codes("erin").unwrap();
    let (mut c, _) = first_factor(&f, "erin", "erin-pw").await;
    smtp.wait_for(1);
    assert_eq!(c.code(&erin[9]).await, ServerMessage::SecondFactorOk);
    // Another user's backup code is no good.
    let (mut c, _) = first_factor(&f, "bob", "bob-pw").await;
    assert_error(&c.code(&codes[2]).await, "28000", 1002, true);
    // A new set replaces the old one.
    let again = auth.new_backup_codes("alice").unwrap();
    let (mut c, _) = first_factor(&f, "alice", "alice-pw").await;
    assert_error(&c.code(&codes[3]).await, "28000", 1002, true);
    let (mut c, _) = first_factor(&f, "alice", "alice-pw").await;
    assert_eq!(c.code(&again[0]).await, ServerMessage::SecondFactorOk);

    let backup_ok = audit_lines(&f)
        .into_iter()
        .filter(|v| v["event"] == "second_factor" && v["outcome"] == "ok" && v["method"] == "BACKUP")
        .count();
    assert_eq!(backup_ok, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_learned_bounded_and_replay_stays_refused() {
    let f = start(|c| {
        quiet(c);
        c.totp.skew_steps = 1;
        c.totp.max_drift_steps = 2;
        c.totp.drift_learn_accepts = 2;
    })
    .await;
    let at = |offset: i64| PARAMS.code_at_step(SECRET, PARAMS.step_at(f.clock.now()) + offset);
    async fn try_code(f: &Fixture, code: &str) -> ServerMessage {
        let (mut c, _) = first_factor(f, "alice", "alice-pw").await;
        c.code(code).await
    }
    // Without drift, +2 is outside the window.
    assert_error(&try_code(&f, &at(2)).await, "28000", 1002, true);
    // Two accepts in a row at +1 teach a drift of +1...
    assert_eq!(try_code(&f, &at(1)).await, ServerMessage::SecondFactorOk);
    f.clock.advance(30);
    assert_eq!(try_code(&f, &at(1)).await, ServerMessage::SecondFactorOk);
    assert_eq!(user(&f, "alice").totp_drift, 1);
    assert!(has_event(&f, "alice", "totp_drift", "learned", Some("TOTP")));
    // ...so +2 is accepted now, and the server's own step still is.
    f.clock.advance(30);
    assert_eq!(try_code(&f, &at(2)).await, ServerMessage::SecondFactorOk);
    // Replay of that step is refused, drift or not.
    assert_error(&try_code(&f, &at(2)).await, "28000", 1002, true);
    f.clock.advance(60);
    assert_eq!(try_code(&f, &at(2)).await, ServerMessage::SecondFactorOk);
    assert_eq!(user(&f, "alice").totp_drift, 2);
    // Two accepts at +3 (inside the window around +2) do not move it past the bound.
    f.clock.advance(30);
    assert_eq!(try_code(&f, &at(3)).await, ServerMessage::SecondFactorOk);
    f.clock.advance(30);
    assert_eq!(try_code(&f, &at(3)).await, ServerMessage::SecondFactorOk);
    assert_eq!(user(&f, "alice").totp_drift, 2, "bounded by max_drift_steps");
    // +4 stays outside: window = [-1, +2 + 1].
    f.clock.advance(120);
    assert_error(&try_code(&f, &at(4)).await, "28000", 1002, true);
    // A device put right is not shut out, and two accepts at 0 bring the drift back.
    f.clock.advance(30);
    assert_eq!(try_code(&f, &at(0)).await, ServerMessage::SecondFactorOk);
    f.clock.advance(30);
    assert_eq!(try_code(&f, &at(0)).await, ServerMessage::SecondFactorOk);
    assert_eq!(user(&f, "alice").totp_drift, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_code_failures_have_separate_counters_and_locks_run_out() {
    let f = start(|c| {
        quiet(c);
        c.auth.max_failed_passwords = 3;
        c.auth.password_lockout_secs = 300;
        c.auth.max_failed_attempts = 3;
        c.auth.lockout_secs = 600;
    })
    .await;
    // Two wrong passwords and two wrong codes: neither counter reaches 3.
    for _ in 0..2 {
        assert_error(&login_error(&f, "alice", "nope").await, "28000", 1001, true);
    }
    for _ in 0..2 {
        let (mut c, _) = first_factor(&f, "alice", "alice-pw").await;
        assert_error(&c.code(&wrong_code(&f)).await, "28000", 1002, true);
    }
    let u = user(&f, "alice");
    assert_eq!((u.failed_first_factor, u.failed_second_factor), (2, 2));
    assert!(!u.is_locked(f.clock.now()) && !u.is_password_locked(f.clock.now()));

    // A password guesser locks the password, not the second factor.
    assert_error(&login_error(&f, "alice", "nope").await, "28000", 1001, true);
    let u = user(&f, "alice");
    assert!(u.is_password_locked(f.clock.now()));
    assert!(!u.is_locked(f.clock.now()));
    assert_eq!(u.failed_second_factor, 2);
    assert!(has_event(&f, "alice", "lockout", "locked", Some("password")));
    // While it lasts, even the right password gets "locked" (guessing is pointless).
    assert_error(&login_error(&f, "alice", "alice-pw").await, "28000", 1003, true);
    assert_eq!(user(&f, "alice").failed_first_factor, 3, "nothing counted while locked");
    // It runs out by itself; a full login then resets both counters.
    f.clock.advance(300);
    let mut c = logged_in(&f, "alice", "alice-pw").await;
    assert_sql_works(&mut c).await;
    let u = user(&f, "alice");
    assert_eq!((u.failed_first_factor, u.failed_second_factor), (0, 0));

    // The reverse: wrong codes lock the second factor and leave the password counter alone.
    for _ in 0..3 {
        let (mut c, _) = first_factor(&f, "bob", "bob-pw").await;
        let m = c.code(&wrong_code(&f)).await;
        assert!(matches!(m, ServerMessage::Error(ref e) if e.sqlstate_str() == "28000"));
    }
    let u = user(&f, "bob");
    assert!(u.is_locked(f.clock.now()));
    assert!(!u.is_password_locked(f.clock.now()));
    assert_eq!(u.failed_first_factor, 0);
    assert_error(&login_error(&f, "bob", "bob-pw").await, "28000", 1003, true);
    assert!(has_event(&f, "bob", "lockout", "locked", Some("TOTP")));
    f.clock.advance(600);
    let mut c = logged_in(&f, "bob", "bob-pw").await;
    assert_sql_works(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_back_off_and_an_address_is_throttled() {
    let f = start(|c| {
        c.auth.backoff_base_ms = 300;
        c.auth.backoff_max_ms = 600;
        c.auth.address_max_failures = 4;
        c.auth.address_window_secs = 600;
        c.auth.address_block_secs = 900;
    })
    .await;
    let mut took = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        assert_error(&login_error(&f, "nobody", "x").await, "28000", 1001, true);
        took.push(t.elapsed());
    }
    assert!(took[0] < Duration::from_millis(300), "{took:?}");
    assert!(took[1] >= Duration::from_millis(300), "{took:?}");
    assert!(took[2] >= Duration::from_millis(600), "{took:?}");
    // The fourth failure (a wrong code this time) blocks 127.0.0.1...
    let (mut c, _) = first_factor(&f, "alice", "alice-pw").await;
    assert_error(&c.code(&wrong_code(&f)).await, "28000", 1002, true);
    // ...so even the right password is refused, before it is checked.
    assert_error(&login_error(&f, "bob", "bob-pw").await, "28000", 1009, true);
    assert!(has_event(&f, "alice", "address_block", "blocked", None));
    assert!(has_event(&f, "bob", "login", "throttled", None));
    f.clock.advance(900);
    let mut c = logged_in(&f, "bob", "bob-pw").await;
    assert_sql_works(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_switches_and_enrolment_are_enforced() {
    let Some(smtp) = start_smtp() else { return };
    let f = start_with(
        |c| {
            smtp_config(c, smtp.port);
            c.methods.sms = false;
        },
        add_code_users,
    )
    .await;
    // SMS is switched off server-wide: sam is refused with a clear message.
    assert_error(&login_error(&f, "sam", "sam-pw").await, "28000", 1010, true);
    assert!(has_event(&f, "sam", "login", "method_off", Some("SMS")));
    // Method none: the password alone.
    store(&f.data).set_method("sam", Method::None).unwrap();
    let (_, sf) = first_factor(&f, "sam", "sam-pw").await;
    assert_eq!(sf, SecondFactor::NotRequired);
    // E-mail user without an address: unenrolled.
    store(&f.data).set_email("erin", None).unwrap();
    assert_error(&login_error(&f, "erin", "erin-pw").await, "28000", 1006, true);
    assert!(smtp.messages().is_empty());
}

#[test]
fn the_cli_enrols_numbers_and_addresses_and_refuses_malformed_ones() {
    const BIN: &str = env!("CARGO_BIN_EXE_twofactor-server");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    let run = |args: &[&str], stdin: Option<&str>| -> (bool, String, String) {
        let mut child = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&d)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(run(&["init"], None).0);
    assert!(run(&["user", "add", "ann", "--password-stdin"], Some("pw\n")).0);
    for bad in ["5551234567", "+1555", "+1 555 CALL NOW"] {
        let (ok, _, err) = run(&["user", "phone", "ann", bad, "--carrier", "Verizon"], None);
        assert!(!ok && err.contains("number"), "{bad}: {err}");
    }
    let (ok, _, err) = run(&["user", "phone", "ann", "+15551234567", "--carrier", "Nope"], None);
    assert!(!ok && err.contains("no carrier"), "{err}");
    for bad in ["ann", "ann@", "ann@localhost", "a b@example.com"] {
        let (ok, _, err) = run(&["user", "email", "ann", bad], None);
        assert!(!ok && err.contains("e-mail address"), "{bad}: {err}");
    }
    let (ok, out, _) = run(&["user", "email", "ann", "ann@example.com"], None);
    assert!(ok && out.contains("EMAIL"), "{out}");
    let (ok, out, err) = run(&["user", "phone", "ann", "+1 (555) 123-4567", "--carrier", "verizon"], None);
    assert!(ok && out.contains("+15551234567 via Verizon"), "{out}{err}");
    let (ok, _, err) = run(&["user", "method", "ann", "totp"], None);
    assert!(!ok && err.contains("totp enrol"), "{err}");
    assert!(run(&["user", "method", "ann", "sms"], None).0);
    // The carrier list: IRIS's defaults, editable.
    let (_, list, _) = run(&["carrier", "list"], None);
    for g in ["txt.att.net", "vtext.com", "tmomail.net", "messaging.sprintpcs.com"] {
        assert!(list.contains(g), "{list}");
    }
    assert!(run(&["carrier", "add", "Example", "sms.example.net"], None).0);
    assert!(!run(&["carrier", "add", "Example", "sms.example.net"], None).0);
    assert!(!run(&["carrier", "add", "Bad", "not a host"], None).0);
    assert!(run(&["carrier", "edit", "Example", "sms2.example.net"], None).0);
    let (_, list, _) = run(&["carrier", "list"], None);
    assert!(list.contains("sms2.example.net"), "{list}");
    assert!(run(&["carrier", "remove", "Example"], None).0);
    assert!(!run(&["carrier", "remove", "Example"], None).0);
    // Backup codes: ten, and the count shows in `user list`.
    let (ok, out, _) = run(&["backup-codes", "generate", "ann"], None);
    assert!(ok);
    let codes: Vec<&str> = out.lines().collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 12 && c.as_bytes()[4] == b'-' && c.as_bytes()[9] == b'-'));
    let (_, list, _) = run(&["user", "list"], None);
    let row = list.lines().find(|l| l.starts_with("ann ")).unwrap();
    assert!(row.contains("SMS") && row.split_whitespace().nth(6) == Some("10"), "{list}");
    // totp import of an otpauth URI.
    let (ok, out, err) = run(
        &["totp", "import", "ann", "otpauth://totp/X:ann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=X&digits=8"],
        None,
    );
    assert!(ok && out.contains("8 digits"), "{out}{err}");
    let (ok, _, err) = run(&["totp", "import", "ann", "otpauth://totp/X?secret=GEZDGNBVGY3TQOJQ&period=60"], None);
    assert!(!ok && err.contains("period"), "{err}");
    // The audit command filters.
    let (ok, out, _) = run(&["audit", "--user", "ann", "--event", "user_phone"], None);
    assert!(ok && out.lines().count() == 1, "{out}");
    let (_, out, _) = run(&["audit", "--last", "2"], None);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().last().unwrap().contains("totp_import"), "{out}");
    let (_, out, _) = run(&["audit", "--since", "2999-01-01T00:00:00Z"], None);
    assert!(out.is_empty());
    let (ok, _, err) = run(&["audit", "--since", "yesterday"], None);
    assert!(!ok && err.contains("RFC 3339"), "{err}");
}

#[test]
fn users_move_between_servers_with_secrets_still_encrypted() {
    const BIN: &str = env!("CARGO_BIN_EXE_twofactor-server");
    let tmp = tempfile::tempdir().unwrap();
    let run = |d: &Path, args: &[&str], stdin: Option<&str>| -> (bool, String, String) {
        let mut child = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(d)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    assert!(run(&a, &["init"], None).0);
    assert!(run(&b, &["init"], None).0);
    assert!(run(&a, &["user", "add", "ann", "--password-stdin"], Some("pw\n")).0);
    let (_, secret, _) = run(&a, &["totp", "enrol", "ann", "--secret-only"], None);
    assert!(run(&a, &["user", "email", "ann", "ann@example.com"], None).0);
    let file = tmp.path().join("users.json");
    let (ok, out, err) = run(&a, &["users", "export", file.to_str().unwrap()], None);
    assert!(ok, "{out}{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(secret.trim()), "the secret travels encrypted");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Another secrets.key: refused without the source key, re-encrypted with it.
    let (ok, _, err) = run(&b, &["users", "import", file.to_str().unwrap()], None);
    assert!(!ok && err.contains("--secrets-key"), "{err}");
    let (ok, _, err) = run(
        &b,
        &["users", "import", file.to_str().unwrap(), "--secrets-key", b.join("secrets.key").to_str().unwrap()],
        None,
    );
    assert!(!ok && err.contains("key id"), "{err}");
    let (ok, out, err) = run(
        &b,
        &["users", "import", file.to_str().unwrap(), "--secrets-key", a.join("secrets.key").to_str().unwrap()],
        None,
    );
    assert!(ok && out.contains("re-encrypted"), "{out}{err}");
    // The imported secret opens under b's key and is the same secret.
    let store = SqliteUserStore::open(&b.join("users.db")).unwrap();
    let u = store.user("ann").unwrap().unwrap();
    let key = SecretsKey::load(&b.join("secrets.key")).unwrap();
    let opened = key.open("ann", &u.totp.unwrap().sealed_secret).unwrap();
    assert_eq!(twofactor_server::totp::to_base32(opened.expose()), secret.trim());
    assert_eq!(u.email.as_deref(), Some("ann@example.com"));
    // Importing again conflicts unless --replace.
    let args_with_key = |extra: &[&str]| {
        let mut v = vec![
            "users".to_string(),
            "import".into(),
            file.to_str().unwrap().into(),
            "--secrets-key".into(),
            a.join("secrets.key").to_str().unwrap().into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let v = args_with_key(&[]);
    let (ok, _, err) = run(&b, &v.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(!ok && err.contains("exist already"), "{err}");
    let v = args_with_key(&["--replace"]);
    assert!(run(&b, &v.iter().map(String::as_str).collect::<Vec<_>>(), None).0);
    // Same key: no --secrets-key needed (a copy of the data directory's key).
    let c = tmp.path().join("c");
    assert!(run(&c, &["init"], None).0);
    std::fs::copy(a.join("secrets.key"), c.join("secrets.key")).unwrap();
    let (ok, out, err) = run(&c, &["users", "import", file.to_str().unwrap()], None);
    assert!(ok, "{out}{err}");
}
