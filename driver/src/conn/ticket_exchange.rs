//! The ticket messages of protocol 4, driver side: the proof a stored ticket's key makes
//! for `LoginWithTicket`, and `RequestTicket` after a code was verified.

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use twofactor_protocol::proof::{ticket_proof_message, TICKET_ID_LEN};
use twofactor_protocol::{ClientMessage, Secret, ServerMessage};

use super::session::Session;
use super::sitting::SittingKey;
use super::tickets::{unix_now, warning, StoredTicket, Stores, Warnings};
use super::{unexpected, Connection};
use crate::diag::{OdbcError, OdbcResult, SqlState};

fn key_error() -> OdbcError {
    OdbcError::new(SqlState::GENERAL_ERROR, "the two-factor ticket's private key is unusable")
}

/// `LoginWithTicket` for `ticket`: the password, the ticket id, and the Ed25519
/// signature over this TLS session's exporter, the server's name and the user, so the
/// proof is worthless on any other connection.
pub fn login_message(s: &Session, ticket: &StoredTicket, password: Secret<String>) -> OdbcResult<ClientMessage> {
    let pair = Ed25519KeyPair::from_pkcs8(ticket.private_key_pkcs8.expose()).map_err(|_| key_error())?;
    let signed =
        ticket_proof_message(&s.proof_exporter()?, &ticket.server_name, &ticket.key.user, ticket.ticket_id.expose());
    Ok(ClientMessage::LoginWithTicket {
        user: ticket.key.user.clone(),
        password,
        ticket_id: ticket.ticket_id.clone(),
        proof: pair.sign(&signed).as_ref().to_vec(),
    })
}

/// After a code was verified: a fresh key pair, `RequestTicket` with its public half,
/// and the ticket the server issues for it. `Err` is the server's refusal (28000/1013
/// when its policy gives this user no tickets; not fatal) or a broken link.
pub fn request_ticket(s: &mut Session, key: &SittingKey, server_name: &str) -> OdbcResult<StoredTicket> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| key_error())?;
    let pkcs8 = Secret::new(pkcs8.as_ref().to_vec());
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.expose()).map_err(|_| key_error())?;
    let request = ClientMessage::RequestTicket { public_key: pair.public_key().as_ref().to_vec() };
    match s.request(&request)? {
        ServerMessage::Ticket { ticket_id, expires_at, idle_secs } => {
            if ticket_id.expose().len() != TICKET_ID_LEN {
                return Err(OdbcError::new(SqlState::GENERAL_ERROR, "the server sent a malformed two-factor ticket"));
            }
            Ok(StoredTicket {
                key: key.clone(),
                server_name: server_name.to_string(),
                ticket_id,
                private_key_pkcs8: pkcs8,
                expires_at,
                idle_secs,
                last_used: unix_now(),
            })
        }
        other => Err(unexpected(&other)),
    }
}

/// After a verified code: asks for a ticket and keeps it. A refusal (the server's
/// policy gives this user none) is a 01000 warning; a broken link fails the connect.
pub fn take_ticket(
    s: &mut Session,
    key: &SittingKey,
    server_name: &str,
    stores: &Stores,
    warnings: &mut Warnings,
) -> OdbcResult<()> {
    match request_ticket(s, key, server_name) {
        Ok(ticket) => {
            stores.save(&ticket, warnings);
            log::info!("the server issued a two-factor ticket (expires {})", describe_expiry(ticket.expires_at));
            Ok(())
        }
        Err(e) if s.is_dead() => Err(e),
        Err(e) => {
            warnings.push(warning(format!("no two-factor ticket: {}", e.message)));
            Ok(())
        }
    }
}

impl Connection {
    /// Attribute 1002 set on a connected handle was accepted: with tickets on, the code
    /// earns a ticket as one found while connecting does (the IRIS flow).
    pub(super) fn ticket_after_late_code(&self, warn: &mut dyn FnMut(OdbcError)) -> OdbcResult<()> {
        let Some(info) = self.info() else { return Ok(()) };
        if info.protocol_version < twofactor_protocol::TICKETS_SINCE_VERSION {
            return Ok(());
        }
        let mut warnings = Warnings::new();
        let Some(stores) = Stores::for_mode(info.ticket_mode, &mut warnings) else { return Ok(()) };
        let key = SittingKey { host: info.host.clone(), port: info.port, user: info.user.clone() };
        let result = self.with_session_unchecked(|s| take_ticket(s, &key, &info.server_name, &stores, &mut warnings));
        warnings.into_iter().for_each(&mut *warn);
        result
    }
}

/// A ticket's expiry for people: an HTTP date (UTC).
pub fn describe_expiry(expires_at: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires_at.max(0) as u64);
    httpdate::fmt_http_date(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ED25519};

    #[test]
    fn a_proof_verifies_with_the_public_key_and_only_for_its_exporter() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref().to_vec());
        let signed = ticket_proof_message(&[1; 32], "srv", "alice", &[2; 32]);
        let sig = pair.sign(&signed);
        assert!(public.verify(&signed, sig.as_ref()).is_ok());
        let other_session = ticket_proof_message(&[3; 32], "srv", "alice", &[2; 32]);
        assert!(public.verify(&other_session, sig.as_ref()).is_err());
        assert_eq!(describe_expiry(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
