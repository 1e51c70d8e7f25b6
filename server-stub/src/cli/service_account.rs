//! `service-account ...`: add, list, remove, set, issue-cert (docs/service-accounts.md).
//! Private keys this writes are PKCS#8 PEM files of mode 0600 and are never printed.

use clap::ArgGroup;
use rand::RngCore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};

use super::*;
use crate::client_ca;
use crate::store::{parse_networks, AllowedBackend, ServiceAccount, ServiceKind, CREDENTIAL_LEN};

#[derive(Subcommand)]
pub(super) enum ServiceAccountCommand {
    /// Add a service account: a user that logs in with a key or a client certificate,
    /// never with a password or a code, from the listed networks only.
    Add(AddArgs),
    /// List service accounts with their kind, networks, backend, role and credential.
    List,
    /// Remove a service account (its user row goes too).
    Remove { name: String },
    /// Change a service account: its networks, role, backend, or its key or certificate
    /// (rotation: the old one stops working at once).
    Set(SetArgs),
    /// Issue a new client certificate (and key) from the server's client CA into OUTDIR
    /// and pin it to the account; an earlier certificate stops working at once.
    IssueCert {
        name: String,
        #[arg(long, value_name = "OUTDIR")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

#[derive(Args)]
#[command(group(ArgGroup::new("credential").required(true).args(["key", "generate_key", "cert", "issue_cert"])))]
pub(super) struct AddArgs {
    name: String,
    /// Source networks it may log in from: CIDRs or addresses, comma-separated.
    #[arg(long, value_name = "CIDR[,CIDR...]")]
    from: String,
    /// Its Ed25519 public key (PEM, `openssl pkey -pubout`).
    #[arg(long, value_name = "PUBLIC.pem")]
    key: Option<PathBuf>,
    /// Generate its Ed25519 key pair: the private key goes to this new file (0600).
    #[arg(long, value_name = "OUT.pem")]
    generate_key: Option<PathBuf>,
    /// Pin this client certificate (PEM); its CA must be the server's client CA or one in
    /// `[service_accounts] trusted_client_ca_files`.
    #[arg(long, value_name = "CLIENT.crt")]
    cert: Option<PathBuf>,
    /// Issue it a client certificate and key from the server's client CA into OUTDIR.
    #[arg(long, value_name = "OUTDIR")]
    issue_cert: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendArg::Any)]
    backend: BackendArg,
    /// The PostgreSQL role its sessions take (instead of [sql.roles] / role_map).
    #[arg(long, value_name = "ROLE")]
    sql_role: Option<String>,
}

#[derive(Args)]
#[command(group(ArgGroup::new("credential").args(["key", "generate_key", "cert"])))]
pub(super) struct SetArgs {
    name: String,
    #[arg(long, value_name = "CIDR[,CIDR...]")]
    from: Option<String>,
    /// A new PostgreSQL role; an empty string goes back to the mapping.
    #[arg(long, value_name = "ROLE")]
    sql_role: Option<String>,
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Replace the public key (the account becomes a key account).
    #[arg(long, value_name = "PUBLIC.pem")]
    key: Option<PathBuf>,
    /// Generate a new key pair, private key to this new file (0600).
    #[arg(long, value_name = "OUT.pem")]
    generate_key: Option<PathBuf>,
    /// Pin another client certificate (the account becomes a certificate account).
    #[arg(long, value_name = "CLIENT.crt")]
    cert: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum BackendArg {
    Any,
    Sqlite,
    Postgres,
}

impl BackendArg {
    fn backend(self) -> AllowedBackend {
        match self {
            BackendArg::Any => AllowedBackend::Any,
            BackendArg::Sqlite => AllowedBackend::Sqlite,
            BackendArg::Postgres => AllowedBackend::Postgres,
        }
    }
}

/// The DER prefix of every Ed25519 SubjectPublicKeyInfo (RFC 8410 section 4: the
/// algorithm has no parameters, so only the 32 key bytes after it vary).
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

fn read_public_key(path: &Path) -> Result<Vec<u8>, String> {
    let spki = SubjectPublicKeyInfoDer::from_pem_file(path)
        .map_err(|e| format!("{}: no PEM public key (BEGIN PUBLIC KEY): {e}", path.display()))?;
    match spki.as_ref().strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        Some(key) if key.len() == CREDENTIAL_LEN => Ok(key.to_vec()),
        _ => Err(format!("{}: not an Ed25519 public key", path.display())),
    }
}

/// A new Ed25519 key pair: the private key written to `out` (new file, 0600), the
/// public key returned.
fn generate_key(out: &Path) -> Result<Vec<u8>, String> {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| e.to_string())?;
    client_ca::write_new(out, pair.serialize_pem().as_bytes()).map_err(|e| e.to_string())?;
    Ok(pair.public_key_raw().to_vec())
}

/// The pinned fingerprint of the first certificate in a PEM file.
fn read_cert_fingerprint(path: &Path) -> Result<Vec<u8>, String> {
    let cert = CertificateDer::from_pem_file(path)
        .map_err(|e| format!("{}: no PEM certificate (BEGIN CERTIFICATE): {e}", path.display()))?;
    Ok(client_ca::fingerprint(&cert).to_vec())
}

