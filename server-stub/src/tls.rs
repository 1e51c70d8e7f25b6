//! TLS 1.3 with the ring provider, for the server and for test clients.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} holds no {what}")]
    Empty { path: String, what: &'static str },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |source| TlsError::Read { path: path.display().to_string(), source };
    let pem = std::fs::read(path).map_err(read)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>().map_err(read)?;
    if certs.is_empty() {
        return Err(TlsError::Empty { path: path.display().to_string(), what: "certificate" });
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let read = |source| TlsError::Read { path: path.display().to_string(), source };
    let pem = std::fs::read(path).map_err(read)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(read)?
        .ok_or_else(|| TlsError::Empty { path: path.display().to_string(), what: "private key" })
}

/// The server's TLS: TLS 1.3 only. A client certificate is asked for but optional
/// (`allow_unauthenticated`: people connect without one); one that is sent must chain
/// to `client_roots` (service accounts' CAs) or the handshake fails. Asked for always,
/// since the server's own client CA always exists: a client without a certificate
/// answers with an empty one and is served as before.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_roots: Vec<CertificateDer<'static>>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for root in client_roots {
        roots.add(root)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Rustls(rustls::Error::General(format!("client certificate verifier: {e}"))))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)?;
    Ok(Arc::new(config))
}

/// A client that trusts only the CA in `ca_pem` (tests, tools).
pub fn client_config(ca_pem: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(ca_pem)? {
        roots.add(cert)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What a session needs to know of its TLS connection beyond the bytes: the exporter
/// value proofs of possession are bound to (`twofactor_protocol::proof`), and the client
/// certificate chain, if the client presented one the server's verifier accepted.
#[derive(Clone)]
pub struct TlsFacts {
    pub exporter: [u8; twofactor_protocol::proof::EXPORTER_LEN],
    pub client_certificates: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for TlsFacts {
    // The exporter value is session key material: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFacts").field("client_certificates", &self.client_certificates.len()).finish()
    }
}

impl TlsFacts {
    /// Read off a finished handshake. None when the exporter is unavailable (it always is
    /// after a TLS 1.3 handshake, the only version the server speaks).
    pub fn of(conn: &rustls::ServerConnection) -> Option<TlsFacts> {
        let exporter = conn
            .export_keying_material(
                [0u8; twofactor_protocol::proof::EXPORTER_LEN],
                twofactor_protocol::proof::EXPORTER_LABEL,
                None,
            )
            .ok()?;
        let client_certificates =
            conn.peer_certificates().map(|c| c.iter().map(|d| d.clone().into_owned()).collect()).unwrap_or_default();
        Some(TlsFacts { exporter, client_certificates })
    }
}
