//! TOTP secrets at rest: ChaCha20-Poly1305 under the key in `secrets.key`, a fresh random
//! nonce per secret, stored as `nonce || ciphertext`. The user name is the associated
//! data, so a ciphertext copied onto another user's row does not decrypt.

use std::fmt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

pub const KEY_FILE: &str = "secrets.key";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("cannot read the secrets key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the secrets key {0} must hold exactly 32 bytes")]
    BadKey(String),
    #[error("a stored TOTP secret does not decrypt (wrong secrets.key or tampered store)")]
    Decrypt,
}

/// Bytes that must not be printed; `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(v: Vec<u8>) -> Self {
        SecretBytes(v)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        // Best effort; the allocator may have copied it before.
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

pub struct SecretsKey(ChaCha20Poly1305);

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey(***)")
    }
}

impl SecretsKey {
    pub fn generate_bytes() -> [u8; 32] {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        k
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        SecretsKey(ChaCha20Poly1305::new(Key::from_slice(bytes)))
    }

    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let bytes = std::fs::read(path).map_err(|source| CryptoError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::BadKey(path.display().to_string()))?;
        Ok(Self::from_bytes(&arr))
    }

    pub fn seal(&self, user: &str, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: user.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption of a short buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, user: &str, sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: user.as_bytes(),
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let key = SecretsKey::from_bytes(&SecretsKey::generate_bytes());
        let sealed = key.seal("alice", b"topsecret");
        assert_eq!(key.open("alice", &sealed).unwrap().expose(), b"topsecret");
        assert!(key.open("bob", &sealed).is_err());
        let other = SecretsKey::from_bytes(&SecretsKey::generate_bytes());
        assert!(other.open("alice", &sealed).is_err());
        assert_ne!(key.seal("alice", b"topsecret"), sealed, "nonces differ");
        assert_eq!(format!("{:?}", SecretBytes::new(vec![1])), "***");
    }
}
