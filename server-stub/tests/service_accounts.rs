//! Service accounts at the protocol level: KeyLogin and CertLogin against a real server
//! over real TLS, every refusal the same 28000/1012, counted like a wrong password; and
//! the `service-account` commands of the real binary.

mod common;
#[path = "service_accounts/pg.rs"]
mod pg;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use twofactor_protocol::proof::{key_login_message, EXPORTER_LABEL, EXPORTER_LEN};
use twofactor_protocol::{ClientMessage, SecondFactor, ServerMessage, PROTOCOL_VERSION};
use twofactor_server::store::{
    parse_networks, AllowedBackend, ServiceAccount, ServiceKind, SqliteUserStore, UserStore,
};

fn key_pair() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

fn add_account(dir: &Path, name: &str, kind: ServiceKind, credential: Vec<u8>, from: &str, backend: AllowedBackend) {
    let store = SqliteUserStore::open(&dir.join("users.db")).unwrap();
    let account = ServiceAccount {
        name: name.into(),
        kind,
        credential,
        networks: parse_networks(from).unwrap(),
        backend,
        sql_role: None,
        created_at: T0,
    };
    store
        .create_service_account(
            &account,
            &twofactor_server::password::hash_password("never told to anyone", CHEAP).unwrap(),
        )
        .unwrap();
}

fn exporter(c: &Client) -> [u8; EXPORTER_LEN] {
    c.tls.get_ref().1.export_keying_material([0u8; EXPORTER_LEN], EXPORTER_LABEL, None).unwrap()
}

fn proof(f: &Fixture, c: &Client, user: &str, key: &Ed25519KeyPair) -> Vec<u8> {
    key.sign(&key_login_message(&exporter(c), &f.config.server.name, user)).as_ref().to_vec()
}

async fn key_login(f: &Fixture, user: &str, key: &Ed25519KeyPair) -> (Client, ServerMessage) {
    let mut c = Client::connect(f).await;
    let proof = proof(f, &c, user, key);
    c.send(ClientMessage::KeyLogin { user: user.into(), proof }).await;
    let reply = c.recv().await.unwrap();
    (c, reply)
}

/// A client presenting `cert_pem` / `key_pem`; None when the server refuses it in the
/// handshake (TLS 1.3 reports that at the client's first read, so Hello is tried too).
async fn connect_with_cert(f: &Fixture, cert_pem: &str, key_pem: &str) -> Option<Client> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(f.data.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let certs = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .unwrap();
    let tcp = TcpStream::connect(f.server.local_addr()).await.unwrap();
    let tls =
        TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("localhost").unwrap(), tcp).await.ok()?;
    let mut c = Client { tls, buf: Vec::new() };
    c.send(ClientMessage::Hello { min_version: 1, max_version: PROTOCOL_VERSION, client_name: "test".into() }).await;
    match c.recv().await {
        Some(ServerMessage::HelloOk { .. }) => Some(c),
        _ => None,
    }
}

fn audit(f: &Fixture) -> String {
    std::fs::read_to_string(f.data.join("audit.log")).unwrap()
}

fn assert_refused(m: &ServerMessage) {
    assert_error(m, "28000", 1012, true);
    if let ServerMessage::Error(e) = m {
        assert_eq!(e.message, "service-account login refused", "one message for every reason");
    }
}

