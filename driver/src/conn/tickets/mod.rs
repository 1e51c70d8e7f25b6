//! Two-factor tickets, the driver's half (docs/dsn-keys.md, docs/tickets.md): where a
//! ticket the server issued is kept between logins.
//!
//! A ticket is useless without its Ed25519 private key, which the driver made and never
//! sends: each use signs the TLS session's exporter (`twofactor_protocol::proof`). The
//! stores keep both, keyed by (host, port, user):
//!
//! - [`memory::MemoryStore`]: this process only (pools, parallel connections); always
//!   consulted first, and always written, whatever `TwoFactorTicket` says beyond `Off`;
//! - [`keyring::KeyringStore`]: the Linux kernel keyring (per user, in kernel memory);
//! - [`file::FileStore`]: a 0600 file per ticket in a 0700 directory under
//!   `$XDG_CACHE_HOME/twofactor-odbc/`, the private key sealed under a device key kept
//!   beside it; what `Keyring` falls back to, with a 01000 warning, when the keyring is
//!   unavailable (containers often forbid keyctl).
//!
//! A store never fails a connect: what goes wrong becomes a 01000 warning and the login
//! goes on without a ticket (the normal code path).

pub mod file;
pub mod keyring;
pub mod memory;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use twofactor_protocol::Secret;

use super::sitting::SittingKey;
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// `TwoFactorTicket`: whether and where tickets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketMode {
    /// No tickets (default): every physical connection needs its code.
    Off,
    /// This process only.
    Memory,
    /// The kernel keyring, or the file store when the keyring is unavailable (warned).
    Keyring,
    /// The file store directly (what `Keyring` falls back to).
    File,
}

impl TicketMode {
    pub fn parse(s: &str) -> OdbcResult<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "off" | "no" | "0" | "false" => Ok(TicketMode::Off),
            "memory" => Ok(TicketMode::Memory),
            "keyring" => Ok(TicketMode::Keyring),
            "file" => Ok(TicketMode::File),
            _ => Err(OdbcError::new(
                SqlState::GENERAL_ERROR,
                format!("TwoFactorTicket must be Off, Memory, Keyring or File, not {s:?}"),
            )),
        }
    }
}

/// A ticket with its private key, as a store keeps it.
#[derive(Debug, Clone)]
pub struct StoredTicket {
    pub key: SittingKey,
    /// The server's name from HelloOk, which the proof names.
    pub server_name: String,
    pub ticket_id: Secret<Vec<u8>>,
    /// The Ed25519 key pair, PKCS#8 v2 as ring generates it.
    pub private_key_pkcs8: Secret<Vec<u8>>,
    /// Unix seconds: the server's hard expiry.
    pub expires_at: i64,
    /// The server forgets a ticket unused this long (0: no idle expiry).
    pub idle_secs: u32,
    /// Unix seconds of the last successful use (or the issue).
    pub last_used: i64,
}

impl StoredTicket {
    /// Worth offering at `now`: before its expiry, and not idle past the server's limit
    /// (a ticket the server would refuse is not offered: the refusal would count).
    pub fn usable_at(&self, now: i64) -> bool {
        now < self.expires_at && (self.idle_secs == 0 || now < self.last_used.saturating_add(self.idle_secs.into()))
    }
}

/// The serialized form (keyring secret, sealed file payload): the key fields in clear,
/// the secrets as bytes.
#[derive(Serialize, Deserialize)]
struct TicketRecord {
    host: String,
    port: u16,
    user: String,
    server_name: String,
    ticket_id: Vec<u8>,
    private_key_pkcs8: Vec<u8>,
    expires_at: i64,
    idle_secs: u32,
    last_used: i64,
}

impl TicketRecord {
    fn from_ticket(t: &StoredTicket) -> Self {
        TicketRecord {
            host: t.key.host.clone(),
            port: t.key.port,
            user: t.key.user.clone(),
            server_name: t.server_name.clone(),
            ticket_id: t.ticket_id.expose().clone(),
            private_key_pkcs8: t.private_key_pkcs8.expose().clone(),
            expires_at: t.expires_at,
            idle_secs: t.idle_secs,
            last_used: t.last_used,
        }
    }

