//! Two-factor tickets as the store keeps them (docs/tickets.md): a row per ticket keyed
//! by the SHA-256 of its identifier (the identifier itself, which the driver holds, is
//! never stored), with the device's public key, the lifetimes and the revocation; and
//! each user's ticket policy in its own table.

use sha2::{Digest, Sha256};

/// What a user's own ticket policy says; `Default` follows `[tickets] enabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketPolicy {
    /// Tickets for this user even when the server's default is off.
    Allow,
    /// No tickets for this user, whatever the server's default.
    Deny,
    Default,
}

impl TicketPolicy {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketPolicy::Allow => "allow",
            TicketPolicy::Deny => "deny",
            TicketPolicy::Default => "default",
        }
    }

    pub fn parse(s: &str) -> Option<TicketPolicy> {
        match s {
            "allow" => Some(TicketPolicy::Allow),
            "deny" => Some(TicketPolicy::Deny),
            "default" => Some(TicketPolicy::Default),
            _ => None,
        }
    }
}

/// A ticket to store at its issue.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    /// [`ticket_id_hash`] of the identifier sent to the driver.
    pub id_hash: &'a [u8],
    pub user: &'a str,
    /// The device's Ed25519 public key (32 bytes).
    pub public_key: &'a [u8],
    pub issued_at: i64,
    pub expires_at: i64,
    pub idle_secs: u32,
    /// Where the login that asked for it came from.
    pub peer: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub id_hash: Vec<u8>,
    pub user: String,
    pub public_key: Vec<u8>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The issue, or the last login it completed.
    pub last_used_at: i64,
    pub idle_secs: u32,
    pub peer: String,
    pub revoked_at: Option<i64>,
}

/// Why a ticket is not usable now (the store's view; the proof is checked elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    Active,
    Expired,
    IdleExpired,
    Revoked,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Active => "active",
            TicketState::Expired => "expired",
            TicketState::IdleExpired => "idle-expired",
            TicketState::Revoked => "revoked",
        }
    }
}

impl TicketRecord {
    /// Revocation first (the admin's act), then the hard end, then the idle end.
    pub fn state(&self, now: i64) -> TicketState {
        if self.revoked_at.is_some() {
            TicketState::Revoked
        } else if self.expires_at <= now {
            TicketState::Expired
        } else if self.last_used_at.saturating_add(i64::from(self.idle_secs)) <= now {
            TicketState::IdleExpired
        } else {
            TicketState::Active
        }
    }

    /// The name `user tickets list` shows and `revoke` takes.
    pub fn short_id(&self) -> String {
        short_id(&self.id_hash)
    }
}

/// The stored key of a ticket identifier.
pub fn ticket_id_hash(ticket_id: &[u8]) -> Vec<u8> {
    Sha256::digest(ticket_id).to_vec()
}

/// The first 8 hex digits of an identifier's hash: enough to tell a user's tickets apart,
/// and safe in the audit log (it is a hash's prefix, not the identifier).
pub fn short_id(id_hash: &[u8]) -> String {
    id_hash.iter().take(4).map(|b| format!("{b:02x}")).collect()
}
