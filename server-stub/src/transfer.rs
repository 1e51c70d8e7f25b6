//! `users export` / `users import`: users as JSON for moving them between servers.
//! Secrets stay encrypted: TOTP secrets travel sealed under the source's `secrets.key`,
//! and the file names that key by its id (a fingerprint, not the key). An import into a
//! server with another key needs the source key (`--secrets-key`) to re-encrypt them.
//! An import may also read a SQLite `users.db` directly (`--from-sqlite`): that is how a
//! server moves from its SQLite store to a PostgreSQL one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::crypto::{SecretsKey, KEY_FILE};
use crate::store::{Carrier, SqliteUserStore, TotpEnrolment, UserRecord, UserStore};

pub const FORMAT: &str = "twofactor-users";
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportFile {
    pub format: String,
    pub version: u32,
    /// Id of the `secrets.key` the secrets are sealed under.
    pub key_id: String,
    pub exported_at: String,
    pub users: Vec<ExportedUser>,
    #[serde(default)]
    pub carriers: Vec<ExportedCarrier>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedCarrier {
    pub name: String,
    pub gateway: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedUser {
    pub name: String,
    pub password_hash: String,
    pub two_factor_required: bool,
    pub method: String,
    #[serde(default)]
    pub totp: Option<ExportedTotp>,
    #[serde(default)]
    pub last_totp_step: Option<i64>,
    #[serde(default)]
    pub totp_drift: i64,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// HMAC-SHA256 hashes (hex) under a key derived from the source `secrets.key`.
    #[serde(default)]
    pub backup_code_hashes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedTotp {
    /// `nonce || ciphertext` (ChaCha20-Poly1305, user name as associated data), hex.
    pub sealed_secret: String,
    pub algorithm: String,
    pub digits: u32,
}

fn hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(b)
}

fn unhex(s: &str, what: &str) -> Result<Vec<u8>, String> {
    data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).map_err(|_| format!("{what} is not hex"))
}

/// Where `users import` reads users from.
pub enum Source {
    /// A file `users export` wrote.
    File(PathBuf),
    /// A SQLite user store (`users.db`), its secrets sealed under this server's key or the
    /// one `--secrets-key` names.
    Sqlite(PathBuf),
}

/// Every user and carrier of `store`, as an export file says them, sealed under `key_id`.
fn export_file(store: &dyn UserStore, key_id: &str, now: i64) -> Result<ExportFile, String> {
    let err = |e: crate::store::StoreError| e.to_string();
    let mut users = Vec::new();
    for u in store.users().map_err(err)? {
        let backup_code_hashes = store.backup_code_hashes(&u.name).map_err(err)?.iter().map(|h| hex(h)).collect();
        users.push(ExportedUser {
            totp: u.totp.as_ref().map(|t| ExportedTotp {
                sealed_secret: hex(&t.sealed_secret),
                algorithm: t.algorithm.clone(),
                digits: t.digits,
            }),
            name: u.name,
            password_hash: u.password_hash,
            two_factor_required: u.two_factor_required,
            method: u.method,
            last_totp_step: u.last_totp_step,
            totp_drift: u.totp_drift,
            phone: u.phone,
            carrier: u.carrier,
            email: u.email,
            backup_code_hashes,
        });
    }
    let carriers = store
        .carriers()
        .map_err(err)?
        .into_iter()
        .map(|c| ExportedCarrier { name: c.name, gateway: c.gateway })
        .collect();
    Ok(ExportFile {
        format: FORMAT.into(),
        version: VERSION,
        key_id: key_id.into(),
        exported_at: crate::audit::rfc3339(now),
        users,
        carriers,
    })
}

pub fn export(dir: &Path, file: &Path) -> Result<(), String> {
    let (_, store, audit) = crate::cli::open(dir)?;
    let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    let now = SystemClock.now();
    let out = export_file(store.as_ref(), key.id(), now)?;
    let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Password hashes and sealed secrets: the owner's only.
        opts.mode(0o600);
    }
    let mut f = opts.open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    f.write_all(text.as_bytes()).and_then(|_| f.write_all(b"\n")).map_err(|e| format!("{}: {e}", file.display()))?;
    audit.record_why(
        now,
        "*",
        "cli",
        "users_export",
        "ok",
        None,
        Some(&format!("{} users to {}", out.users.len(), file.display())),
    );
    println!("exported {} users to {} (secrets sealed under key id {})", out.users.len(), file.display(), out.key_id);
    Ok(())
}

