//! Two-factor tickets against a real server (docs/tickets.md): the policy, the issue, a
//! login a ticket completes, and every way a ticket is refused (counted like a wrong
//! code, audited, and the login going on to the code), with proofs signed by ring's
//! Ed25519 over the real TLS exporter of the test client's connection.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use twofactor_protocol::proof::ticket_proof_message;
use twofactor_protocol::{ClientMessage, SecondFactor, SecondFactorMethod, ServerMessage};
use twofactor_server::password::hash_password;
use twofactor_server::store::{SqliteUserStore, TicketPolicy, TotpEnrolment, UserStore};
use twofactor_server::{Clock, Config};

const BIN: &str = env!("CARGO_BIN_EXE_twofactor-server");

/// A driver's device key.
struct Device(Ed25519KeyPair);

impl Device {
    fn new() -> Device {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Device(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    fn public_key(&self) -> Vec<u8> {
        self.0.public_key().as_ref().to_vec()
    }

    /// The proof for `user` on the connection `c`.
    fn proof(&self, f: &Fixture, c: &Client, user: &str, ticket_id: &[u8]) -> Vec<u8> {
        let m = ticket_proof_message(&c.exporter(), &f.config.server.name, user, ticket_id);
        self.0.sign(&m).as_ref().to_vec()
    }
}

fn tickets_on(c: &mut Config) {
    c.tickets.enabled = true;
}

fn store(f: &Fixture) -> SqliteUserStore {
    SqliteUserStore::open(&f.data.join("users.db")).unwrap()
}

fn failed_codes(f: &Fixture, user: &str) -> u32 {
    store(f).user(user).unwrap().unwrap().failed_second_factor
}

/// The `ticket` audit events with this outcome.
fn ticket_events(f: &Fixture, outcome: &str) -> Vec<serde_json::Value> {
    audit_lines(f).into_iter().filter(|v| v["event"] == "ticket" && v["outcome"] == outcome).collect()
}

async fn request_ticket(c: &mut Client, public_key: Vec<u8>) -> ServerMessage {
    c.send(ClientMessage::RequestTicket { public_key }).await;
    c.recv().await.unwrap()
}

/// A code login of `user` that asks for a ticket for `device`; returns the ticket id.
/// The clock moves to the next TOTP step first, so the code is never a replay.
async fn ticket_for(f: &Fixture, user: &str, password: &str, device: &Device) -> Vec<u8> {
    f.clock.advance(30);
    let mut c = logged_in(f, user, password).await;
    match request_ticket(&mut c, device.public_key()).await {
        ServerMessage::Ticket { ticket_id, .. } => ticket_id.expose().clone(),
        other => panic!("expected a ticket, got {other:?}"),
    }
}

/// `SELECT 1` answers its result set and its one row.
async fn assert_sql_works(c: &mut Client) {
    let m = c.exec("SELECT 1", no_params()).await;
    assert!(matches!(m, ServerMessage::ResultSet { .. }), "SQL after login: {m:?}");
    let m = c.recv().await.unwrap();
    assert!(matches!(m, ServerMessage::Rows { last: true, .. }), "{m:?}");
}

/// Offers the ticket (signed by `device` on this connection) and expects it refused:
/// the login goes on to a TOTP code, which completes it. Returns the refusal's reason.
/// The clock moves to the next TOTP step first.
async fn refused_then_code(f: &Fixture, user: &str, password: &str, ticket_id: &[u8], device: &Device) -> String {
    f.clock.advance(30);
    let before = ticket_events(f, "refused").len();
    let failed = failed_codes(f, user);
    let mut c = Client::connect(f).await;
    let proof = device.proof(f, &c, user, ticket_id);
    match c.login_with_ticket(user, password, ticket_id, proof).await {
        ServerMessage::FirstFactorOk { second_factor: SecondFactor::Required { method, .. }, .. } => {
            assert_eq!(method, SecondFactorMethod::Totp)
        }
        other => panic!("expected the login to go on to the code, got {other:?}"),
    }
    assert_eq!(failed_codes(f, user), failed + 1, "a refused ticket counts like a wrong code");
    let events = ticket_events(f, "refused");
    assert_eq!(events.len(), before + 1, "the refusal is audited");
    let reason = events.last().unwrap()["reason"].as_str().unwrap().to_owned();
    assert_eq!(c.code(&code_now(f)).await, ServerMessage::SecondFactorOk);
    assert_sql_works(&mut c).await;
    reason
}

async fn ticket_login(f: &Fixture, user: &str, password: &str, ticket_id: &[u8], device: &Device) -> Client {
    let mut c = Client::connect(f).await;
    let proof = device.proof(f, &c, user, ticket_id);
    match c.login_with_ticket(user, password, ticket_id, proof).await {
        ServerMessage::FirstFactorOk { second_factor: SecondFactor::VerifiedByTicket { .. }, .. } => c,
        other => panic!("expected the ticket accepted, got {other:?}"),
    }
}

#[tokio::test]
async fn with_the_policy_off_no_ticket_is_issued_and_the_session_goes_on() {
    let f = start(|_| {}).await;
    let mut c = logged_in(&f, "alice", "alice-pw").await;
    let answer = request_ticket(&mut c, Device::new().public_key()).await;
    assert_error(&answer, "28000", 1013, false);
    assert_sql_works(&mut c).await;
    assert_eq!(ticket_events(&f, "not_issued").len(), 1);
    // Allowed for this user only: issued although the server's default is off.
    store(&f).set_ticket_policy("alice", TicketPolicy::Allow).unwrap();
    assert!(matches!(request_ticket(&mut c, Device::new().public_key()).await, ServerMessage::Ticket { .. }));
}

#[tokio::test]
async fn an_issued_ticket_completes_the_next_login_without_a_code() {
    let f = start(tickets_on).await;
    let device = Device::new();
    let mut c = logged_in(&f, "alice", "alice-pw").await;
    // A bad key is refused (HY000), and the session may still ask properly.
    assert_error(&request_ticket(&mut c, vec![7; 31]).await, "HY000", 1013, false);
    let ServerMessage::Ticket { ticket_id, expires_at, idle_secs } = request_ticket(&mut c, device.public_key()).await
    else {
        panic!("no ticket");
    };
    let ticket_id = ticket_id.expose().clone();
    assert_eq!((ticket_id.len(), expires_at, idle_secs), (32, f.clock.now() + 28_800, 3_600));
    // One per session.
    assert_error(&request_ticket(&mut c, device.public_key()).await, "28000", 1013, false);
    assert_sql_works(&mut c).await;

    f.clock.advance(600);
    let used_at = f.clock.now();
    let mut t = Client::connect(&f).await;
    let proof = device.proof(&f, &t, "alice", &ticket_id);
    match t.login_with_ticket("alice", "alice-pw", &ticket_id, proof).await {
        ServerMessage::FirstFactorOk { second_factor: SecondFactor::VerifiedByTicket { expires_at: e }, .. } => {
            assert_eq!(e, expires_at, "a ticket login never extends the ticket")
        }
        other => panic!("expected the ticket accepted, got {other:?}"),
    }
    assert_sql_works(&mut t).await;
    // A ticket login gets no further ticket.
    assert_error(&request_ticket(&mut t, device.public_key()).await, "28000", 1013, false);
    let used = ticket_events(&f, "used");
    assert_eq!(used.len(), 1);
    assert_eq!(used[0]["user"], "alice");
    assert_eq!(ticket_events(&f, "issued").len(), 1);
    // The identifier never reaches the audit log, in any encoding.
    let log = std::fs::read_to_string(f.data.join("audit.log")).unwrap();
    let hex: String = ticket_id.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!log.contains(&hex) && !log.contains(&data_encoding::BASE64.encode(&ticket_id)));
    let row = store(&f).tickets("alice").unwrap().remove(0);
    assert_eq!(row.last_used_at, used_at);
    assert_ne!(row.id_hash, ticket_id, "only the identifier's hash is stored");
}

#[tokio::test]
async fn a_wrong_key_another_user_or_a_replayed_proof_is_refused_counted_and_the_code_follows() {
    let f = start(tickets_on).await;
    let device = Device::new();
    let ticket_id = ticket_for(&f, "alice", "alice-pw", &device).await;

    let reason = refused_then_code(&f, "alice", "alice-pw", &ticket_id, &Device::new()).await;
    assert!(reason.contains("bad proof"), "{reason}");
    let reason = refused_then_code(&f, "bob", "bob-pw", &ticket_id, &device).await;
    assert!(reason.contains("another user"), "{reason}");
    let reason = refused_then_code(&f, "alice", "alice-pw", &[1; 31], &device).await;
    assert!(reason.contains("malformed"), "{reason}");

    // Signed by the right key for another server's name.
    let failed = failed_codes(&f, "alice");
    let mut c = Client::connect(&f).await;
    let elsewhere = ticket_proof_message(&c.exporter(), "another-server", "alice", &ticket_id);
    let proof = device.0.sign(&elsewhere).as_ref().to_vec();
    let answer = c.login_with_ticket("alice", "alice-pw", &ticket_id, proof).await;
    assert!(
        matches!(answer, ServerMessage::FirstFactorOk { second_factor: SecondFactor::Required { .. }, .. }),
        "{answer:?}"
    );
    assert_eq!(failed_codes(&f, "alice"), failed + 1);

    // The proof made on connection 1, sent on connection 2: bound to another TLS session.
    let first = Client::connect(&f).await;
    let captured = device.proof(&f, &first, "alice", &ticket_id);
    let mut second = Client::connect(&f).await;
    let failed = failed_codes(&f, "alice");
    let answer = second.login_with_ticket("alice", "alice-pw", &ticket_id, captured).await;
    assert!(
        matches!(answer, ServerMessage::FirstFactorOk { second_factor: SecondFactor::Required { .. }, .. }),
        "{answer:?}"
    );
    assert_eq!(failed_codes(&f, "alice"), failed + 1);
    let reason = ticket_events(&f, "refused").last().unwrap()["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("bad proof"), "{reason}");
    drop(first);

    // The ticket itself was never spoilt by the refusals: its own device still logs in.
    let mut c = ticket_login(&f, "alice", "alice-pw", &ticket_id, &device).await;
    assert_sql_works(&mut c).await;
    assert_eq!(failed_codes(&f, "alice"), 0, "an accepted ticket resets the count like a code");
}

#[tokio::test]
async fn a_wrong_password_with_a_valid_ticket_is_a_password_failure() {
    let f = start(tickets_on).await;
    let device = Device::new();
    let ticket_id = ticket_for(&f, "alice", "alice-pw", &device).await;
    let mut c = Client::connect(&f).await;
    let proof = device.proof(&f, &c, "alice", &ticket_id);
    let answer = c.login_with_ticket("alice", "not-her-pw", &ticket_id, proof).await;
    assert_error(&answer, "28000", 1001, true);
    let u = store(&f).user("alice").unwrap().unwrap();
    assert_eq!((u.failed_first_factor, u.failed_second_factor), (1, 0));
    assert!(ticket_events(&f, "used").is_empty() && ticket_events(&f, "refused").is_empty());
    let row = store(&f).tickets("alice").unwrap().remove(0);
    assert_eq!(row.last_used_at, row.issued_at, "the ticket was not examined");
}

#[tokio::test]
async fn idle_and_expired_tickets_are_refused() {
    let f = start(tickets_on).await;
    let device = Device::new();
    let ticket_id = ticket_for(&f, "alice", "alice-pw", &device).await;
    // Used within the idle limit, it lives on...
    f.clock.advance(3_000);
    ticket_login(&f, "alice", "alice-pw", &ticket_id, &device).await;
    f.clock.advance(3_000);
    ticket_login(&f, "alice", "alice-pw", &ticket_id, &device).await;
    // ...until unused for idle_secs.
    f.clock.advance(3_600);
    let reason = refused_then_code(&f, "alice", "alice-pw", &ticket_id, &device).await;
    assert!(reason.contains("idle-expired"), "{reason}");

    // Kept busy, it still ends at its hard end.
    let busy = Device::new();
    let id = ticket_for(&f, "bob", "bob-pw", &busy).await;
    for _ in 0..9 {
        f.clock.advance(3_000);
        ticket_login(&f, "bob", "bob-pw", &id, &busy).await;
    }
    f.clock.advance(1_801);
    let reason = refused_then_code(&f, "bob", "bob-pw", &id, &busy).await;
    assert!(reason.contains("expired") && !reason.contains("idle"), "{reason}");
}

#[tokio::test]
async fn totp_reset_password_change_and_deny_kill_tickets() {
    let f = start(tickets_on).await;
    let device = Device::new();
    let key = twofactor_server::crypto::SecretsKey::load(&f.data.join("secrets.key")).unwrap();

    let id = ticket_for(&f, "alice", "alice-pw", &device).await;
    let sealed_secret = key.seal("alice", SECRET);
    store(&f).set_totp("alice", &TotpEnrolment { sealed_secret, algorithm: "SHA1".into(), digits: 6 }).unwrap();
    assert!(store(&f).tickets("alice").unwrap().is_empty());
    let reason = refused_then_code(&f, "alice", "alice-pw", &id, &device).await;
    assert!(reason.contains("unknown"), "{reason}");

    let id = ticket_for(&f, "alice", "alice-pw", &device).await;
    store(&f).set_password("alice", &hash_password("new-pw", CHEAP).unwrap()).unwrap();
    let reason = refused_then_code(&f, "alice", "new-pw", &id, &device).await;
    assert!(reason.contains("unknown"), "{reason}");

    let id = ticket_for(&f, "alice", "new-pw", &device).await;
    store(&f).set_ticket_policy("alice", TicketPolicy::Deny).unwrap();
    let reason = refused_then_code(&f, "alice", "new-pw", &id, &device).await;
    assert!(reason.contains("off for this user"), "{reason}");
}

#[tokio::test]
async fn issuing_past_max_per_user_revokes_the_oldest() {
    let f = start(|c| {
        tickets_on(c);
        c.tickets.max_per_user = 2;
    })
    .await;
    let device = Device::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(ticket_for(&f, "alice", "alice-pw", &device).await);
        f.clock.advance(30);
    }
    let reason = refused_then_code(&f, "alice", "alice-pw", &ids[0], &device).await;
    assert!(reason.contains("revoked"), "{reason}");
    f.clock.advance(30);
    ticket_login(&f, "alice", "alice-pw", &ids[1], &device).await;
    ticket_login(&f, "alice", "alice-pw", &ids[2], &device).await;
    assert!(ticket_events(&f, "issued").last().unwrap()["reason"].as_str().unwrap().contains("1 oldest revoked"));
}

#[tokio::test]
async fn a_refused_ticket_that_reaches_the_limit_locks_the_account() {
    let f = start(tickets_on).await;
    let device = Device::new();
    let ticket_id = ticket_for(&f, "alice", "alice-pw", &device).await;
    for _ in 0..4 {
        let mut c = Client::connect(&f).await;
        assert!(matches!(c.login("alice", "alice-pw").await, ServerMessage::FirstFactorOk { .. }));
        assert_error(&c.code(&wrong_code(&f)).await, "28000", 1002, true);
    }
    let mut c = Client::connect(&f).await;
    let proof = Device::new().proof(&f, &c, "alice", &ticket_id);
    assert_error(&c.login_with_ticket("alice", "alice-pw", &ticket_id, proof).await, "28000", 1003, true);
    // Locked: even the right ticket and key are refused now.
    let mut c = Client::connect(&f).await;
    let proof = device.proof(&f, &c, "alice", &ticket_id);
    assert_error(&c.login_with_ticket("alice", "alice-pw", &ticket_id, proof).await, "28000", 1003, true);
}

fn sms_user(dir: &Path) {
    add_user(dir, "sam", "sam-pw", false);
    let s = SqliteUserStore::open(&dir.join("users.db")).unwrap();
    s.set_phone("sam", Some("+15551234567"), Some("T-Mobile")).unwrap();
    s.set_method("sam", twofactor_server::store::Method::Sms).unwrap();
}

#[tokio::test]
async fn an_sms_user_with_a_valid_ticket_is_sent_no_code() {
    // The SMTP relay is a closed port: any attempt to send a code fails the login (1007),
    // so a login that succeeds sent nothing.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let f = start_with(
        |c| {
            tickets_on(c);
            c.smtp.host = "127.0.0.1".into();
            c.smtp.port = closed;
            c.smtp.security = "none".into();
            c.smtp.timeout_secs = 2;
        },
        sms_user,
    )
    .await;
    let device = Device::new();
    // Issued as RequestTicket would after a code login (none can be sent here).
    let id = [42u8; 32];
    let id_hash = twofactor_server::store::ticket_id_hash(&id);
    let ticket = twofactor_server::store::NewTicket {
        id_hash: &id_hash,
        user: "sam",
        public_key: &device.public_key(),
        issued_at: T0,
        expires_at: T0 + 28_800,
        idle_secs: 3_600,
        peer: "127.0.0.1:1",
    };
    store(&f).issue_ticket(&ticket, 20).unwrap();
    let mut c = ticket_login(&f, "sam", "sam-pw", &id, &device).await;
    assert_sql_works(&mut c).await;
    assert!(store(&f).pending_code("sam", T0).unwrap().is_none(), "no code was issued");
    assert!(!audit_lines(&f).iter().any(|v| v["event"] == "code_send"));
    // A refused ticket goes on exactly as Login: the code is sent now (and fails here).
    let mut c = Client::connect(&f).await;
    let proof = Device::new().proof(&f, &c, "sam", &id);
    assert_error(&c.login_with_ticket("sam", "sam-pw", &id, proof).await, "HY000", 1007, true);
    assert!(audit_lines(&f).iter().any(|v| v["event"] == "code_send" && v["outcome"] == "failed"));
}

