//! Service-account logins (docs/service-accounts.md): `ServiceKeyFile` (an Ed25519 key,
//! KeyLogin) or `ClientCertificate` + `ClientKey` (mTLS, CertLogin) instead of a password
//! and a code. Everything is read and checked before the first byte goes to the network,
//! so a bad key file is an error about the file, not about the server.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ring::signature::Ed25519KeyPair;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ClientConfig;
use twofactor_protocol::proof::key_login_message;
use twofactor_protocol::{ClientMessage, SecondFactor, Secret, ServerMessage, TICKETS_SINCE_VERSION};

use super::config::ConnectConfig;
use super::connect::{connect_error, hello, LoginOutcome, Verification};
use super::session::{self, Session};
use super::{unexpected, Connection};
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// How a service account proves itself on this connection.
pub enum ServiceLogin {
    /// KeyLogin: a signature with this key over the connection's TLS exporter.
    Key(Ed25519KeyPair),
    /// CertLogin: the client certificate the TLS handshake presented.
    Certificate,
}

fn refused(message: String) -> OdbcError {
    OdbcError::new(SqlState::INVALID_AUTHORIZATION, message)
}

/// A key file must be the user's own and readable by nobody else, as ssh insists for
/// its identity files: a key others can read is a key others may have.
#[cfg(unix)]
fn check_private_file(key: &str, path: &str, file: &std::fs::File) -> OdbcResult<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(|e| refused(format!("{key} {path:?} cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(refused(format!("{key} {path:?} is not a regular file")));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(refused(format!(
            "{key} {path:?} is owned by uid {}, not by this process's user (uid {me}); refusing to use a key another user controls",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refused(format!(
            "{key} {path:?} is readable or writable by group or others (mode {:o}); run: chmod 600 {path}",
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_file(_key: &str, _path: &str, _file: &std::fs::File) -> OdbcResult<()> {
    Ok(())
}

/// Reads a private key file after checking who may read it.
fn read_private_file(key: &str, path: &str) -> OdbcResult<Vec<u8>> {
    let file =
        super::files::open_nonblocking(path).map_err(|e| refused(format!("{key} {path:?} cannot be read: {e}")))?;
    check_private_file(key, path, &file)?;
    drop(file);
    super::files::read_small_regular_file(path).map_err(|e| refused(format!("{key} {path:?} cannot be read: {e}")))
}

fn read_ed25519_key(path: &str) -> OdbcResult<Ed25519KeyPair> {
    let pem = read_private_file("ServiceKeyFile", path)?;
    let der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| refused(format!("ServiceKeyFile {path:?} holds no PEM private key (BEGIN PRIVATE KEY)")))?;
    // `maybe_unchecked`: OpenSSL writes PKCS#8 v1, without the public key in it.
    match der {
        PrivateKeyDer::Pkcs8(k) => Ed25519KeyPair::from_pkcs8_maybe_unchecked(k.secret_pkcs8_der()).ok(),
        _ => None,
    }
    .ok_or_else(|| refused(format!("ServiceKeyFile {path:?} is not an Ed25519 private key in PKCS#8")))
}

fn read_client_auth(
    cfg: &ConnectConfig,
    cert_path: &str,
) -> OdbcResult<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let Some(key_path) = cfg.client_key.as_deref() else {
        return Err(refused("ClientCertificate needs ClientKey: the certificate's private key (PEM)".into()));
    };
    let pem = super::files::read_small_regular_file(cert_path)
        .map_err(|e| refused(format!("ClientCertificate {cert_path:?} cannot be read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refused(format!("ClientCertificate {cert_path:?} is not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(refused(format!("ClientCertificate {cert_path:?} holds no certificate")));
    }
    let key = PrivateKeyDer::from_pem_slice(&read_private_file("ClientKey", key_path)?)
        .map_err(|_| refused(format!("ClientKey {key_path:?} holds no PEM private key")))?;
    Ok((certs, key))
}

/// The service login the keys ask for, if any, and the TLS configuration to connect
/// with (presenting the client certificate when there is one).
pub fn prepare(cfg: &ConnectConfig) -> OdbcResult<(Option<ServiceLogin>, Arc<ClientConfig>)> {
    let plain_tls = || super::tls::client_config(cfg.ca_file.as_deref(), cfg.tls_verify);
    match (cfg.service_key_file.as_deref(), cfg.client_certificate.as_deref()) {
        (None, None) if cfg.client_key.is_some() => Err(refused("ClientKey is set without ClientCertificate".into())),
        (None, None) => Ok((None, plain_tls()?)),
        (Some(_), Some(_)) => Err(OdbcError::new(
            SqlState::GENERAL_ERROR,
            "ServiceKeyFile and ClientCertificate are both set: a service account logs in with one of them",
        )),
        (Some(path), None) => {
            check_account_keys(cfg)?;
            Ok((Some(ServiceLogin::Key(read_ed25519_key(path)?)), plain_tls()?))
        }
        (None, Some(path)) => {
            check_account_keys(cfg)?;
            let auth = read_client_auth(cfg, path)?;
            let tls = super::tls::client_config_with_certificate(cfg.ca_file.as_deref(), cfg.tls_verify, auth)?;
            Ok((Some(ServiceLogin::Certificate), tls))
        }
    }
}

/// UID names the account; a password would be sent nowhere, so one set is an error (HY000)
/// rather than silently ignored.
fn check_account_keys(cfg: &ConnectConfig) -> OdbcResult<()> {
    if !cfg.password.expose().is_empty() || cfg.password_suffix.is_some() {
        return Err(OdbcError::new(
            SqlState::GENERAL_ERROR,
            "PWD must be empty for a service-account login (ServiceKeyFile or ClientCertificate): it has no password",
        ));
    }
    if cfg.user.is_empty() {
        return Err(refused("UID must name the service account".into()));
    }
    Ok(())
}

impl ServiceLogin {
    /// What the two-factor state attributes call this login's method.
    pub fn method(&self) -> &'static str {
        match self {
            ServiceLogin::Key(_) => "key",
            ServiceLogin::Certificate => "certificate",
        }
    }

    /// KeyLogin or CertLogin after Hello; returns the session id and cancel key of a
    /// session that is ready for SQL (a service account has no second factor).
    pub fn login(
        &self,
        s: &mut Session,
        user: &str,
        server_name: &str,
        protocol_version: u16,
    ) -> OdbcResult<(u64, Secret<[u8; 16]>)> {
        if protocol_version < TICKETS_SINCE_VERSION {
            return Err(OdbcError::new(
                SqlState::UNABLE_TO_CONNECT,
                format!(
                    "the server speaks protocol version {protocol_version}; service-account logins \
                     (ServiceKeyFile, ClientCertificate) need version {TICKETS_SINCE_VERSION} or later: upgrade twofactor-server"
                ),
            ));
        }
        let message = match self {
            ServiceLogin::Key(key) => {
                let exporter = s.proof_exporter()?;
                let proof = key.sign(&key_login_message(&exporter, server_name, user)).as_ref().to_vec();
                ClientMessage::KeyLogin { user: user.to_owned(), proof }
            }
            ServiceLogin::Certificate => ClientMessage::CertLogin { user: user.to_owned() },
        };
        match s.request(&message)? {
            ServerMessage::FirstFactorOk { session_id, cancel_key, second_factor: SecondFactor::NotRequired } => {
                s.set_ready();
                Ok((session_id, cancel_key))
            }
            other => Err(unexpected(&other)),
        }
    }
}

impl Connection {
    /// TCP, TLS (presenting the client certificate, if that is the kind), Hello and the
    /// service login; on failure the session is closed. Outside the sittings: there is
    /// no second factor to share and no ticket to keep.
    pub(super) fn log_in_as_service_account(
        &self,
        service: &ServiceLogin,
        cfg: &ConnectConfig,
        tls: &Arc<ClientConfig>,
        deadline: Option<Instant>,
    ) -> OdbcResult<(Session, LoginOutcome)> {
        self.dead.store(false, Ordering::Release);
        let mut s = session::open(&cfg.host, cfg.port, tls.clone(), &cfg.tls_server_name, deadline, self.dead.clone())?;
        let result = hello(&mut s).and_then(|(server_name, protocol_version)| {
            let (session_id, cancel_key) =
                service.login(&mut s, &cfg.user, &server_name, protocol_version).map_err(connect_error)?;
            let verification = Verification::NotRequired;
            Ok(LoginOutcome { server_name, protocol_version, session_id, cancel_key, verification })
        });
        match result {
            Ok(outcome) => {
                self.two_factor().mark_service_account(service.method());
                Ok((s, outcome))
            }
            Err(e) => {
                s.close();
                self.dead.store(false, Ordering::Release);
                Err(e)
            }
        }
    }
}

#[cfg(all(test, unix))]
#[path = "service_login_tests.rs"]
mod tests;