/// What `source` holds, as an export file would.
fn read_source(source: &Source, key: &SecretsKey, source_key: Option<&Path>) -> Result<ExportFile, String> {
    match source {
        Source::File(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
        }
        Source::Sqlite(db) => {
            if !db.is_file() {
                return Err(format!("{}: no such SQLite user store", db.display()));
            }
            let sqlite = SqliteUserStore::open(db).map_err(|e| format!("{}: {e}", db.display()))?;
            let key_id = match source_key {
                Some(path) => SecretsKey::load(path).map_err(|e| e.to_string())?.id().to_owned(),
                None => key.id().to_owned(),
            };
            export_file(&sqlite, &key_id, SystemClock.now())
        }
    }
}

pub fn import(dir: &Path, source: &Source, source_key: Option<&Path>, replace: bool) -> Result<(), String> {
    let (_, store, audit) = crate::cli::open(dir)?;
    let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    let data = read_source(source, &key, source_key)?;
    let file = match source {
        Source::File(f) | Source::Sqlite(f) => f.as_path(),
    };
    if data.format != FORMAT || data.version != VERSION {
        return Err(format!("{}: not a {FORMAT} version {VERSION} file", file.display()));
    }
    // Re-encryption: needed iff the file was sealed under another key.
    let source = if data.key_id == key.id() {
        None
    } else {
        let Some(path) = source_key else {
            return Err(format!(
                "{} was exported under secrets key id {}, this server's key is {}: pass the source server's key with --secrets-key FILE",
                file.display(),
                data.key_id,
                key.id()
            ));
        };
        let src = SecretsKey::load(path).map_err(|e| e.to_string())?;
        if src.id() != data.key_id {
            return Err(format!(
                "{} has key id {}, but the file was exported under {}",
                path.display(),
                src.id(),
                data.key_id
            ));
        }
        Some(src)
    };
    if !replace {
        let existing: Vec<&str> =
            data.users.iter().filter(|u| matches!(store.user(&u.name), Ok(Some(_)))).map(|u| u.name.as_str()).collect();
        if !existing.is_empty() {
            return Err(format!(
                "these users exist already: {}; nothing imported (use --replace to overwrite them)",
                existing.join(", ")
            ));
        }
    }
    // Check every record before writing any.
    let mut records = Vec::new();
    let mut dropped_backup = 0usize;
    for u in &data.users {
        if crate::store::Method::parse(&u.method).is_none() {
            return Err(format!("user `{}`: unknown method `{}`", u.name, u.method));
        }
        let totp = match &u.totp {
            Some(t) => {
                let sealed = unhex(&t.sealed_secret, "a sealed secret")?;
                let sealed = match &source {
                    None => {
                        key.open(&u.name, &sealed).map_err(|e| {
                            format!(
                                "user `{}`: {e}; if the source server had another secrets.key, pass it with \
                                 --secrets-key FILE",
                                u.name
                            )
                        })?;
                        sealed
                    }
                    Some(src) => {
                        let secret = src.open(&u.name, &sealed).map_err(|e| format!("user `{}`: {e}", u.name))?;
                        key.seal(&u.name, secret.expose())
                    }
                };
                Some(TotpEnrolment { sealed_secret: sealed, algorithm: t.algorithm.clone(), digits: t.digits })
            }
            None => None,
        };
        let backups = if source.is_some() {
            // Keyed hashes cannot be re-keyed: these users need new backup codes.
            dropped_backup += usize::from(!u.backup_code_hashes.is_empty());
            Vec::new()
        } else {
            u.backup_code_hashes.iter().map(|h| unhex(h, "a backup code hash")).collect::<Result<Vec<_>, _>>()?
        };
        let mut r = UserRecord::new(&u.name, &u.password_hash);
        r.two_factor_required = u.two_factor_required;
        r.method = u.method.clone();
        r.totp = totp;
        r.last_totp_step = u.last_totp_step;
        r.totp_drift = u.totp_drift;
        r.phone = u.phone.clone();
        r.carrier = u.carrier.clone();
        r.email = u.email.clone();
        records.push((r, backups));
    }
    for c in &data.carriers {
        if matches!(store.carrier(&c.name), Ok(None)) {
            store
                .put_carrier(&Carrier { name: c.name.clone(), gateway: c.gateway.clone() }, true)
                .map_err(|e| e.to_string())?;
        }
    }
    for (r, backups) in &records {
        store.import_user(r, backups, replace).map_err(|e| e.to_string())?;
    }
    audit.record_why(
        SystemClock.now(),
        "*",
        "cli",
        "users_import",
        "ok",
        None,
        Some(&format!(
            "{} users from {}{}",
            records.len(),
            file.display(),
            if source.is_some() { ", re-encrypted" } else { "" }
        )),
    );
    println!(
        "imported {} users{}",
        records.len(),
        if source.is_some() { " (TOTP secrets re-encrypted under this server's key)" } else { "" }
    );
    if dropped_backup > 0 {
        println!(
            "warning: backup codes of {dropped_backup} users could not move (they are keyed to the source server); generate new ones with `backup-codes generate`"
        );
    }
    Ok(())
}
