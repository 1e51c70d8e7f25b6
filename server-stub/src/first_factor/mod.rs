//! The mechanisms that check a password (the first factor), and the cascade that tries
//! them in order, as Caché's cascading authentication does (docs/ldap.md). The second
//! factor is ours whichever mechanism decided.
//!
//! The cascade moves to the next mechanism only when one says it does not know the user
//! ([`Verdict::NotFound`]). A wrong password, a user outside the group, or a directory
//! that cannot answer ends it: falling through to another password after a wrong one
//! would give every user two passwords to guess, and falling through when the directory
//! is down would let anyone who can take the directory down choose the weaker check.

use std::net::IpAddr;

use serde::Deserialize;
use twofactor_protocol::Secret;

use crate::config::Config;
use crate::password::PasswordChecker;

pub mod ldap;
mod local;

pub use local::{is_directory_only, DIRECTORY_ONLY_HASH};

/// One way of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// The Argon2id hash in our user store.
    Local,
    /// A bind to the directory as the user (`[ldap]`).
    Ldap,
}

impl Mechanism {
    /// As written in the config, stored per user, and named in the audit line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Local => "local",
            Mechanism::Ldap => "ldap",
        }
    }

    pub fn parse(s: &str) -> Option<Mechanism> {
        match s.to_ascii_lowercase().as_str() {
            "local" => Some(Mechanism::Local),
            "ldap" => Some(Mechanism::Ldap),
            _ => None,
        }
    }
}

/// What one mechanism said about a user and a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right (and, for the directory, the user is in the group).
    Accepted,
    /// The mechanism does not know the user: the only verdict the cascade moves on from.
    NotFound,
    /// Refused (wrong password, not in the group, an ambiguous entry): counted as a
    /// failed login; the reason goes to the audit only.
    Rejected(&'static str),
    /// Could not decide (directory down, a timeout, a refused service account): the
    /// login fails closed and is not counted as a guess.
    Unavailable(String),
}

/// The cascade's answer: the verdict, and the mechanism that gave it (None when every
/// mechanism said NotFound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub mechanism: Option<Mechanism>,
}

/// The mechanisms a server has, opened once at start.
pub struct FirstFactors {
    directory: Option<ldap::Directory>,
    order: Vec<Mechanism>,
}

impl FirstFactors {
    /// Opens the directory when `[ldap]` is set: reads the service account's password
    /// and the CA file, so a bad file stops the start rather than the first login.
    pub fn open(config: &Config) -> Result<Self, String> {
        let directory = if config.ldap.is_configured() { Some(ldap::Directory::open(config)?) } else { None };
        Ok(FirstFactors { directory, order: config.auth.first_factor.mechanisms().to_vec() })
    }

    /// Local passwords only (tests and tools without a server).
    pub fn local_only() -> Self {
        FirstFactors { directory: None, order: vec![Mechanism::Local] }
    }

    /// The directory, when `[ldap]` is configured.
    pub fn directory(&self) -> Option<&ldap::Directory> {
        self.directory.as_ref()
    }

    /// The mechanisms to try for a user whose own setting is `own` (None: the server's).
    pub fn order_for(&self, own: Option<Mechanism>) -> Vec<Mechanism> {
        own.map(|m| vec![m]).unwrap_or_else(|| self.order.clone())
    }

    /// Runs the cascade. `local_hash` is the user's stored hash (None: no such user here).
    /// An unknown user still costs one Argon2 check where `local` is tried.
    pub async fn check(
        &self,
        passwords: &PasswordChecker,
        order: &[Mechanism],
        user: &str,
        password: &Secret<String>,
        local_hash: Option<String>,
        source: IpAddr,
    ) -> Decision {
        for &mechanism in order {
            let verdict = match mechanism {
                Mechanism::Local => local::check(passwords, password, local_hash.clone(), source).await,
                Mechanism::Ldap => match &self.directory {
                    Some(directory) => directory.check(user, password).await,
                    None => Verdict::Unavailable("the user's first factor is ldap but [ldap] is not configured".into()),
                },
            };
            if verdict != Verdict::NotFound {
                return Decision { verdict, mechanism: Some(mechanism) };
            }
        }
        Decision { verdict: Verdict::NotFound, mechanism: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::HashCost;

    const CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn hash(pw: &str) -> String {
        crate::password::hash_password(pw, CHEAP).unwrap()
    }

    #[tokio::test]
    async fn a_cascade_without_a_directory_fails_closed_at_ldap() {
        let checker = PasswordChecker::new(1, CHEAP).unwrap();
        let ff = FirstFactors::local_only();
        let pw = Secret::new("pw".to_string());
        let d = ff.check(&checker, &[Mechanism::Ldap, Mechanism::Local], "alice", &pw, Some(hash("pw")), LOCAL).await;
        assert!(matches!(d.verdict, Verdict::Unavailable(_)));
        assert_eq!(d.mechanism, Some(Mechanism::Ldap));
    }

    #[tokio::test]
    async fn a_directory_only_user_is_not_found_locally_so_the_cascade_moves_on() {
        let checker = PasswordChecker::new(1, CHEAP).unwrap();
        let ff = FirstFactors::local_only();
        let pw = Secret::new("pw".to_string());
        let only = Some(DIRECTORY_ONLY_HASH.to_string());
        let d = ff.check(&checker, &[Mechanism::Local], "alice", &pw, only, LOCAL).await;
        assert_eq!(d, Decision { verdict: Verdict::NotFound, mechanism: None });
        let d = ff.check(&checker, &[Mechanism::Local], "alice", &pw, Some(hash("other")), LOCAL).await;
        assert_eq!(d.verdict, Verdict::Rejected("wrong password"));
        let d = ff.check(&checker, &[Mechanism::Local], "alice", &pw, Some(hash("pw")), LOCAL).await;
        assert_eq!(d, Decision { verdict: Verdict::Accepted, mechanism: Some(Mechanism::Local) });
    }
}
