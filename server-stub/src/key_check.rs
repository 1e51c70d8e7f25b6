//! At start: does this instance's `secrets.key` open the TOTP secrets in the user store?
//! Instances sharing a store must share the key; one started with another (a copy step
//! forgotten, `init` run on the new machine) could open no secret, would refuse every TOTP
//! code and count each as a failure, locking users out across the whole deployment. So it
//! refuses to start instead, naming the problem.

use std::path::Path;

use crate::crypto::SecretsKey;
use crate::store::UserStore;

/// TOTP secrets tried at most: enough that a wrong key shows, few enough to be instant.
const SAMPLE: usize = 20;

/// Err when the store holds TOTP secrets and the key opens none of the first [`SAMPLE`];
/// a few that do not open among many that do (a tampered row) are only logged. Blocking:
/// it reads the store.
pub(crate) fn check(store: &dyn UserStore, key: &SecretsKey, key_path: &Path) -> Result<(), String> {
    let users = store.users().map_err(|e| format!("checking {} against the user store: {e}", key_path.display()))?;
    let sealed: Vec<(&str, &[u8])> = users
        .iter()
        .filter_map(|u| u.totp.as_ref().map(|t| (u.name.as_str(), t.sealed_secret.as_slice())))
        .take(SAMPLE)
        .collect();
    let unopened: Vec<&str> = sealed.iter().filter(|(name, s)| key.open(name, s).is_err()).map(|(n, _)| *n).collect();
    if sealed.is_empty() || unopened.is_empty() {
        return Ok(());
    }
    if unopened.len() == sealed.len() {
        return Err(format!(
            "{} (key id {}) opens none of the {} TOTP secrets tried in the user store: they were sealed with \
             another key. Every instance sharing a store needs the same secrets.key; copy it from an instance \
             that works (docs/deployment.md)",
            key_path.display(),
            key.id(),
            sealed.len()
        ));
    }
    log::warn!(
        "the TOTP secrets of {} do not decrypt with {} while others do (tampered rows?): {}",
        unopened.len(),
        key_path.display(),
        unopened.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteUserStore, TotpEnrolment};

    fn enrol(store: &SqliteUserStore, key: &SecretsKey, name: &str) {
        store.create_user(name, "$argon2id$fake").unwrap();
        let sealed_secret = key.seal(name, b"12345678901234567890");
        store.set_totp(name, &TotpEnrolment { sealed_secret, algorithm: "SHA1".into(), digits: 6 }).unwrap();
    }

    #[test]
    fn another_key_is_refused_by_name_and_the_right_one_or_an_empty_store_pass() {
        let store = SqliteUserStore::open_in_memory().unwrap();
        let (right, wrong) = (SecretsKey::from_bytes(&[1; 32]), SecretsKey::from_bytes(&[2; 32]));
        let path = Path::new("/d/secrets.key");
        assert!(check(&store, &wrong, path).is_ok(), "no TOTP secret yet: nothing to tell");
        enrol(&store, &right, "alice");
        enrol(&store, &right, "bob");
        assert!(check(&store, &right, path).is_ok());
        let e = check(&store, &wrong, path).unwrap_err();
        assert!(e.contains("/d/secrets.key") && e.contains("opens none of the 2"), "{e}");
        // One row sealed otherwise among good ones is logged, not fatal.
        enrol(&store, &wrong, "carol");
        assert!(check(&store, &right, path).is_ok());
    }
}
