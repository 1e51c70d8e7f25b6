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
    Read { path: String, source: std::io::Error },
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

pub struct SecretsKey {
    cipher: ChaCha20Poly1305,
    /// HMAC-SHA256 key for one-time and backup codes, derived from the secrets key.
    mac_key: [u8; 32],
    id: String,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

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
        let id_mac = hmac(bytes, &[b"twofactor key-id v1"]);
        SecretsKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
            mac_key: hmac(bytes, &[b"twofactor code-mac v1"]),
            id: data_encoding::HEXLOWER.encode(&id_mac[..8]),
        }
    }

    /// A short public fingerprint of the key (not the key): export files carry it so an
    /// import can tell whether secrets need re-encrypting.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The keyed hash under which one-time and backup codes are stored: HMAC-SHA256 with a
    /// key derived from `secrets.key`, over the purpose, the user and the code.
    pub fn code_hash(&self, purpose: &str, user: &str, code: &str) -> Vec<u8> {
        hmac(&self.mac_key, &[purpose.as_bytes(), user.as_bytes(), code.as_bytes()]).to_vec()
    }

    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let bytes =
            std::fs::read(path).map_err(|source| CryptoError::Read { path: path.display().to_string(), source })?;
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CryptoError::BadKey(path.display().to_string()))?;
        Ok(Self::from_bytes(&arr))
    }

    pub fn seal(&self, user: &str, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad: user.as_bytes() })
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
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: user.as_bytes() })
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

    #[test]
    fn code_hashes_depend_on_key_purpose_user_and_code() {
        let bytes = SecretsKey::generate_bytes();
        let key = SecretsKey::from_bytes(&bytes);
        let h = key.code_hash("otp", "alice", "123456");
        assert_eq!(h.len(), 32);
        assert_eq!(h, SecretsKey::from_bytes(&bytes).code_hash("otp", "alice", "123456"));
        assert_ne!(h, key.code_hash("backup", "alice", "123456"));
        assert_ne!(h, key.code_hash("otp", "bob", "123456"));
        assert_ne!(h, key.code_hash("otp", "alice", "123457"));
        let other = SecretsKey::from_bytes(&SecretsKey::generate_bytes());
        assert_ne!(h, other.code_hash("otp", "alice", "123456"));
        assert_eq!(key.id().len(), 16);
        assert_ne!(key.id(), other.id());
    }
}
