//! Two-factor tickets (docs/tickets.md): the effective policy, the check of a ticket
//! offered with the password, and the issue of a new one. A ticket is a proof of
//! possession, not a bearer token: the driver signs, with the private key whose public
//! half the ticket is bound to, bytes naming this TLS session (its exporter), this server
//! and this user; the stored public key verifies the signature.

use std::net::IpAddr;

use rand::RngCore;
use ring::signature::{UnparsedPublicKey, ED25519};
use subtle::ConstantTimeEq;
use twofactor_protocol::proof::{self, EXPORTER_LEN, PUBLIC_KEY_LEN, SIGNATURE_LEN, TICKET_ID_LEN};
use twofactor_protocol::Secret;

use super::{Authenticator, Checked, Verdict};
use crate::store::{
    short_id, ticket_id_hash, AttemptFinished, CodeUse, NewTicket, StoreError, TicketPolicy, TicketRecord, TicketState,
};

/// The `method` the audit names for a second factor a ticket stood in for.
pub const TICKET_METHOD: &str = "TICKET";
/// The audit event of every ticket's issue, use, refusal and revocation.
pub const TICKET_EVENT: &str = "ticket";

/// What a ticket offered with `LoginWithTicket` came to.
#[derive(Debug)]
pub struct TicketChecked {
    /// Accepted, or as a rejected code (counted; possibly locking), or not checked
    /// (locked, blocked, busy: as for a code).
    pub checked: Checked,
    /// The accepted ticket, as its use left it.
    pub ticket: Option<TicketRecord>,
    /// Why it was refused, for the audit (never the identifier).
    pub refusal: Option<String>,
    /// The short id of the identifier offered (a hash's prefix), for the audit.
    pub short_id: String,
}

/// A ticket just issued: the identifier goes to the driver once and is not kept.
pub struct IssuedTicket {
    pub ticket_id: Secret<Vec<u8>>,
    pub short_id: String,
    pub expires_at: i64,
    pub idle_secs: u32,
    /// The user's oldest tickets revoked to stay within `tickets.max_per_user`.
    pub revoked_oldest: u32,
}

/// Why no ticket was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueRefusal {
    /// The server's default or the user's own policy says no.
    Off,
    /// Not a 32-byte Ed25519 public key.
    BadKey,
}

impl Authenticator {
    /// The user's own policy if set, else `[tickets] enabled`.
    pub fn tickets_allowed(&self, name: &str) -> Result<bool, StoreError> {
        Ok(match self.store.ticket_policy(name)? {
            TicketPolicy::Allow => true,
            TicketPolicy::Deny => false,
            TicketPolicy::Default => self.config.tickets.enabled,
        })
    }

    /// Checks a ticket offered by `name` from `ip` on the TLS session whose exporter is
    /// `exporter`, through the same attempt machinery as a code: a refusal is counted like
    /// a wrong code, an acceptance completes the login (counters reset).
    pub fn check_ticket(
        &self,
        name: &str,
        ticket_id: &[u8],
        signature: &[u8],
        exporter: &[u8; EXPORTER_LEN],
        ip: IpAddr,
    ) -> Result<TicketChecked, StoreError> {
        let id_hash = ticket_id_hash(ticket_id);
        let mut found: Result<TicketRecord, String> = Err(String::new());
        let checked = self.counted_second_factor(name, ip, || {
            found = self.usable_ticket(name, ticket_id, &id_hash, signature, exporter)?;
            let used = if found.is_ok() { CodeUse::Accepted } else { CodeUse::Rejected };
            let checked = Checked {
                verdict: Verdict::Accepted,
                method: TICKET_METHOD,
                drift_learned: None,
                backup_left: None,
                counted: AttemptFinished::default(),
            };
            Ok((used, checked))
        })?;
        let (ticket, refusal) = match (checked.verdict, found) {
            (Verdict::Accepted, Ok(t)) => (Some(t), None),
            (_, Err(reason)) if !reason.is_empty() => (None, Some(reason)),
            // Not checked at all (locked, blocked, busy).
            _ => (None, None),
        };
        Ok(TicketChecked { checked, ticket, refusal, short_id: short_id(&id_hash) })
    }

    /// The ticket if every rule lets it complete this login (then its use is recorded),
    /// else why not.
    fn usable_ticket(
        &self,
        name: &str,
        ticket_id: &[u8],
        id_hash: &[u8],
        signature: &[u8],
        exporter: &[u8; EXPORTER_LEN],
    ) -> Result<Result<TicketRecord, String>, StoreError> {
        let refuse = |why: &str| Ok(Err(why.to_owned()));
        if ticket_id.len() != TICKET_ID_LEN {
            return refuse("malformed ticket identifier");
        }
        if signature.len() != SIGNATURE_LEN {
            return refuse("malformed proof");
        }
        let Some(ticket) = self.store.ticket(id_hash)? else {
            return refuse("unknown ticket");
        };
        if !bool::from(ticket.id_hash.ct_eq(id_hash)) {
            return refuse("unknown ticket");
        }
        if ticket.user != name {
            return refuse("ticket of another user");
        }
        if !self.tickets_allowed(name)? {
            return refuse("tickets are off for this user");
        }
        let now = self.now();
        match ticket.state(now) {
            TicketState::Active => {}
            state => return Ok(Err(state.as_str().to_owned())),
        }
        // Limits lowered since the issue apply to tickets issued before.
        let t = &self.config.tickets;
        if ticket.issued_at.saturating_add(t.max_lifetime_secs as i64) <= now {
            return refuse("expired (tickets.max_lifetime_secs lowered since its issue)");
        }
        if ticket.last_used_at.saturating_add(t.idle_secs as i64) <= now {
            return refuse("idle-expired (tickets.idle_secs lowered since its issue)");
        }
        let signed = proof::ticket_proof_message(exporter, &self.config.server.name, name, ticket_id);
        if UnparsedPublicKey::new(&ED25519, &ticket.public_key).verify(&signed, signature).is_err() {
            return refuse("bad proof (wrong key, or signed for another TLS session, server or user)");
        }
        // Atomic: a revocation or expiry since the read above wins.
        match self.store.use_ticket(id_hash, name, now)? {
            Some(used) => Ok(Ok(used)),
            None => refuse("revoked or expired while being checked"),
        }
    }