    fn into_ticket(mut self) -> StoredTicket {
        StoredTicket {
            key: SittingKey {
                host: std::mem::take(&mut self.host),
                port: self.port,
                user: std::mem::take(&mut self.user),
            },
            server_name: std::mem::take(&mut self.server_name),
            ticket_id: Secret::new(std::mem::take(&mut self.ticket_id)),
            private_key_pkcs8: Secret::new(std::mem::take(&mut self.private_key_pkcs8)),
            expires_at: self.expires_at,
            idle_secs: self.idle_secs,
            last_used: self.last_used,
        }
    }
}

impl Drop for TicketRecord {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.ticket_id.zeroize();
        self.private_key_pkcs8.zeroize();
    }
}

/// Warnings (01000) a store raises; they reach the application with the connect's
/// SQL_SUCCESS_WITH_INFO (or beside its error).
pub type Warnings = Vec<OdbcError>;

pub fn warning(message: impl Into<String>) -> OdbcError {
    OdbcError::new(SqlState::GENERAL_WARNING, message)
}

/// One place tickets are kept.
pub trait TicketStore {
    /// What the warnings call it.
    fn name(&self) -> &'static str;
    /// The ticket for `key`, if one is kept and readable.
    fn load(&self, key: &SittingKey, warnings: &mut Warnings) -> Option<StoredTicket>;
    fn save(&self, ticket: &StoredTicket, warnings: &mut Warnings);
    fn evict(&self, key: &SittingKey, warnings: &mut Warnings);
}

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The stores a mode uses, Memory first.
pub struct Stores {
    stores: Vec<Box<dyn TicketStore>>,
}

impl Stores {
    /// `None` for `Off`. For `Keyring`, probing the keyring may add the warning that the
    /// file store stands in for it.
    pub fn for_mode(mode: TicketMode, warnings: &mut Warnings) -> Option<Stores> {
        Self::for_mode_with(mode, keyring::KeyringStore::probe, file::FileStore::for_user, warnings)
    }

    /// `for_mode` with the keyring probe and the file store given (tests stand in for a
    /// kernel that refuses keyctl).
    fn for_mode_with<K: TicketStore + 'static>(
        mode: TicketMode,
        probe_keyring: impl FnOnce() -> Result<K, String>,
        file_store: impl FnOnce() -> file::FileStore,
        warnings: &mut Warnings,
    ) -> Option<Stores> {
        let mut stores: Vec<Box<dyn TicketStore>> = vec![Box::new(memory::MemoryStore)];
        match mode {
            TicketMode::Off => return None,
            TicketMode::Memory => {}
            TicketMode::Keyring => match probe_keyring() {
                Ok(store) => stores.push(Box::new(store)),
                Err(why) => {
                    let file = file_store();
                    warnings.push(warning(format!(
                        "TwoFactorTicket=Keyring: the kernel keyring is unavailable ({why}); tickets are kept in \
                         the file store {} instead (a 0600 file, its private key sealed under a device key)",
                        file.describe()
                    )));
                    stores.push(Box::new(file));
                }
            },
            TicketMode::File => stores.push(Box::new(file_store())),
        }
        Some(Stores { stores })
    }

    /// The first usable ticket for `key`: Memory, then the persistent store (copied into
    /// Memory). One found unusable (expired, idle too long) is evicted from every store.
    pub fn find(&self, key: &SittingKey, warnings: &mut Warnings) -> Option<StoredTicket> {
        let now = unix_now();
        for (i, store) in self.stores.iter().enumerate() {
            let Some(ticket) = store.load(key, warnings) else { continue };
            if &ticket.key != key {
                // A file renamed or a hash collision: never offer another key's ticket.
                log::warn!("the {} store returned a ticket for another server or user; ignored", store.name());
                continue;
            }
            if !ticket.usable_at(now) {
                log::info!("the stored two-factor ticket for {:?} has expired; evicted", key.user);
                self.evict(key, warnings);
                return None;
            }
            if i > 0 {
                self.stores[0].save(&ticket, warnings);
            }
            return Some(ticket);
        }
        None
    }

    pub fn save(&self, ticket: &StoredTicket, warnings: &mut Warnings) {
        for store in &self.stores {
            store.save(ticket, warnings);
        }
    }

    /// From every store of this mode, and from Memory whatever the mode.
    pub fn evict(&self, key: &SittingKey, warnings: &mut Warnings) {
        for store in &self.stores {
            store.evict(key, warnings);
        }
    }
}

