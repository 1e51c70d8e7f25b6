//! The Keyring store: the Linux kernel keyring through the `keyring` crate (its
//! `linux-native` backend only: keyctl system calls, no D-Bus, nothing to link). The
//! ticket and its private key live in the user's keyrings in kernel memory, never on
//! disk; the kernel keeps them from other users. A reboot (or the persistent keyring's
//! expiry, a few days) empties it; the server's lifetime is shorter anyway.

use super::{warning, StoredTicket, TicketRecord, TicketStore, Warnings};
use crate::conn::sitting::SittingKey;

const SERVICE: &str = "twofactor-odbc";

pub struct KeyringStore;

/// The keyring entry's name for a key: one entry per (host, port, user).
fn account(key: &SittingKey) -> String {
    format!("ticket:{}:{}:{}", key.host, key.port, key.user)
}

fn entry(key: &SittingKey) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, &account(key))
}

impl KeyringStore {
    /// The store, when the kernel keyring answers here; the reason it does not, else
    /// (containers' seccomp profiles commonly refuse the keyctl calls).
    pub fn probe() -> Result<KeyringStore, String> {
        let probe = keyring::Entry::new(SERVICE, "probe").map_err(|e| e.to_string())?;
        match probe.get_secret() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(KeyringStore),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl TicketStore for KeyringStore {
    fn name(&self) -> &'static str {
        "keyring"
    }

    fn load(&self, key: &SittingKey, warnings: &mut Warnings) -> Option<StoredTicket> {
        let secret = match entry(key).and_then(|e| e.get_secret()) {
            Ok(bytes) => zeroize::Zeroizing::new(bytes),
            Err(keyring::Error::NoEntry) => return None,
            Err(e) => {
                warnings.push(warning(format!("the two-factor ticket in the kernel keyring could not be read: {e}")));
                return None;
            }
        };
        match serde_json::from_slice::<TicketRecord>(&secret) {
            Ok(record) => Some(record.into_ticket()),
            Err(_) => {
                warnings.push(warning("the two-factor ticket in the kernel keyring is unreadable; it was removed"));
                self.evict(key, warnings);
                None
            }
        }
    }

    fn save(&self, ticket: &StoredTicket, warnings: &mut Warnings) {
        let bytes = match serde_json::to_vec(&TicketRecord::from_ticket(ticket)) {
            Ok(b) => zeroize::Zeroizing::new(b),
            Err(e) => {
                warnings.push(warning(format!("the two-factor ticket could not be encoded for the keyring: {e}")));
                return;
            }
        };
        if let Err(e) = entry(&ticket.key).and_then(|e| e.set_secret(&bytes)) {
            warnings.push(warning(format!(
                "the two-factor ticket could not be kept in the kernel keyring ({e}); it lasts for this process only"
            )));
        }
    }

    fn evict(&self, key: &SittingKey, warnings: &mut Warnings) {
        match entry(key).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => {}
            Err(e) => warnings.push(warning(format!(
                "the refused or expired two-factor ticket could not be removed from the kernel keyring: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::tickets::tests::sample;

    #[test]
    fn a_ticket_round_trips_through_the_kernel_keyring_and_is_gone_after_evict() {
        let Ok(store) = KeyringStore::probe() else {
            eprintln!("skipped: the kernel keyring is unavailable here (the file store stands in, tested apart)");
            return;
        };
        let mut t = sample("keyring-unit-test");
        t.key.port = (std::process::id() % 60_000) as u16 + 1;
        let mut w = Vec::new();
        store.save(&t, &mut w);
        let back = store.load(&t.key, &mut w).expect("saved in the keyring");
        assert_eq!(back.private_key_pkcs8.expose(), t.private_key_pkcs8.expose());
        assert_eq!((back.expires_at, back.key.clone()), (t.expires_at, t.key.clone()));
        store.evict(&t.key, &mut w);
        assert!(store.load(&t.key, &mut w).is_none());
        assert!(w.is_empty(), "{w:?}");
    }
}
