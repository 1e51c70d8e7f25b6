//! `init`: a data directory with config, a private CA, the server certificate, the key
//! that seals TOTP secrets, the user store and the SQL database.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::config::{self, CONFIG_FILE};
use crate::crypto::{SecretsKey, KEY_FILE};
use crate::store::{SqliteUserStore, USERS_FILE};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.pem";
pub const SERVER_KEY: &str = "server.key";
pub const DATA_DB: &str = "data.db";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists and is not empty; refusing to overwrite it")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("{0}")]
    Other(String),
}

pub struct InitOptions {
    pub listen: String,
    /// DNS names (and IP addresses) the server certificate is valid for.
    pub hostnames: Vec<String>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions { listen: "127.0.0.1:7443".into(), hostnames: vec!["localhost".into()] }
    }
}

/// Writes `contents` to a new file, readable by the owner only (certificates too: the
/// admin copies `ca.pem` to clients, nobody else on this machine needs to read anything
/// here). Fails if the file exists. Also the client CA's and the service-account CLI's
/// writer (`client_ca`).
pub(crate) fn write_private_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

fn write_new(path: &Path, contents: &[u8]) -> Result<(), InitError> {
    write_private_new(path, contents).map_err(|source| InitError::Io { path: path.to_owned(), source })
}

pub fn init_data_dir(dir: &Path, opts: &InitOptions) -> Result<(), InitError> {
    let io = |source| InitError::Io { path: dir.to_owned(), source };
    // users.db and data.db are created by SQLite, which has no mode option.
    crate::resources::private_files();
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map_err(io)?.next().is_none();
        if !empty {
            return Err(InitError::Exists(dir.to_owned()));
        }
    } else {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    write_new(&dir.join(CONFIG_FILE), config::default_file(&opts.listen).as_bytes())?;
    generate_certificates(dir, &opts.hostnames)?;
    write_new(&dir.join(KEY_FILE), &SecretsKey::generate_bytes())?;
    SqliteUserStore::open(&dir.join(USERS_FILE)).map_err(|e| InitError::Other(e.to_string()))?;
    let data = rusqlite::Connection::open(dir.join(DATA_DB)).map_err(|e| InitError::Other(e.to_string()))?;
    data.pragma_update(None, "journal_mode", "WAL").map_err(|e| InitError::Other(e.to_string()))?;
    Ok(())
}

/// A CA (kept so the admin can issue a new server certificate later) and a server
/// certificate for `hostnames` plus 127.0.0.1 and ::1.
pub fn generate_certificates(dir: &Path, hostnames: &[String]) -> Result<(), InitError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "TwoFactor private CA");
    dn.push(DnType::OrganizationName, "TwoFactor");
    ca_params.distinguished_name = dn;
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let mut names: Vec<String> = if hostnames.is_empty() { vec!["localhost".into()] } else { hostnames.to_vec() };
    for ip in ["127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == ip) {
            names.push(ip.into());
        }
    }
    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.clone())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, names[0].clone());
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let issuer = Issuer::new(ca_params, ca_key);
    let server_cert = params.signed_by(&server_key, &issuer)?;

    write_new(&dir.join(CA_CERT), ca_cert.pem().as_bytes())?;
    write_new(&dir.join(CA_KEY), issuer_key_pem(&issuer).as_bytes())?;
    write_new(&dir.join(SERVER_CERT), server_cert.pem().as_bytes())?;
    write_new(&dir.join(SERVER_KEY), server_key.serialize_pem().as_bytes())?;
    Ok(())
}

fn issuer_key_pem(issuer: &Issuer<'_, KeyPair>) -> String {
    issuer.key().serialize_pem()
}
