//! The service-login keys, checked before anything is sent, and a server too old for them.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::conn::config::Settings;

fn config(s: &str) -> ConnectConfig {
    let mut settings = Settings::default();
    settings.extend(crate::conn::connection_string::parse(s).unwrap());
    ConnectConfig::from_settings(&settings).unwrap()
}

/// An Ed25519 PKCS#8 PEM key file of `mode` in a fresh directory.
fn key_file(mode: u32) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let path = dir.path().join("job.pem");
    std::fs::write(&path, pem_text(pkcs8.as_ref())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

fn pem_text(der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
}

#[test]
fn a_private_key_file_of_the_user_logs_in_with_a_key() {
    let (_dir, path) = key_file(0o600);
    let (login, _) = prepare(&config(&format!("UID=etl;ServiceKeyFile={path};TLSVerify=No"))).unwrap();
    assert!(matches!(login, Some(ServiceLogin::Key(_))));
    let (login, _) = prepare(&config("UID=alice;PWD=x;TLSVerify=No")).unwrap();
    assert!(login.is_none(), "no service keys: an ordinary login");
}

#[test]
fn a_key_file_others_can_read_is_refused_like_ssh_does() {
    for mode in [0o640, 0o604, 0o660] {
        let (_dir, path) = key_file(mode);
        let e = prepare(&config(&format!("UID=etl;ServiceKeyFile={path};TLSVerify=No"))).err().unwrap();
        assert_eq!(e.state, SqlState::INVALID_AUTHORIZATION);
        assert!(e.message.contains("chmod 600") && e.message.contains("ServiceKeyFile"), "{}", e.message);
    }
}

#[test]
fn a_key_file_owned_by_another_user_is_refused() {
    let (_dir, path) = key_file(0o600);
    // Only root can give a file away; elsewhere there is nothing to test.
    if std::os::unix::fs::chown(&path, Some(65534), None).is_err() {
        return;
    }
    let e = prepare(&config(&format!("UID=etl;ServiceKeyFile={path};TLSVerify=No"))).err().unwrap();
    assert_eq!(e.state, SqlState::INVALID_AUTHORIZATION);
    assert!(e.message.contains("owned by uid 65534"), "{}", e.message);
}

#[test]
fn a_password_both_kinds_or_half_a_certificate_are_errors_that_say_so() {
    let (_dir, path) = key_file(0o600);
    let e = prepare(&config(&format!("UID=etl;PWD=secret;ServiceKeyFile={path};TLSVerify=No"))).err().unwrap();
    assert_eq!(e.state, SqlState::GENERAL_ERROR);
    assert!(e.message.contains("PWD must be empty"), "{}", e.message);
    let s = format!("UID=etl;ServiceKeyFile={path};ClientCertificate={path};ClientKey={path};TLSVerify=No");
    let e = prepare(&config(&s)).err().unwrap();
    assert!(e.message.contains("both set"), "{}", e.message);
    let e = prepare(&config(&format!("UID=etl;ClientKey={path};TLSVerify=No"))).err().unwrap();
    assert_eq!(e.state, SqlState::INVALID_AUTHORIZATION);
    let e = prepare(&config(&format!("UID=etl;ClientCertificate={path};TLSVerify=No"))).err().unwrap();
    assert!(e.message.contains("needs ClientKey"), "{}", e.message);
    let e = prepare(&config(&format!("ServiceKeyFile={path};TLSVerify=No"))).err().unwrap();
    assert!(e.message.contains("UID"), "{}", e.message);
}

#[test]
fn a_file_that_is_no_ed25519_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-key.pem");
    std::fs::write(&path, "hello\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let s = format!("UID=etl;ServiceKeyFile={};TLSVerify=No", path.display());
    let e = prepare(&config(&s)).err().unwrap();
    assert_eq!(e.state, SqlState::INVALID_AUTHORIZATION);
    assert!(e.message.contains("no PEM private key"), "{}", e.message);
}

/// A TLS server that speaks protocol `version` (below 4: no service-account logins) for
/// one connection: it answers Hello and then waits for whatever comes. Returns its port
/// and what it received after Hello.
fn old_server(version: u16) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::{Read, Write};
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], der.into())
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let hello_len = loop {
            let n = tls.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            if let Some((_, used)) = ClientMessage::decode(&buf, 1 << 20).unwrap() {
                break used;
            }
        };
        let mut out = Vec::new();
        ServerMessage::HelloOk { version, server_name: "old".into() }.encode(&mut out);
        tls.write_all(&out).unwrap();
        tls.flush().unwrap();
        let mut rest = buf.split_off(hello_len);
        // Until the driver closes: anything it sent after Hello is kept.
        while let Ok(n) = tls.read(&mut chunk) {
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest
    });
    (port, server)
}

#[test]
fn a_server_below_protocol_4_gets_no_service_login_and_the_error_says_why() {
    let (_dir, path) = key_file(0o600);
    let (port, server) = old_server(3);
    let c = crate::conn::Connection::new(Arc::new(crate::env::Environment::new()), 0);
    let mut settings = Settings::default();
    let cs = format!("Server=127.0.0.1;Port={port};TLSVerify=No;UID=etl;ServiceKeyFile={path};LoginTimeout=5");
    settings.extend(crate::conn::connection_string::parse(&cs).unwrap());
    let e = c.connect(&settings, false).unwrap_err();
    assert_eq!(e.state, SqlState::UNABLE_TO_CONNECT);
    assert!(e.message.contains("version 3") && e.message.contains("version 4 or later"), "{}", e.message);
    let after_hello = server.join().unwrap();
    assert!(
        ClientMessage::decode(&after_hello, 1 << 20)
            .ok()
            .flatten()
            .is_none_or(|(m, _)| matches!(m, ClientMessage::Terminate)),
        "no proof went to the old server: {after_hello:?}"
    );
}
