//! The local mechanism: the Argon2id hash in our store, checked on the password threads.

use std::net::IpAddr;

use twofactor_protocol::Secret;

use super::Verdict;
use crate::password::PasswordChecker;

/// The password hash of a user who has no local password: one provisioned from the
/// directory, or switched to it. No PHC string starts with `!`, so it never verifies, and
/// the local mechanism treats such a user as one it does not know (the cascade moves on).
pub const DIRECTORY_ONLY_HASH: &str = "!directory";

pub fn is_directory_only(hash: &str) -> bool {
    hash.starts_with('!')
}

/// Accepted, Rejected (wrong password) or NotFound (no such user here, or one without a
/// local password). Either way one hash is computed, so timing does not tell them apart.
pub(super) async fn check(
    passwords: &PasswordChecker,
    password: &Secret<String>,
    stored: Option<String>,
    source: IpAddr,
) -> Verdict {
    let stored = stored.filter(|h| !is_directory_only(h));
    let known = stored.is_some();
    if passwords.verify(password.clone(), stored, source).await {
        Verdict::Accepted
    } else if known {
        Verdict::Rejected("wrong password")
    } else {
        Verdict::NotFound
    }
}