#[tokio::test]
async fn a_key_account_logs_in_without_a_second_factor_and_runs_sql() {
    let key = key_pair();
    let public = key.public_key().as_ref().to_vec();
    let f = start_with(|_| {}, |d| add_account(d, "etl", ServiceKind::Key, public, "127.0.0.0/8", AllowedBackend::Any))
        .await;
    let (mut c, reply) = key_login(&f, "etl", &key).await;
    match reply {
        ServerMessage::FirstFactorOk { second_factor, .. } => assert_eq!(second_factor, SecondFactor::NotRequired),
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.exec("SELECT 41 + 1", no_params()).await, ServerMessage::ResultSet { .. }));
    let log = audit(&f);
    assert!(log.contains(r#""event":"service_login","outcome":"ok""#) && log.contains(r#""method":"key""#), "{log}");
}

#[tokio::test]
async fn a_wrong_key_a_replayed_proof_and_an_ordinary_user_are_refused_alike() {
    let (key, other) = (key_pair(), key_pair());
    let public = key.public_key().as_ref().to_vec();
    let f =
        start_with(|_| {}, |d| add_account(d, "etl", ServiceKind::Key, public, "127.0.0.1", AllowedBackend::Any)).await;
    assert_refused(&key_login(&f, "etl", &other).await.1);
    // A proof made on one TLS session is worthless on another.
    let first = Client::connect(&f).await;
    let captured = proof(&f, &first, "etl", &key);
    let mut second = Client::connect(&f).await;
    second.send(ClientMessage::KeyLogin { user: "etl".into(), proof: captured }).await;
    assert_refused(&second.recv().await.unwrap());
    // A person's account and a name nobody has get the same answer.
    assert_refused(&key_login(&f, "alice", &key).await.1);
    assert_refused(&key_login(&f, "nobody", &key).await.1);
    let mut c = Client::connect(&f).await;
    c.send(ClientMessage::CertLogin { user: "etl".into() }).await;
    assert_refused(&c.recv().await.unwrap());
    let log = audit(&f);
    for why in [
        "the key proof does not verify",
        "not a service account",
        "unknown user",
        "the account logs in with a key, not a certificate",
    ] {
        assert!(log.contains(why), "audit lacks {why:?}: {log}");
    }
    // A password never logs in to a service account.
    let mut c = Client::connect(&f).await;
    assert_error(&c.login("etl", "x").await, "28000", 1001, true);
    // Nothing of the key or the proof is in the audit.
    assert!(!log.contains(&data_encoding_free_hex(key.public_key().as_ref())), "{log}");
}

fn data_encoding_free_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn an_address_outside_the_list_or_a_backend_not_allowed_is_refused() {
    let key = key_pair();
    let public = key.public_key().as_ref().to_vec();
    let p2 = public.clone();
    let f = start_with(
        |_| {},
        |d| {
            add_account(d, "far", ServiceKind::Key, public, "10.0.0.0/8,192.168.0.0/16", AllowedBackend::Any);
            add_account(d, "pgonly", ServiceKind::Key, p2, "127.0.0.1", AllowedBackend::Postgres);
        },
    )
    .await;
    assert_refused(&key_login(&f, "far", &key).await.1);
    assert_refused(&key_login(&f, "pgonly", &key).await.1);
    let log = audit(&f);
    assert!(log.contains("the source address is outside the account's networks"), "{log}");
    assert!(log.contains("the account may not use this server's SQL backend"), "{log}");
}

/// A client whose connection comes through a balancer that names `client` in a PROXY v2
/// header; then a key login as `user`.
async fn key_login_via_balancer(f: &Fixture, client: &str, user: &str, key: &Ed25519KeyPair) -> ServerMessage {
    use ppp::v2::{Builder, Command, Protocol, Version};
    use tokio::io::AsyncWriteExt;
    let addresses = (client.parse::<std::net::SocketAddr>().unwrap(), f.server.local_addr());
    let header = Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, addresses).build().unwrap();
    let mut tcp = TcpStream::connect(f.server.local_addr()).await.unwrap();
    tcp.write_all(&header).await.unwrap();
    let tls = f.connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let mut c = Client { tls, buf: Vec::new() };
    c.send(ClientMessage::Hello { min_version: 1, max_version: PROTOCOL_VERSION, client_name: "test".into() }).await;
    assert!(matches!(c.recv().await, Some(ServerMessage::HelloOk { .. })));
    let proof = proof(f, &c, user, key);
    c.send(ClientMessage::KeyLogin { user: user.into(), proof }).await;
    c.recv().await.unwrap()
}

#[tokio::test]
async fn behind_a_trusted_balancer_the_networks_are_checked_against_the_real_client() {
    let key = key_pair();
    let public = key.public_key().as_ref().to_vec();
    let p2 = public.clone();
    let f = start_with(
        |c| c.server.proxy_protocol_from = vec!["127.0.0.1".into()],
        |d| {
            add_account(d, "branch", ServiceKind::Key, public, "203.0.113.0/24", AllowedBackend::Any);
            add_account(d, "local", ServiceKind::Key, p2, "127.0.0.1", AllowedBackend::Any);
        },
    )
    .await;
    let ok = key_login_via_balancer(&f, "203.0.113.7:4242", "branch", &key).await;
    assert!(matches!(ok, ServerMessage::FirstFactorOk { .. }), "{ok:?}");
    // The balancer's own address is not the client's.
    assert_refused(&key_login_via_balancer(&f, "198.51.100.9:5151", "local", &key).await);
    assert_refused(&key_login_via_balancer(&f, "198.51.100.9:5151", "branch", &key).await);
}