#[tokio::test]
async fn a_user_without_a_second_factor_logs_in_with_the_ticket_ignored() {
    let f = start(tickets_on).await;
    store(&f).set_two_factor_required("carol", false).unwrap();
    let mut c = Client::connect(&f).await;
    let proof = Device::new().proof(&f, &c, "carol", &[3; 32]);
    match c.login_with_ticket("carol", "carol-pw", &[3; 32], proof).await {
        ServerMessage::FirstFactorOk { second_factor: SecondFactor::NotRequired, .. } => {}
        other => panic!("{other:?}"),
    }
    assert!(ticket_events(&f, "refused").is_empty());
    // No code was proved: no ticket.
    assert_error(&request_ticket(&mut c, Device::new().public_key()).await, "28000", 1013, false);
}

fn cli(f: &Fixture, args: &[&str]) -> (bool, String, String) {
    cli_with_stdin(f, args, "")
}

fn cli_with_stdin(f: &Fixture, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(&f.data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_lists_revokes_and_sets_the_policy() {
    let f = start(|_| {}).await;
    let (ok, out, err) = cli(&f, &["user", "tickets", "alice", "allow"]);
    assert!(ok, "{err}");
    assert!(out.contains("allow"), "{out}");
    let device = Device::new();
    let one = ticket_for(&f, "alice", "alice-pw", &device).await;
    f.clock.advance(30);
    let two = ticket_for(&f, "alice", "alice-pw", &device).await;
    let (ok, list, err) = cli(&f, &["user", "tickets", "alice", "list"]);
    assert!(ok, "{err}");
    assert!(list.contains("ticket policy of `alice`: allow (tickets on)"), "{list}");
    let rows = store(&f).tickets("alice").unwrap();
    let short = rows[0].short_id();
    assert!(list.contains(&short) && list.contains(&rows[1].short_id()) && list.contains("active"), "{list}");
    assert!(list.contains(&twofactor_server::audit::rfc3339(rows[0].expires_at)), "{list}");

    let (ok, out, err) = cli(&f, &["user", "tickets", "alice", "revoke", &short]);
    assert!(ok && out.contains("1 ticket(s) revoked"), "{out}{err}");
    let (ok, _, err) = cli(&f, &["user", "tickets", "alice", "revoke", &short]);
    assert!(!ok && err.contains("revoked already"), "{err}");
    let (ok, _, err) = cli(&f, &["user", "tickets", "alice", "revoke", "00000000"]);
    assert!(!ok && err.contains("no ticket"), "{err}");
    let (_, list, _) = cli(&f, &["user", "tickets", "alice", "list"]);
    assert!(list.contains("revoked"), "{list}");
    f.clock.advance(30);
    let reason = refused_then_code(&f, "alice", "alice-pw", &one, &device).await;
    assert!(reason.contains("revoked"), "{reason}");
    f.clock.advance(30);
    ticket_login(&f, "alice", "alice-pw", &two, &device).await;
    let (ok, out, _) = cli(&f, &["user", "tickets", "alice", "revoke", "--all"]);
    assert!(ok && out.contains("1 ticket(s) revoked"), "{out}");
    f.clock.advance(30);
    refused_then_code(&f, "alice", "alice-pw", &two, &device).await;
    let revoked: Vec<_> = ticket_events(&f, "revoked");
    assert_eq!(revoked.len(), 2);
    assert_eq!(revoked[0]["peer"], "cli");

    // deny wins over an enabled server; default follows it (off here).
    let (ok, _, _) = cli(&f, &["user", "tickets", "alice", "deny"]);
    assert!(ok);
    assert_eq!(store(&f).ticket_policy("alice").unwrap(), TicketPolicy::Deny);
    let (ok, _, _) = cli(&f, &["user", "tickets", "alice", "default"]);
    assert!(ok);
    assert_eq!(store(&f).ticket_policy("alice").unwrap(), TicketPolicy::Default);
    let (ok, _, err) = cli(&f, &["user", "tickets", "nobody", "list"]);
    assert!(!ok && err.contains("no user"), "{err}");

    // user remove says how many tickets died.
    cli(&f, &["user", "tickets", "bob", "allow"]);
    ticket_for(&f, "bob", "bob-pw", &device).await;
    let (ok, _, err) = cli(&f, &["user", "remove", "bob"]);
    assert!(ok, "{err}");
    let removed = audit_lines(&f).into_iter().find(|v| v["event"] == "user_remove").unwrap();
    assert_eq!(removed["reason"], "1 two-factor ticket(s) deleted");

    // So do a password change and a TOTP reset, which delete the tickets.
    cli(&f, &["user", "tickets", "alice", "allow"]);
    let id = ticket_for(&f, "alice", "alice-pw", &device).await;
    let (ok, _, err) = cli_with_stdin(&f, &["user", "password", "alice", "--password-stdin"], "alice-pw-2\n");
    assert!(ok, "{err}");
    let changed = audit_lines(&f).into_iter().find(|v| v["event"] == "password_change").unwrap();
    assert_eq!(changed["reason"], "1 two-factor ticket(s) deleted");
    let reason = refused_then_code(&f, "alice", "alice-pw-2", &id, &device).await;
    assert!(reason.contains("unknown ticket"), "{reason}");
    ticket_for(&f, "alice", "alice-pw-2", &device).await;
    ticket_for(&f, "alice", "alice-pw-2", &device).await;
    let (ok, _, err) = cli(&f, &["totp", "reset", "alice", "--secret-only"]);
    assert!(ok, "{err}");
    let reset = audit_lines(&f).into_iter().find(|v| v["event"] == "totp_reset").unwrap();
    assert_eq!(reset["reason"], "2 two-factor ticket(s) deleted");
    assert!(store(&f).tickets("alice").unwrap().is_empty());
}
