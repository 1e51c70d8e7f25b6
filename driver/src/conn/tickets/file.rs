//! The file store: one file per (host, port, user) in `$XDG_CACHE_HOME/twofactor-odbc/`
//! (`~/.cache/twofactor-odbc/` without it), for when the kernel keyring is unavailable.
//!
//! - The directory is 0700 and the files 0600, owned by the user; a directory or file
//!   owned by someone else, or open to the group or the world, is ignored with a warning
//!   (as ssh treats `~/.ssh`), never trusted and never deleted.
//! - The ticket id and the private key are sealed (AES-256-GCM, ring) under a key
//!   derived with HKDF-SHA-256 from `device.key` (32 random bytes, 0600, same directory)
//!   and the OS user id; the clear fields (server, user, expiry) are the associated data.
//!   A ticket file copied to another user, or kept after `device.key` is removed, does
//!   not open: it is evicted with a warning and the login takes the normal code path.
//! - Files are written to a temporary file in the same directory and renamed over the
//!   old one, so a reader never sees half a ticket.

use std::fs;
use std::io::{ErrorKind, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hkdf};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{warning, StoredTicket, TicketStore, Warnings};
use crate::conn::sitting::SittingKey;
use twofactor_protocol::Secret;

pub const DIR_NAME: &str = "twofactor-odbc";
pub const DEVICE_KEY_FILE: &str = "device.key";
const DEVICE_KEY_LEN: usize = 32;
const FILE_VERSION: u32 = 1;
const HKDF_SALT: &[u8] = b"twofactor-odbc ticket file seal v1";
/// A ticket file is a few hundred bytes; anything much bigger is not ours.
const MAX_FILE_LEN: u64 = 64 * 1024;

pub struct FileStore {
    /// `None` when neither `XDG_CACHE_HOME` nor `HOME` is set.
    dir: Option<PathBuf>,
    uid: u32,
}

/// What is on disk: the clear fields and the sealed secrets.
#[derive(Serialize, Deserialize)]
struct TicketFile {
    version: u32,
    host: String,
    port: u16,
    user: String,
    server_name: String,
    expires_at: i64,
    idle_secs: u32,
    last_used: i64,
    nonce: Vec<u8>,
    sealed: Vec<u8>,
}

/// The sealed part.
#[derive(Serialize, Deserialize)]
struct Sealed {
    ticket_id: Vec<u8>,
    private_key_pkcs8: Vec<u8>,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.ticket_id.zeroize();
        self.private_key_pkcs8.zeroize();
    }
}

impl TicketFile {
    /// The associated data: every clear field but `last_used` (rewritten on each use),
    /// length-prefixed so no two field lists encode alike.
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for field in [self.host.as_bytes(), self.user.as_bytes(), self.server_name.as_bytes()] {
            out.extend_from_slice(&(field.len() as u64).to_le_bytes());
            out.extend_from_slice(field);
        }
        out.extend_from_slice(&self.port.to_le_bytes());
        out.extend_from_slice(&self.expires_at.to_le_bytes());
        out.extend_from_slice(&self.idle_secs.to_le_bytes());
        out
    }
}