    /// A new ticket for `name`, bound to `public_key`, asked for from `peer`.
    pub fn issue_ticket(
        &self,
        name: &str,
        public_key: &[u8],
        peer: &str,
    ) -> Result<Result<IssuedTicket, IssueRefusal>, StoreError> {
        if !self.tickets_allowed(name)? {
            return Ok(Err(IssueRefusal::Off));
        }
        if public_key.len() != PUBLIC_KEY_LEN {
            return Ok(Err(IssueRefusal::BadKey));
        }
        let mut ticket_id = vec![0u8; TICKET_ID_LEN];
        rand::rngs::OsRng.fill_bytes(&mut ticket_id);
        let id_hash = ticket_id_hash(&ticket_id);
        let t = &self.config.tickets;
        let now = self.now();
        let expires_at = now.saturating_add(t.max_lifetime_secs as i64);
        let idle_secs = t.idle_secs_u32();
        let new = NewTicket { id_hash: &id_hash, user: name, public_key, issued_at: now, expires_at, idle_secs, peer };
        let revoked_oldest = self.store.issue_ticket(&new, t.max_per_user)?;
        Ok(Ok(IssuedTicket {
            ticket_id: Secret::new(ticket_id),
            short_id: short_id(&id_hash),
            expires_at,
            idle_secs,
            revoked_oldest,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::crypto::SecretsKey;
    use crate::store::{SqliteUserStore, UserStore};

    const T0: i64 = 1_700_000_000;
    const EXPORTER: [u8; EXPORTER_LEN] = [5; EXPORTER_LEN];

    fn auth(store: Arc<SqliteUserStore>, clock: Arc<ManualClock>, tweak: impl FnOnce(&mut Config)) -> Authenticator {
        let mut config = Config::with_data_dir("/nowhere");
        config.tickets.enabled = true;
        tweak(&mut config);
        Authenticator::new(&config, store, SecretsKey::from_bytes(&SecretsKey::generate_bytes()), clock)
    }

    fn check(a: &Authenticator, key: &Ed25519KeyPair, id: &[u8]) -> TicketChecked {
        let signed = proof::ticket_proof_message(&EXPORTER, &a.config.server.name, "alice", id);
        let signature = key.sign(&signed).as_ref().to_vec();
        a.check_ticket("alice", id, &signature, &EXPORTER, "127.0.0.1".parse().unwrap()).unwrap()
    }

    #[test]
    fn lowered_limits_apply_to_tickets_issued_before_and_the_policy_is_read_at_each_use() {
        let store = Arc::new(SqliteUserStore::open_in_memory().unwrap());
        store.create_user("alice", "$argon2id$fake").unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let key =
            Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap().as_ref()).unwrap();
        let generous = auth(store.clone(), clock.clone(), |_| {});
        let issued = generous.issue_ticket("alice", key.public_key().as_ref(), "10.0.0.1:1").unwrap().unwrap();
        let id = issued.ticket_id.expose().clone();
        assert_eq!((issued.expires_at, issued.idle_secs, issued.revoked_oldest), (T0 + 28_800, 3_600, 0));
        clock.advance(1_000);
        assert_eq!(check(&generous, &key, &id).checked.verdict, Verdict::Accepted);

        // The same store under a config whose limits were lowered since.
        clock.advance(1_000);
        let idle = auth(store.clone(), clock.clone(), |c| c.tickets.idle_secs = 900);
        let refused = check(&idle, &key, &id);
        assert_eq!(refused.checked.verdict, Verdict::Rejected { failures: 1 });
        assert!(refused.refusal.unwrap().contains("tickets.idle_secs lowered"));
        let short = auth(store.clone(), clock.clone(), |c| {
            c.tickets.max_lifetime_secs = 1_800;
            c.tickets.idle_secs = 1_800;
        });
        assert!(check(&short, &key, &id).refusal.unwrap().contains("tickets.max_lifetime_secs lowered"));

        // The server default turned off: refused at use; `allow` brings the ticket back.
        let off = auth(store.clone(), clock.clone(), |c| c.tickets.enabled = false);
        assert!(check(&off, &key, &id).refusal.unwrap().contains("off for this user"));
        assert_eq!(off.issue_ticket("alice", &[1; 32], "p").unwrap().err(), Some(IssueRefusal::Off));
        store.set_ticket_policy("alice", TicketPolicy::Allow).unwrap();
        let accepted = check(&off, &key, &id);
        assert_eq!(accepted.checked.verdict, Verdict::Accepted);
        assert_eq!(accepted.ticket.unwrap().last_used_at, T0 + 2_000);
        assert_eq!(off.issue_ticket("alice", &[1; 31], "p").unwrap().err(), Some(IssueRefusal::BadKey));
        // An accepted ticket ends the attempt as a completed login: the failures are gone.
        assert_eq!(store.user("alice").unwrap().unwrap().failed_second_factor, 0);
    }
}