#[tokio::test]
async fn refusals_count_like_wrong_passwords_and_lock_the_account() {
    let (key, wrong) = (key_pair(), key_pair());
    let public = key.public_key().as_ref().to_vec();
    let f = start_with(
        |c| {
            c.auth.max_failed_passwords = 3;
            c.auth.address_max_failures = 1000;
        },
        |d| add_account(d, "etl", ServiceKind::Key, public, "127.0.0.1", AllowedBackend::Any),
    )
    .await;
    for _ in 0..3 {
        assert_refused(&key_login(&f, "etl", &wrong).await.1);
    }
    // Locked: the right key is refused too until the lock runs out or an admin unlocks.
    assert_error(&key_login(&f, "etl", &key).await.1, "28000", 1003, true);
    assert!(audit(&f).contains(r#""event":"lockout""#));
    f.clock.advance(f.config.auth.password_lockout_secs as i64 + 1);
    assert!(matches!(key_login(&f, "etl", &key).await.1, ServerMessage::FirstFactorOk { .. }));
}

#[tokio::test]
async fn bad_proofs_from_outside_the_networks_cannot_lock_the_job_out() {
    let (key, wrong) = (key_pair(), key_pair());
    let public = key.public_key().as_ref().to_vec();
    let f = start_with(
        |c| {
            c.server.proxy_protocol_from = vec!["127.0.0.1".into()];
            c.auth.max_failed_passwords = 2;
            c.auth.address_max_failures = 1000;
        },
        |d| add_account(d, "nightly", ServiceKind::Key, public, "203.0.113.0/24", AllowedBackend::Any),
    )
    .await;
    // An outsider sends more bad proofs than the lockout allows, and the right key too.
    for k in [&wrong, &wrong, &wrong, &wrong, &key] {
        assert_refused(&key_login_via_balancer(&f, "198.51.100.9:5151", "nightly", k).await);
    }
    assert!(audit(&f).contains("outside the account's networks; not counted"));
    assert!(!audit(&f).contains(r#""event":"lockout""#));
    // The job itself, from its network, still logs in.
    let ok = key_login_via_balancer(&f, "203.0.113.7:4242", "nightly", &key).await;
    assert!(matches!(ok, ServerMessage::FirstFactorOk { .. }), "{ok:?}");
    // From inside the networks, bad proofs are counted as before.
    for _ in 0..2 {
        assert_refused(&key_login_via_balancer(&f, "203.0.113.8:4242", "nightly", &wrong).await);
    }
    assert_error(&key_login_via_balancer(&f, "203.0.113.7:4242", "nightly", &key).await, "28000", 1003, true);
}

#[tokio::test]
async fn the_address_throttle_counts_service_logins() {
    let wrong = key_pair();
    let public = key_pair().public_key().as_ref().to_vec();
    let f = start_with(
        |c| {
            c.auth.max_failed_passwords = 1000;
            c.auth.address_max_failures = 2;
        },
        |d| add_account(d, "etl", ServiceKind::Key, public, "127.0.0.1", AllowedBackend::Any),
    )
    .await;
    assert_refused(&key_login(&f, "etl", &wrong).await.1);
    assert_refused(&key_login(&f, "etl", &wrong).await.1);
    assert_error(&key_login(&f, "etl", &wrong).await.1, "28000", 1009, true);
}

#[tokio::test]
async fn a_pinned_certificate_logs_in_and_another_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let issued = std::cell::RefCell::new(None);
    let f = start_with(
        |_| {},
        |d| {
            let mine = twofactor_server::client_ca::issue(d, "nightly", 30).unwrap();
            let theirs = twofactor_server::client_ca::issue(d, "other", 30).unwrap();
            let (m, t) = (mine.fingerprint.to_vec(), theirs.fingerprint.to_vec());
            add_account(d, "nightly", ServiceKind::Certificate, m, "127.0.0.1/32", AllowedBackend::Sqlite);
            add_account(d, "other", ServiceKind::Certificate, t, "127.0.0.1/32", AllowedBackend::Sqlite);
            *issued.borrow_mut() = Some((mine, theirs));
        },
    )
    .await;
    let (mine, theirs) = issued.into_inner().unwrap();
    let mut c =
        connect_with_cert(&f, &mine.cert_pem, &mine.key_pem).await.expect("a client CA certificate is accepted");
    c.send(ClientMessage::CertLogin { user: "nightly".into() }).await;
    assert!(matches!(c.recv().await.unwrap(), ServerMessage::FirstFactorOk { .. }));
    assert!(matches!(c.exec("SELECT 1", no_params()).await, ServerMessage::ResultSet { .. }));
    // A good certificate of the same CA, pinned to another account.
    let mut c = connect_with_cert(&f, &theirs.cert_pem, &theirs.key_pem).await.unwrap();
    c.send(ClientMessage::CertLogin { user: "nightly".into() }).await;
    assert_refused(&c.recv().await.unwrap());
    // No certificate at all.
    let mut c = Client::connect(&f).await;
    c.send(ClientMessage::CertLogin { user: "nightly".into() }).await;
    assert_refused(&c.recv().await.unwrap());
    let log = audit(&f);
    assert!(log.contains("the client certificate is not the one pinned to the account"), "{log}");
    assert!(log.contains("no client certificate"), "{log}");
    assert!(log.contains(r#""method":"certificate""#), "{log}");
    // A certificate from a CA the server does not trust never gets past the handshake.
    let foreign = twofactor_server::client_ca::issue(tmp.path(), "nightly", 30).unwrap();
    assert!(connect_with_cert(&f, &foreign.cert_pem, &foreign.key_pem).await.is_none());
}

const BIN: &str = env!("CARGO_BIN_EXE_twofactor-server");

fn cli(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).arg("--data-dir").arg(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_cli_adds_lists_changes_issues_and_removes_and_its_keys_log_in() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    assert!(cli(&d, &["init"]).0);
    let key_file = tmp.path().join("etl.pem");
    let k = key_file.to_str().unwrap();
    let (ok, out) =
        cli(&d, &["service-account", "add", "etl", "--from", "127.0.0.1/32,10.0.0.0/8", "--generate-key", k]);
    assert!(ok, "{out}");
    assert!(!out.contains("PRIVATE KEY"), "a private key is never printed: {out}");
    assert_eq!(mode(&key_file), 0o600);
    let certs = tmp.path().join("certs");
    let (ok, out) =
        cli(&d, &["service-account", "add", "nightly", "--from", "127.0.0.1", "--issue-cert", certs.to_str().unwrap()]);
    assert!(ok, "{out}");
    for f in ["nightly.crt", "nightly.key"] {
        assert_eq!(mode(&certs.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&certs), 0o700);
    assert_eq!(mode(&d.join("client-ca.key")), 0o600);
    // Refusals: no networks, no credential, a name taken, a password for the account.
    assert!(!cli(&d, &["service-account", "add", "x", "--from", "", "--generate-key", "/dev/null/x"]).0);
    assert!(!cli(&d, &["service-account", "add", "x", "--from", "10.0.0.1"]).0);
    let (ok, out) = cli(
        &d,
        &["service-account", "add", "etl", "--from", "10.0.0.1", "--cert", certs.join("nightly.crt").to_str().unwrap()],
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = cli(&d, &["user", "password", "etl", "--password-stdin"]);
    assert!(!ok && out.contains("service account"), "{out}");
    let (ok, list) = cli(&d, &["service-account", "list"]);
    assert!(ok && list.contains("etl") && list.contains("nightly") && list.contains("10.0.0.0/8"), "{list}");
    let (ok, out) = cli(&d, &["service-account", "set", "etl", "--sql-role", "etl_writer", "--backend", "sqlite"]);
    assert!(ok, "{out}");
    let (_, list) = cli(&d, &["service-account", "list"]);
    assert!(list.contains("etl_writer") && list.contains("sqlite"), "{list}");
    let again = tmp.path().join("again");
    assert!(cli(&d, &["service-account", "issue-cert", "nightly", "--out", again.to_str().unwrap(), "--days", "7"]).0);
    assert!(!cli(&d, &["service-account", "issue-cert", "etl", "--out", again.to_str().unwrap()]).0, "a key account");

    // The generated key and the reissued certificate log in to a server on that directory.
    let mut config = twofactor_server::Config::load(&d).unwrap();
    config.server.listen = "127.0.0.1:0".into();
    let clock = Arc::new(twofactor_server::ManualClock::new(T0));
    let server = twofactor_server::Server::start(config.clone(), clock.clone()).await.unwrap();
    let connector = TlsConnector::from(twofactor_server::tls::client_config(&d.join("ca.pem")).unwrap());
    let f = Fixture { _dir: tempfile::tempdir().unwrap(), server, clock, connector, data: d.clone(), config };
    let pem = std::fs::read(&key_file).unwrap();
    let der = PrivateKeyDer::from_pem_slice(&pem).unwrap();
    let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_der()).unwrap();
    assert!(matches!(key_login(&f, "etl", &key).await.1, ServerMessage::FirstFactorOk { .. }));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let old = connect_with_cert(&f, &read(&certs.join("nightly.crt")), &read(&certs.join("nightly.key"))).await;
    let mut old = old.unwrap();
    old.send(ClientMessage::CertLogin { user: "nightly".into() }).await;
    assert_refused(&old.recv().await.unwrap());
    let new = connect_with_cert(&f, &read(&again.join("nightly.crt")), &read(&again.join("nightly.key"))).await;
    let mut new = new.unwrap();
    new.send(ClientMessage::CertLogin { user: "nightly".into() }).await;
    assert!(matches!(new.recv().await.unwrap(), ServerMessage::FirstFactorOk { .. }));

    assert!(cli(&d, &["service-account", "remove", "etl"]).0);
    assert!(!cli(&d, &["service-account", "remove", "etl"]).0);
    let (_, list) = cli(&d, &["service-account", "list"]);
    assert!(!list.contains("etl "), "{list}");
    let log = std::fs::read_to_string(d.join("audit.log")).unwrap();
    for e in ["service_account_add", "service_account_set", "service_account_issue_cert", "service_account_remove"] {
        assert!(log.contains(e), "{e}: {log}");
    }
}