/// Why a path is not trusted, or `None` when it is.
fn distrust(meta: &fs::Metadata, uid: u32, want_dir: bool) -> Option<String> {
    if want_dir && !meta.is_dir() {
        return Some("is not a directory".into());
    }
    if !want_dir && !meta.file_type().is_file() {
        return Some("is not a regular file".into());
    }
    #[cfg(unix)]
    if meta.uid() != uid {
        return Some(format!("is owned by uid {}, not by this user (uid {uid})", meta.uid()));
    }
    #[cfg(unix)]
    if meta.mode() & 0o077 != 0 {
        return Some(format!("is accessible to the group or others (mode {:o})", meta.mode() & 0o777));
    }
    // Windows: ownership and access are ACLs, which this store does not check yet, so it
    // has no directory there (`for_user`); the type checks above still hold.
    #[cfg(not(unix))]
    let _ = uid;
    None
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl FileStore {
    pub fn for_user() -> FileStore {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty() && Path::new(v).is_absolute())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")));
        #[cfg(unix)]
        return FileStore { dir: base.map(|b| b.join(DIR_NAME)), uid: rustix::process::geteuid().as_raw() };
        // Windows: no ticket files until the directory's ACL is checked the way the Unix
        // owner and mode are (docs/windows.md); tickets stay in the process's memory.
        #[cfg(not(unix))]
        {
            let _ = base;
            FileStore { dir: None, uid: 0 }
        }
    }

    #[cfg(test)]
    pub fn in_dir(dir: PathBuf, uid: u32) -> FileStore {
        FileStore { dir: Some(dir), uid }
    }

    pub fn describe(&self) -> String {
        match &self.dir {
            Some(d) => d.display().to_string(),
            None => "(none: neither XDG_CACHE_HOME nor HOME is set)".into(),
        }
    }

    /// The file of a key: named by a hash, so no host or user name can make a path.
    pub fn path_of(dir: &Path, key: &SittingKey) -> PathBuf {
        let mut ctx = digest::Context::new(&digest::SHA256);
        for field in [key.host.as_bytes(), &key.port.to_le_bytes(), key.user.as_bytes()] {
            ctx.update(&(field.len() as u64).to_le_bytes());
            ctx.update(field);
        }
        dir.join(format!("ticket-{}.json", hex(&ctx.finish().as_ref()[..16])))
    }

    /// The directory, created 0700 when `create` and missing; `None` (with a warning
    /// when it exists but is not trusted) when it cannot be used.
    fn dir(&self, create: bool, warnings: &mut Warnings) -> Option<&Path> {
        let dir = self.dir.as_deref()?;
        match fs::metadata(dir) {
            Ok(meta) => match distrust(&meta, self.uid, true) {
                None => Some(dir),
                Some(why) => {
                    warnings.push(warning(format!(
                        "the two-factor ticket directory {} {why}; it is ignored (no ticket is read or written \
                         there; chmod 700 it, or remove it)",
                        dir.display()
                    )));
                    None
                }
            },
            Err(e) if e.kind() == ErrorKind::NotFound && create => {
                let made = dir.parent().map_or(Ok(()), fs::create_dir_all).and_then(|_| {
                    #[cfg_attr(not(unix), allow(unused_mut))] // mode() is Unix-only
                    let mut builder = fs::DirBuilder::new();
                    #[cfg(unix)]
                    builder.mode(0o700);
                    builder.create(dir).or_else(|e| match e.kind() {
                        ErrorKind::AlreadyExists => Ok(()),
                        _ => Err(e),
                    })
                });
                match made {
                    // Checked again: a directory that appeared meanwhile may be anyone's.
                    Ok(()) => self.dir(false, warnings),
                    Err(e) => {
                        warnings.push(warning(format!(
                            "the two-factor ticket directory {} could not be created: {e}",
                            dir.display()
                        )));
                        None
                    }
                }
            }
            Err(_) => None,
        }
    }

    /// The device key, created (0600, random) when `create` and missing.
    fn device_key(&self, dir: &Path, create: bool, warnings: &mut Warnings) -> Option<Zeroizing<[u8; DEVICE_KEY_LEN]>> {
        let path = dir.join(DEVICE_KEY_FILE);
        match fs::symlink_metadata(&path) {
            Ok(meta) => {
                if let Some(why) = distrust(&meta, self.uid, false) {
                    warnings.push(warning(format!("the device key {} {why}; it is ignored", path.display())));
                    return None;
                }
                let mut key = Zeroizing::new([0u8; DEVICE_KEY_LEN]);
                let read = fs::File::open(&path).and_then(|mut f| f.read_exact(&mut key[..]));
                match read {
                    Ok(()) => Some(key),
                    Err(e) => {
                        warnings.push(warning(format!("the device key {} is unreadable: {e}", path.display())));
                        None
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound && create => {
                let mut key = Zeroizing::new([0u8; DEVICE_KEY_LEN]);
                SystemRandom::new().fill(&mut key[..]).ok()?;
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                options.mode(0o600);
                let written = options.open(&path).and_then(|mut f| f.write_all(&key[..]).and_then(|_| f.sync_all()));
                match written {
                    Ok(()) => Some(key),
                    // Another connection made it first: use that one.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => self.device_key(dir, false, warnings),
                    Err(e) => {
                        warnings.push(warning(format!("the device key {} could not be written: {e}", path.display())));
                        None
                    }
                }
            }
            Err(_) => None,
        }
    }

    /// The AEAD key for this device key and this OS user.
    fn sealing_key(&self, device_key: &[u8]) -> LessSafeKey {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(device_key);
        let uid = self.uid.to_le_bytes();
        let info: [&[u8]; 2] = [b"uid", &uid];
        let okm = prk.expand(&info, &aead::AES_256_GCM).expect("32 bytes is a valid HKDF-SHA-256 output length");
        LessSafeKey::new(UnboundKey::from(okm))
    }

    /// The sealed secrets; `Err(true)` when they do not open (no device key, another
    /// one, another user, an edited file), `Err(false)` when the device key exists but
    /// is not trusted (warned): the ticket file is then left alone.
    fn unseal(&self, dir: &Path, file: &TicketFile, warnings: &mut Warnings) -> Result<Sealed, bool> {
        let key = match self.device_key(dir, false, warnings) {
            Some(key) => key,
            None => return Err(!dir.join(DEVICE_KEY_FILE).exists()),
        };
        let nonce = Nonce::try_assume_unique_for_key(&file.nonce).map_err(|_| true)?;
        let mut in_out = Zeroizing::new(file.sealed.clone());
        let plain =
            self.sealing_key(&key[..]).open_in_place(nonce, Aad::from(file.aad()), &mut in_out).map_err(|_| true)?;
        serde_json::from_slice(plain).map_err(|_| true)
    }

    fn refuse(&self, path: &Path, why: &str, warnings: &mut Warnings) {
        warnings.push(warning(format!(
            "the two-factor ticket file {} {why}; it was removed and the second factor is asked for as usual",
            path.display()
        )));
        let _ = fs::remove_file(path);
    }
}

impl TicketStore for FileStore {
    fn name(&self) -> &'static str {
        "file"
    }

    fn load(&self, key: &SittingKey, warnings: &mut Warnings) -> Option<StoredTicket> {
        let dir = self.dir(false, warnings)?;
        let path = Self::path_of(dir, key);
        let meta = fs::symlink_metadata(&path).ok()?;
        if let Some(why) = distrust(&meta, self.uid, false) {
            warnings.push(warning(format!("the two-factor ticket file {} {why}; it is ignored", path.display())));
            return None;
        }
        if meta.len() > MAX_FILE_LEN {
            self.refuse(&path, "is too large to be a ticket", warnings);
            return None;
        }
        let text = Zeroizing::new(fs::read(&path).ok()?);
        let Ok(file) = serde_json::from_slice::<TicketFile>(&text) else {
            self.refuse(&path, "is not a ticket file this driver wrote", warnings);
            return None;
        };
        if file.version != FILE_VERSION || file.host != key.host || file.port != key.port || file.user != key.user {
            self.refuse(&path, "is for another version, server or user", warnings);
            return None;
        }
        let sealed = match self.unseal(dir, &file, warnings) {
            Ok(sealed) => sealed,
            Err(false) => return None,
            Err(true) => {
                self.refuse(
                    &path,
                    "cannot be unsealed with this user's device key (the file was copied from another user or \
                     machine, or device.key was removed or replaced)",
                    warnings,
                );
                return None;
            }
        };
        Some(StoredTicket {
            key: key.clone(),
            server_name: file.server_name.clone(),
            ticket_id: Secret::new(sealed.ticket_id.clone()),
            private_key_pkcs8: Secret::new(sealed.private_key_pkcs8.clone()),
            expires_at: file.expires_at,
            idle_secs: file.idle_secs,
            last_used: file.last_used,
        })
    }

    fn save(&self, ticket: &StoredTicket, warnings: &mut Warnings) {
        let Some(dir) = self.dir(true, warnings) else { return };
        let Some(device_key) = self.device_key(dir, true, warnings) else { return };
        let mut nonce = [0u8; NONCE_LEN];
        if SystemRandom::new().fill(&mut nonce).is_err() {
            return;
        }
        let mut file = TicketFile {
            version: FILE_VERSION,
            host: ticket.key.host.clone(),
            port: ticket.key.port,
            user: ticket.key.user.clone(),
            server_name: ticket.server_name.clone(),
            expires_at: ticket.expires_at,
            idle_secs: ticket.idle_secs,
            last_used: ticket.last_used,
            nonce: nonce.to_vec(),
            sealed: Vec::new(),
        };
        let secrets = Sealed {
            ticket_id: ticket.ticket_id.expose().clone(),
            private_key_pkcs8: ticket.private_key_pkcs8.expose().clone(),
        };
        let Ok(plain) = serde_json::to_vec(&secrets) else { return };
        let mut in_out = Zeroizing::new(plain);
        let sealed = self.sealing_key(&device_key[..]).seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(file.aad()),
            &mut *in_out,
        );
        if sealed.is_err() {
            return;
        }
        file.sealed = in_out.to_vec();
        let path = Self::path_of(dir, &ticket.key);
        // tempfile creates the file 0600 in the same directory; the rename is atomic.
        let written = serde_json::to_vec(&file).map_err(std::io::Error::other).and_then(|bytes| {
            let mut tmp = tempfile::Builder::new().prefix(".ticket-").tempfile_in(dir)?;
            tmp.write_all(&bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        });
        if let Err(e) = written {
            warnings.push(warning(format!(
                "the two-factor ticket could not be written to {}: {e}; it lasts for this process only",
                path.display()
            )));
        }
    }

    fn evict(&self, key: &SittingKey, warnings: &mut Warnings) {
        let Some(dir) = self.dir(false, &mut Vec::new()) else { return };
        match fs::remove_file(Self::path_of(dir, key)) {
            Ok(()) => log::info!("evicted the two-factor ticket file for {:?}", key.user),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => warnings.push(warning(format!("the two-factor ticket file could not be removed: {e}"))),
        }
    }
}

// The tests check the Unix owner and mode rules; on Windows the store has no directory.
#[cfg(all(test, unix))]
#[path = "file_tests.rs"]
mod tests;
