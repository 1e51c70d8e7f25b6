//! What a relayed cancel carries: the session id and a proof of the cancel key, never
//! the key itself. The proof is HMAC-SHA256 keyed by the 16-byte cancel key over a
//! purpose label and the session id, so it says nothing about the key (which is random,
//! so it cannot be guessed from the proof either), cannot be moved to another session,
//! and means nothing outside the relay. Only the instance holding the session can check
//! it, by computing it from the key it keeps, and compares in constant time.

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What the proof is for: a MAC made for anything else never matches.
const PURPOSE: &[u8] = b"twofactor cancel-relay v1";

/// The payload's version prefix.
const VERSION: &str = "1";

/// The length of every payload this relay sends: `1:` + 16 hex + `:` + 64 hex.
pub const PAYLOAD_LEN: usize = 2 + 16 + 1 + 64;

/// A cancel request another instance relayed: which session, and the proof of its key.
#[derive(Debug, PartialEq, Eq)]
pub struct RelayedCancel {
    pub session_id: u64,
    pub proof: [u8; 32],
}

/// The proof that whoever asked knew `key`, the cancel key of `session_id`.
pub fn proof(key: &[u8; 16], session_id: u64) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(PURPOSE);
    mac.update(&session_id.to_be_bytes());
    mac.finalize().into_bytes().into()
}

impl RelayedCancel {
    pub fn new(session_id: u64, key: &[u8; 16]) -> RelayedCancel {
        RelayedCancel { session_id, proof: proof(key, session_id) }
    }

    /// Whether `key` (the session's own, as this instance holds it) is the one the
    /// canceller had; constant time.
    pub fn proves(&self, key: &[u8; 16]) -> bool {
        proof(key, self.session_id).ct_eq(&self.proof).into()
    }

    /// The NOTIFY payload: `1:<session id, 16 hex>:<proof, 64 hex>`.
    pub fn encode(&self) -> String {
        format!("{VERSION}:{:016x}:{}", self.session_id, data_encoding::HEXLOWER.encode(&self.proof))
    }

    /// A payload back, or None for anything that is not exactly what [`encode`] writes
    /// (other versions, other lengths, upper case): such a notification is ignored.
    pub fn decode(payload: &str) -> Option<RelayedCancel> {
        if payload.len() != PAYLOAD_LEN {
            return None;
        }
        let mut parts = payload.split(':');
        let (version, id, proof) = (parts.next()?, parts.next()?, parts.next()?);
        if version != VERSION || parts.next().is_some() || id.len() != 16 {
            return None;
        }
        if !id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let session_id = u64::from_str_radix(id, 16).ok()?;
        let proof: [u8; 32] = data_encoding::HEXLOWER.decode(proof.as_bytes()).ok()?.try_into().ok()?;
        Some(RelayedCancel { session_id, proof })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn a_payload_decodes_to_what_was_encoded_and_has_the_fixed_length() {
        let c = RelayedCancel::new(0x00ab_cdef_0123_4567, &KEY);
        let text = c.encode();
        assert_eq!(text.len(), PAYLOAD_LEN);
        assert!(text.starts_with("1:00abcdef01234567:"), "{text}");
        assert_eq!(RelayedCancel::decode(&text), Some(c));
    }

    #[test]
    fn the_payload_does_not_contain_the_key() {
        let text = RelayedCancel::new(7, &KEY).encode();
        assert!(!text.contains(&data_encoding::HEXLOWER.encode(&KEY)));
        assert!(!text.contains("0123456789abcdef"));
    }

    #[test]
    fn only_the_right_key_proves_and_a_proof_does_not_move_to_another_session() {
        let c = RelayedCancel::new(7, &KEY);
        assert!(c.proves(&KEY));
        let mut other = KEY;
        other[15] ^= 1;
        assert!(!c.proves(&other));
        let moved = RelayedCancel { session_id: 8, proof: c.proof };
        assert!(!moved.proves(&KEY));
    }

    #[test]
    fn anything_but_an_exact_payload_is_ignored() {
        let good = RelayedCancel::new(7, &KEY).encode();
        let cases = [
            String::new(),
            good[..good.len() - 1].to_string(),
            format!("{good}0"),
            good.replacen("1:", "2:", 1),
            good.to_uppercase(),
            good.replacen(':', ";", 1),
            format!("1:+000000000000007:{}", &good[19..]),
            "x".repeat(8000),
        ];
        for bad in cases {
            assert_eq!(RelayedCancel::decode(&bad), None, "{bad:?}");
        }
    }
}