/// Writes a certificate and key issued for `name` into `out` (made 0700 if missing) as
/// NAME.crt and NAME.key, both 0600; returns the fingerprint to pin.
fn issue_into(dir: &Path, name: &str, out: &Path, days: u32) -> Result<Vec<u8>, String> {
    if days == 0 {
        return Err("--days must be at least 1".into());
    }
    if !out.exists() {
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    let issued = client_ca::issue(dir, name, days).map_err(|e| e.to_string())?;
    let (cert, key) = (out.join(format!("{name}.crt")), out.join(format!("{name}.key")));
    client_ca::write_new(&key, issued.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    client_ca::write_new(&cert, issued.cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    println!("wrote {} and {} (valid {days} days)", cert.display(), key.display());
    Ok(issued.fingerprint.to_vec())
}

/// A password hash nobody can match: the hash of 32 random bytes that are dropped at
/// once. A real hash, so a password login to the account costs what any other does.
fn unusable_password_hash(config: &Config) -> Result<String, String> {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let hash = hash_password(&data_encoding::BASE64.encode(&secret), HashCost::from_config(&config.auth));
    secret.fill(0);
    hash
}

fn check_name(name: &str) -> CliResult {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err("a service-account name is 1 to 128 of A-Z a-z 0-9 - _ . @ (it names files too)".into())
    }
}

fn role(arg: Option<String>) -> Result<Option<String>, String> {
    match arg {
        Some(r) if r.chars().any(char::is_control) => Err("--sql-role must not hold control characters".into()),
        Some(r) if r.is_empty() => Ok(None),
        other => Ok(other),
    }
}

pub(super) fn run(dir: &Path, cmd: ServiceAccountCommand) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let now = SystemClock.now();
    let err = |e: crate::store::StoreError| e.to_string();
    let existing = |name: &str| -> Result<ServiceAccount, String> {
        store.service_account(name).map_err(err)?.ok_or_else(|| format!("no service account `{name}`"))
    };
    match cmd {
        ServiceAccountCommand::Add(a) => {
            check_name(&a.name)?;
            let networks = parse_networks(&a.from)?;
            if store.user(&a.name).map_err(err)?.is_some() {
                return Err(format!("user `{}` already exists", a.name));
            }
            let (kind, credential) = if let Some(p) = &a.key {
                (ServiceKind::Key, read_public_key(p)?)
            } else if let Some(p) = &a.generate_key {
                (ServiceKind::Key, generate_key(p)?)
            } else if let Some(p) = &a.cert {
                (ServiceKind::Certificate, read_cert_fingerprint(p)?)
            } else if let Some(out) = &a.issue_cert {
                (ServiceKind::Certificate, issue_into(dir, &a.name, out, 365)?)
            } else {
                return Err("one of --key, --generate-key, --cert, --issue-cert is required".into());
            };
            let account = ServiceAccount {
                name: a.name.clone(),
                kind,
                credential,
                networks,
                backend: a.backend.backend(),
                sql_role: role(a.sql_role)?,
                created_at: now,
            };
            store.create_service_account(&account, &unusable_password_hash(&config)?).map_err(err)?;
            audit.record(now, &a.name, "cli", "service_account_add", "ok", Some(kind.as_str()));
            if let Some(p) = &a.generate_key {
                println!("private key written to {} (mode 0600): give it to the job as ServiceKeyFile", p.display());
            }
            println!("added service account `{}` ({} login, from {})", a.name, kind.as_str(), a.from);
        }
        ServiceAccountCommand::List => {
            println!(
                "{:<24} {:<11} {:<8} {:<16} {:<20} {:<64} NETWORKS",
                "NAME", "KIND", "BACKEND", "SQL-ROLE", "CREATED", "PUBLIC-KEY | CERT-SHA256"
            );
            for a in store.service_accounts().map_err(err)? {
                println!(
                    "{:<24} {:<11} {:<8} {:<16} {:<20} {:<64} {}",
                    a.name,
                    a.kind.as_str(),
                    a.backend.as_str(),
                    a.sql_role.as_deref().unwrap_or("-"),
                    crate::audit::rfc3339(a.created_at),
                    data_encoding::HEXLOWER.encode(&a.credential),
                    crate::store::networks_to_text(&a.networks)
                );
            }
        }
        ServiceAccountCommand::Remove { name } => {
            existing(&name)?;
            store.remove_user(&name).map_err(err)?;
            audit.record(now, &name, "cli", "service_account_remove", "ok", None);
            println!("removed service account `{name}`");
        }
        ServiceAccountCommand::Set(s) => {
            let mut account = existing(&s.name)?;
            if let Some(from) = &s.from {
                account.networks = parse_networks(from)?;
            }
            if s.sql_role.is_some() {
                account.sql_role = role(s.sql_role)?;
            }
            if let Some(b) = s.backend {
                account.backend = b.backend();
            }
            if let Some(p) = &s.key {
                (account.kind, account.credential) = (ServiceKind::Key, read_public_key(p)?);
            } else if let Some(p) = &s.generate_key {
                (account.kind, account.credential) = (ServiceKind::Key, generate_key(p)?);
            } else if let Some(p) = &s.cert {
                (account.kind, account.credential) = (ServiceKind::Certificate, read_cert_fingerprint(p)?);
            }
            store.update_service_account(&account).map_err(err)?;
            audit.record(now, &s.name, "cli", "service_account_set", "ok", Some(account.kind.as_str()));
            println!("service account `{}` changed", s.name);
        }
        ServiceAccountCommand::IssueCert { name, out, days } => {
            let mut account = existing(&name)?;
            if account.kind != ServiceKind::Certificate {
                return Err(format!(
                    "`{name}` logs in with a key; `service-account set {name} --cert ...` changes that"
                ));
            }
            account.credential = issue_into(dir, &name, &out, days)?;
            store.update_service_account(&account).map_err(err)?;
            audit.record(now, &name, "cli", "service_account_issue_cert", "ok", Some("certificate"));
            println!("pinned the new certificate to `{name}`; the previous one no longer logs in");
        }
    }
    Ok(())
}