/// Memory's ticket for `key`, for a follower of a flight (see `sitting`).
pub fn memory_ticket(key: &SittingKey) -> Option<StoredTicket> {
    memory::MemoryStore.load(key, &mut Vec::new()).filter(|t| t.usable_at(unix_now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(user: &str) -> StoredTicket {
        let now = unix_now();
        StoredTicket {
            key: SittingKey { host: "db.example".into(), port: 7443, user: user.into() },
            server_name: "twofactor-server".into(),
            ticket_id: Secret::new(vec![7; 32]),
            private_key_pkcs8: Secret::new(vec![9; 83]),
            expires_at: now + 3600,
            idle_secs: 600,
            last_used: now,
        }
    }

    #[test]
    fn the_mode_parses_case_insensitively_and_refuses_other_values() {
        assert_eq!(TicketMode::parse("").unwrap(), TicketMode::Off);
        assert_eq!(TicketMode::parse("MEMORY").unwrap(), TicketMode::Memory);
        assert_eq!(TicketMode::parse(" keyring ").unwrap(), TicketMode::Keyring);
        assert_eq!(TicketMode::parse("File").unwrap(), TicketMode::File);
        assert!(TicketMode::parse("disk").unwrap_err().message.contains("Off, Memory, Keyring or File"));
    }

    #[test]
    fn a_ticket_is_unusable_after_its_expiry_or_its_idle_limit() {
        let t = sample("u");
        let now = t.last_used;
        assert!(t.usable_at(now + 599));
        assert!(!t.usable_at(now + 600), "idle limit");
        let no_idle = StoredTicket { idle_secs: 0, ..t.clone() };
        assert!(no_idle.usable_at(now + 3599));
        assert!(!no_idle.usable_at(now + 3600), "hard expiry");
    }

    #[test]
    fn the_memory_mode_finds_what_it_saved_and_forgets_what_it_evicted() {
        let stores = Stores::for_mode(TicketMode::Memory, &mut Vec::new()).unwrap();
        let t = sample("stores-memory-test");
        let mut w = Vec::new();
        stores.save(&t, &mut w);
        assert_eq!(stores.find(&t.key, &mut w).unwrap().ticket_id.expose(), t.ticket_id.expose());
        assert!(memory_ticket(&t.key).is_some());
        stores.evict(&t.key, &mut w);
        assert!(stores.find(&t.key, &mut w).is_none());
        assert!(w.is_empty());
        assert!(Stores::for_mode(TicketMode::Off, &mut w).is_none());
    }

    #[test]
    #[cfg(unix)] // the file store has no directory on Windows (file.rs)
    fn keyring_mode_without_a_keyring_uses_the_file_store_and_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(file::DIR_NAME);
        let uid = rustix::process::geteuid().as_raw();
        let mut w = Vec::new();
        let refused = || Err::<memory::MemoryStore, String>("Operation not permitted".into());
        let stores =
            Stores::for_mode_with(TicketMode::Keyring, refused, || file::FileStore::in_dir(dir.clone(), uid), &mut w)
                .unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].state, SqlState::GENERAL_WARNING);
        assert!(w[0].message.contains("kernel keyring is unavailable (Operation not permitted)"), "{}", w[0].message);
        assert!(w[0].message.contains(&dir.display().to_string()), "{}", w[0].message);
        assert_eq!(stores.stores.iter().map(|s| s.name()).collect::<Vec<_>>(), ["memory", "file"]);
        let t = sample("stores-fallback-test");
        stores.save(&t, &mut w);
        assert!(file::FileStore::path_of(&dir, &t.key).exists(), "the ticket went to the file");
        memory::MemoryStore.evict(&t.key, &mut w);
        assert!(stores.find(&t.key, &mut w).is_some(), "found in the file, copied to memory");
        assert!(memory_ticket(&t.key).is_some());
        stores.evict(&t.key, &mut w);
        assert!(!file::FileStore::path_of(&dir, &t.key).exists(), "evicted from every store");
    }

    #[test]
    fn an_expired_ticket_is_not_offered_and_is_evicted() {
        let stores = Stores::for_mode(TicketMode::Memory, &mut Vec::new()).unwrap();
        let t = StoredTicket { expires_at: unix_now() - 1, ..sample("stores-expired-test") };
        let mut w = Vec::new();
        stores.save(&t, &mut w);
        assert!(stores.find(&t.key, &mut w).is_none());
        assert!(memory::MemoryStore.load(&t.key, &mut w).is_none(), "evicted");
    }
}
