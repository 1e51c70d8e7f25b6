//! The TLS client configuration: TLS 1.3 only, the server certificate verified against
//! the CA file of the DSN, or (TLSVerify=No, an explicit opt-out) not verified at all.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::diag::{OdbcError, OdbcResult, SqlState};

/// CA bundles of common distributions, used when no CAFile is given (a server with a
/// certificate from a public CA).
#[cfg(not(windows))]
const SYSTEM_BUNDLES: &[&str] =
    &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

fn tls_error(message: String) -> OdbcError {
    OdbcError::new(SqlState::UNABLE_TO_CONNECT, message)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn load_roots(path: &str, key: &str) -> OdbcResult<RootCertStore> {
    let pem = super::files::read_small_regular_file(path)
        .map_err(|e| tls_error(format!("{key} {path:?} cannot be read: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| tls_error(format!("{key} {path:?} is not a valid PEM file: {e}")))?;
        roots.add(cert).map_err(|e| tls_error(format!("{key} {path:?} holds an unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(tls_error(format!("{key} {path:?} holds no certificate")));
    }
    Ok(roots)
}

/// A client certificate chain and its key (`ClientCertificate`, `ClientKey`).
pub type ClientAuth = (Vec<CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>);

/// Builds the client configuration for `CAFile` / `TLSVerify`.
pub fn client_config(ca_file: Option<&str>, verify: bool) -> OdbcResult<Arc<ClientConfig>> {
    build(ca_file, verify, None)
}

/// The same, presenting a client certificate (a service account's, CertLogin).
pub fn client_config_with_certificate(
    ca_file: Option<&str>,
    verify: bool,
    auth: ClientAuth,
) -> OdbcResult<Arc<ClientConfig>> {
    build(ca_file, verify, Some(auth))
}

fn build(ca_file: Option<&str>, verify: bool, auth: Option<ClientAuth>) -> OdbcResult<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error(format!("TLS setup failed: {e}")))?;
    let finish = |b: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>| match auth {
        None => Ok(b.with_no_client_auth()),
        Some((certs, key)) => b.with_client_auth_cert(certs, key).map_err(|e| {
            OdbcError::new(SqlState::INVALID_AUTHORIZATION, format!("ClientCertificate / ClientKey are unusable: {e}"))
        }),
    };
    let config = if !verify {
        log::warn!("TLSVerify=No: the server certificate is NOT verified; anyone on the network path can impersonate the server");
        finish(builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertificate(provider()))))?
    } else {
        let roots = match ca_file {
            Some(path) => load_roots(path, "CAFile")?,
            #[cfg(windows)]
            None => windows_roots()?,
            #[cfg(not(windows))]
            None => match SYSTEM_BUNDLES.iter().find(|p| std::path::Path::new(p).exists()) {
                Some(bundle) => load_roots(bundle, "system CA bundle")?,
                None => {
                    return Err(tls_error(
                        "no CAFile given: set CAFile to the server's CA certificate (ca.pem in the server's data directory), \
                         or TLSVerify=No to connect without verifying the server (insecure)"
                            .into(),
                    ))
                }
            },
        };
        finish(builder.with_root_certificates(roots))?
    };
    Ok(Arc::new(config))
}

/// Without a CAFile on Windows: the trusted roots of the Windows certificate store.
#[cfg(windows)]
fn windows_roots() -> OdbcResult<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(crate::ffi::windows::cert_store::root_certificates());
    log::debug!("Windows ROOT store: {added} certificates trusted, {ignored} unusable ones ignored");
    if roots.is_empty() {
        return Err(tls_error(
            "no CAFile given and the Windows ROOT certificate store holds no usable certificate: set CAFile to the \
             server's CA certificate (ca.pem in the server's data directory)"
                .into(),
        ));
    }
    Ok(roots)
}

pub fn server_name(name: &str) -> OdbcResult<ServerName<'static>> {
    ServerName::try_from(name.to_string())
        .map_err(|_| tls_error(format!("TLSServerName {name:?} is not a valid DNS name or IP address")))
}

/// The verifier behind `TLSVerify=No`: accepts any certificate (the handshake signature
/// is still checked, so the peer holds the key of the certificate it shows).
#[derive(Debug)]
struct AcceptAnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_an_error_naming_the_key_and_path() {
        let e = client_config(Some("/nonexistent/ca.pem"), true).unwrap_err();
        assert_eq!(e.state, SqlState::UNABLE_TO_CONNECT);
        assert!(e.message.contains("CAFile") && e.message.contains("/nonexistent/ca.pem"), "{}", e.message);
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("tf-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = client_config(Some(path.to_str().unwrap()), true).unwrap_err();
        assert!(e.message.contains("no certificate"), "{}", e.message);
    }

    #[test]
    fn a_ca_file_that_is_a_device_is_refused_without_reading_it() {
        let begun = std::time::Instant::now();
        let e = client_config(Some("/dev/zero"), true).unwrap_err();
        assert_eq!(e.state, SqlState::UNABLE_TO_CONNECT);
        assert!(e.message.contains("/dev/zero") && e.message.contains("not a regular file"), "{}", e.message);
        assert!(begun.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn verification_can_be_turned_off_explicitly() {
        assert!(client_config(None, false).is_ok());
    }
}
