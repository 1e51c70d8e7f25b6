//! What a driver signs to prove it holds a private key (protocol version 4): a two-factor
//! ticket's key (`LoginWithTicket`) or a service account's key (`KeyLogin`).
//!
//! Both proofs are bound to the TLS session they travel in through the TLS exporter
//! (RFC 8446 section 7.5, label [`EXPORTER_LABEL`], no context, [`EXPORTER_LEN`] bytes):
//! each TLS session has its own exporter value, so a proof captured or logged on one
//! connection is worthless on any other, and no server nonce (an extra round trip) is
//! needed. The signed bytes also name what the proof is for, the server (its HelloOk
//! name) and the user, so a signature made for one purpose, server or user proves nothing
//! about another. Signatures are Ed25519 (RFC 8032); this crate only builds the bytes.

use crate::codec::Put;

/// The TLS exporter label both sides use for proofs.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-twofactor-proof-of-possession";
/// Bytes taken from the TLS exporter.
pub const EXPORTER_LEN: usize = 32;
/// A ticket identifier: 32 random bytes drawn by the server.
pub const TICKET_ID_LEN: usize = 32;
/// An Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// An Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

const TICKET_CONTEXT: &[u8] = b"twofactor ticket proof v1\0";
const KEY_LOGIN_CONTEXT: &[u8] = b"twofactor service key login v1\0";

/// The bytes a driver signs with a ticket's private key for `LoginWithTicket`.
pub fn ticket_proof_message(exporter: &[u8; EXPORTER_LEN], server_name: &str, user: &str, ticket_id: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(TICKET_CONTEXT.len() + EXPORTER_LEN + 12 + server_name.len() + user.len() + 36);
    m.extend_from_slice(TICKET_CONTEXT);
    m.extend_from_slice(exporter);
    m.put_str(server_name);
    m.put_str(user);
    m.put_bytes(ticket_id);
    m
}

/// The bytes a service account signs with its key for `KeyLogin`.
pub fn key_login_message(exporter: &[u8; EXPORTER_LEN], server_name: &str, user: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(KEY_LOGIN_CONTEXT.len() + EXPORTER_LEN + 8 + server_name.len() + user.len());
    m.extend_from_slice(KEY_LOGIN_CONTEXT);
    m.extend_from_slice(exporter);
    m.put_str(server_name);
    m.put_str(user);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_server_user_and_session_all_change_the_signed_bytes() {
        let e1 = [1u8; EXPORTER_LEN];
        let e2 = [2u8; EXPORTER_LEN];
        let base = ticket_proof_message(&e1, "srv", "alice", &[9; TICKET_ID_LEN]);
        assert_ne!(base, ticket_proof_message(&e2, "srv", "alice", &[9; TICKET_ID_LEN]));
        assert_ne!(base, ticket_proof_message(&e1, "srv2", "alice", &[9; TICKET_ID_LEN]));
        assert_ne!(base, ticket_proof_message(&e1, "srv", "alicf", &[9; TICKET_ID_LEN]));
        assert_ne!(base, ticket_proof_message(&e1, "srv", "alice", &[8; TICKET_ID_LEN]));
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        assert_ne!(key_login_message(&e1, "ab", "c"), key_login_message(&e1, "a", "bc"));
    }
}
