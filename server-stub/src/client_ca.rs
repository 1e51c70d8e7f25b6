//! The server's own CA for service accounts' client certificates: `client-ca.pem` and
//! `client-ca.key` (0600) in the data directory, made on first need (the server's start,
//! or `service-account issue-cert`). Apart from `ca.pem`, which signs the server's own
//! certificate: a client CA's certificates can never pass as the server, nor the
//! reverse.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

pub const CLIENT_CA_CERT: &str = "client-ca.pem";
pub const CLIENT_CA_KEY: &str = "client-ca.key";

#[derive(Debug, thiserror::Error)]
pub enum ClientCaError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("client certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// A client certificate just issued: PEM to hand to the job, and the fingerprint to pin.
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: [u8; 32],
}

/// The SHA-256 of a certificate's DER, as accounts pin it.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The CA's parameters: the same every time, so an issuer rebuilt from the stored key
/// names the subject the stored certificate has (webpki chains by name and signature).
fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "TwoFactor client CA");
    dn.push(DnType::OrganizationName, "TwoFactor");
    params.distinguished_name = dn;
    Ok(params)
}

pub(crate) fn write_new(path: &Path, contents: &[u8]) -> Result<(), ClientCaError> {
    crate::init::write_private_new(path, contents).map_err(|source| ClientCaError::Io { path: path.to_owned(), source })
}

/// Makes the client CA in `dir` unless it is there. The key is written first, so a
/// certificate on disk always has its key beside it.
pub fn ensure(dir: &Path) -> Result<(), ClientCaError> {
    let (cert_path, key_path) = (dir.join(CLIENT_CA_CERT), dir.join(CLIENT_CA_KEY));
    if cert_path.exists() {
        return Ok(());
    }
    let key = KeyPair::generate()?;
    let cert = ca_params()?.self_signed(&key)?;
    match write_new(&key_path, key.serialize_pem().as_bytes()) {
        Ok(()) => {}
        // Another process (the server and the CLI) made it at the same moment.
        Err(ClientCaError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    write_new(&cert_path, cert.pem().as_bytes())
}

/// Issues a client certificate for service account `name`, valid for `days`, with a new
/// key of its own (ECDSA P-256, PKCS#8).
pub fn issue(dir: &Path, name: &str, days: u32) -> Result<IssuedCert, ClientCaError> {
    ensure(dir)?;
    let key_path = dir.join(CLIENT_CA_KEY);
    let pem = std::fs::read_to_string(&key_path).map_err(|source| ClientCaError::Io { path: key_path, source })?;
    let issuer = Issuer::new(ca_params()?, KeyPair::from_pem(&pem)?);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "TwoFactor service account");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    // A little slack for clocks behind the server's.
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(days));
    let cert = params.signed_by(&key, &issuer)?;
    Ok(IssuedCert { cert_pem: cert.pem(), key_pem: key.serialize_pem(), fingerprint: fingerprint(cert.der()) })
}

/// The CAs client certificates are verified against: the server's client CA (made now if
/// missing) and `[service_accounts] trusted_client_ca_files`.
pub fn roots(config: &crate::config::Config) -> Result<Vec<CertificateDer<'static>>, ClientCaError> {
    ensure(&config.data_dir)?;
    let mut roots = crate::tls::load_certs(&config.data_dir.join(CLIENT_CA_CERT))?;
    for file in &config.service_accounts.trusted_client_ca_files {
        roots.extend(crate::tls::load_certs(&config.path(file))?);
    }
    Ok(roots)
}
