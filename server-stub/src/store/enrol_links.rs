//! One-time enrolment links as the store keeps them (docs/enrolment-links.md): a row per
//! link keyed by the SHA-256 of its token (the token itself is only in the URL handed to
//! the user, never stored), bound to one user, with its end, its use and its revocation.

/// A link to store at its issue.
#[derive(Debug, Clone)]
pub struct NewEnrolLink<'a> {
    /// [`crate::store::ticket_id_hash`]-style SHA-256 of the token in the URL.
    pub id_hash: &'a [u8],
    pub user: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
    /// A re-enrolment (lost phone): the user may have a key already; it is replaced only
    /// when the new one is confirmed.
    pub reset: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolLinkRecord {
    pub id_hash: Vec<u8>,
    pub user: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub reset: bool,
    /// When the enrolment it opened was confirmed (the link is spent then).
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Why a link is not usable now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolLinkState {
    Active,
    Used,
    Revoked,
    Expired,
}

impl EnrolLinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrolLinkState::Active => "active",
            EnrolLinkState::Used => "used",
            EnrolLinkState::Revoked => "revoked",
            EnrolLinkState::Expired => "expired",
        }
    }
}

impl EnrolLinkRecord {
    /// Use first (it is final), then revocation (the admin's act), then the end.
    pub fn state(&self, now: i64) -> EnrolLinkState {
        if self.used_at.is_some() {
            EnrolLinkState::Used
        } else if self.revoked_at.is_some() {
            EnrolLinkState::Revoked
        } else if self.expires_at <= now {
            EnrolLinkState::Expired
        } else {
            EnrolLinkState::Active
        }
    }

    /// The name `enrol-link list` shows, `revoke` takes and the audit log records.
    pub fn short_id(&self) -> String {
        super::short_id(&self.id_hash)
    }
}
