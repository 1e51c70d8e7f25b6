//! Argon2id password hashes, verified off the async executor by a bounded pool, so a burst
//! of logins waits its turn instead of stalling established sessions.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use twofactor_protocol::Secret;

use crate::config::AuthSection;

#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashCost {
    pub fn from_config(auth: &AuthSection) -> Self {
        HashCost {
            memory_kib: auth.argon2_memory_kib,
            iterations: auth.argon2_iterations,
            parallelism: auth.argon2_parallelism,
        }
    }

    fn argon2(&self) -> Result<Argon2<'static>, argon2::Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// A PHC string (`$argon2id$v=19$m=...`), which carries its own salt and cost.
pub fn hash_password(password: &str, cost: HashCost) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let argon2 = cost.argon2().map_err(|e| e.to_string())?;
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// The comparison inside `verify_password` is constant time (password-hash's `Output`).
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The cost comes from the stored hash, so raising the config does not lock anyone out.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Verifies passwords on `tokio::task::spawn_blocking`, at most `workers` at a time.
pub struct PasswordChecker {
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so the reply takes as long.
    dummy_hash: String,
}

impl PasswordChecker {
    pub fn new(workers: usize, cost: HashCost) -> Result<Self, String> {
        let dummy_hash = hash_password("dummy password for unknown users", cost)?;
        Ok(PasswordChecker {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            dummy_hash,
        })
    }

    /// True iff `stored` exists and matches. An unknown user costs one hash all the same.
    pub async fn verify(&self, password: Secret<String>, stored: Option<String>) -> bool {
        let Ok(_permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(password.expose(), &phc))
            .await
            .unwrap_or(false);
        ok && known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse", CHEAP).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horse!", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(h, hash_password("correct horse", CHEAP).unwrap(), "salted");
    }

    #[tokio::test]
    async fn an_unknown_user_is_refused_after_a_hash() {
        let checker = PasswordChecker::new(1, CHEAP).unwrap();
        let h = hash_password("pw", CHEAP).unwrap();
        assert!(
            checker
                .verify(Secret::new("pw".into()), Some(h.clone()))
                .await
        );
        assert!(!checker.verify(Secret::new("nope".into()), Some(h)).await);
        assert!(
            !checker
                .verify(Secret::new("dummy password for unknown users".into()), None)
                .await
        );
    }
}
