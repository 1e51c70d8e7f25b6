//! The user store: accounts, password hashes, sealed TOTP secrets, the replay ledger
//! (last accepted time step) and failure counters. Behind [`UserStore`]: SQLite in the
//! data directory by default, or PostgreSQL shared by several instances (`[store] url`),
//! without the session code knowing which.

pub const USERS_FILE: &str = "users.db";

pub use crate::first_factor::Mechanism;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("user `{0}` already exists")]
    AlreadyExists(String),
    #[error("no user `{0}`")]
    NoSuchUser(String),
    #[error("user store: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    /// `nonce || ciphertext`, see `crypto`.
    pub sealed_secret: Vec<u8>,
    pub algorithm: String,
    pub digits: u32,
}

/// The second-factor method a user has active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    Sms,
    Email,
    /// No second factor for this user (other enrolments are kept).
    None,
    /// The site's own hook decides (`[hook]`, server-stub/src/hook/): nothing is enrolled
    /// here, the hook knows the user's token.
    Delegated,
}

impl Method {
    /// As stored in `users.method` and shown by `user list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "TOTP",
            Method::Sms => "SMS",
            Method::Email => "EMAIL",
            Method::None => "NONE",
            Method::Delegated => "DELEGATED",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        match s.to_ascii_uppercase().replace(['-', '_'], "").as_str() {
            "TOTP" => Some(Method::Totp),
            "SMS" => Some(Method::Sms),
            "EMAIL" => Some(Method::Email),
            "NONE" => Some(Method::None),
            "DELEGATED" => Some(Method::Delegated),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub password_hash: String,
    pub two_factor_required: bool,
    /// `TOTP`, `SMS`, `EMAIL`, `NONE` or `DELEGATED`: the active method (see [`Method`]).
    pub method: String,
    pub totp: Option<TotpEnrolment>,
    pub last_totp_step: Option<i64>,
    /// Failed second-factor attempts in a row, and the second-factor lock.
    pub failed_second_factor: u32,
    pub locked_until: Option<i64>,
    /// Failed passwords in a row, and the password (first-factor) lock.
    pub failed_first_factor: u32,
    pub password_locked_until: Option<i64>,
    /// E.164, e.g. `+15551234567`.
    pub phone: Option<String>,
    pub carrier: Option<String>,
    pub email: Option<String>,
    /// Learned clock drift of the user's TOTP device, in steps.
    pub totp_drift: i64,
    /// The offset of the last accepted code, and how many accepts in a row landed there.
    pub drift_candidate: Option<i64>,
    pub drift_streak: u32,
    pub backup_codes_left: u32,
    /// The user's own first-factor mechanism (docs/ldap.md); None: the server's
    /// `auth.first_factor` list. Read with the rest of the row, so a login's first look
    /// at the user is one query.
    pub first_factor: Option<Mechanism>,
}

impl UserRecord {
    /// A user with only a name and a password hash, as `create_user` makes one.
    pub fn new(name: &str, password_hash: &str) -> Self {
        UserRecord {
            name: name.into(),
            password_hash: password_hash.into(),
            two_factor_required: true,
            method: "TOTP".into(),
            totp: None,
            last_totp_step: None,
            failed_second_factor: 0,
            locked_until: None,
            failed_first_factor: 0,
            password_locked_until: None,
            phone: None,
            carrier: None,
            email: None,
            totp_drift: 0,
            drift_candidate: None,
            drift_streak: 0,
            backup_codes_left: 0,
            first_factor: None,
        }
    }

    /// Locked at the second factor.
    pub fn is_locked(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
    /// Locked at the password.
    pub fn is_password_locked(&self, now: i64) -> bool {
        self.password_locked_until.is_some_and(|t| t > now)
    }
    pub fn active_method(&self) -> Method {
        Method::parse(&self.method).unwrap_or(Method::Totp)
    }
    /// Whether the active method has what it needs (a key, a number, an address).
    pub fn method_enrolled(&self) -> bool {
        match self.active_method() {
            Method::Totp => self.totp.is_some(),
            Method::Sms => self.phone.is_some(),
            Method::Email => self.email.is_some(),
            Method::None | Method::Delegated => true,
        }
    }
    pub fn status(&self, now: i64) -> &'static str {
        if self.is_locked(now) || self.is_password_locked(now) {
            "Locked"
        } else if self.two_factor_required && !self.method_enrolled() {
            "Unenrolled"
        } else {
            "Active"
        }
    }
}

/// What one failed attempt did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; this many failures in a row now.
    Counted(u32),
    /// This failure reached the limit; locked until the given time.
    LockedNow { until: i64 },
    /// The account was locked already; nothing counted.
    AlreadyLocked,
}

/// The drift state to store with an accepted TOTP step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftState {
    pub drift: i64,
    pub candidate: Option<i64>,
    pub streak: u32,
}

/// A one-time code to send, as the store keeps it: only its keyed hash.
#[derive(Debug, Clone)]
pub struct CodeRequest<'a> {
    pub code_hash: &'a [u8],
    pub method: Method,
    /// Where it goes (a number or an address); a change of destination issues a new code.
    pub destination: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub max_tries: u32,
    pub max_sends_per_hour: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    /// Stored and counted as a send; the caller sends it now.
    Issued,
    /// A code sent earlier is still valid (unused, unexpired, tries left): nothing new is
    /// sent, so a code obtained by an earlier login still works (codes set before connect).
    StillPending { expires_at: i64 },
    /// `max_sends_per_hour` reached; the next send is possible at `retry_at`.
    Limited { retry_at: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCode {
    pub method: String,
    pub destination: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub tries_left: u32,
}

/// What checking a one-time code (TOTP step, sent code, backup code) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeUse {
    /// Right and unused: used now.
    Accepted,
    /// Exactly the code accepted last, still within its window: the retry of a client
    /// whose link dropped after sending it. Refused, but it proves the factor, so it is no
    /// guess and is not counted.
    Replayed,
    /// Wrong, expired, or an older code: counted as a failed guess.
    Rejected,
}

/// The factor an attempt guesses; each has its own per-user counter and lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Password,
    SecondFactor,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Password => "password",
            Factor::SecondFactor => "second_factor",
        }
    }
}

/// The budgets an attempt is reserved under (from `[auth]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Failures in a row of this factor that lock it, and for how long.
    pub max_failures: u32,
    pub lockout_secs: i64,
    /// Failures (either factor, any user) from one address within the window that block
    /// it, and for how long.
    pub address_max_failures: u32,
    pub address_window_secs: i64,
    pub address_block_secs: i64,
    /// How long an unfinished reservation keeps its place (a server that stopped in the
    /// middle of an attempt), longer than any verify can take.
    pub hold_secs: i64,
}

/// One attempt to reserve: who, from where (the throttle's key for the source address),
/// which factor.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRequest<'a> {
    pub user: &'a str,
    pub address: &'a str,
    pub factor: Factor,
    pub now: i64,
}

/// A reserved attempt, to hand back to [`UserStore::finish_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub user: String,
    pub address: String,
    pub factor: Factor,
    /// False for a user name the store does not have (only the address is counted).
    pub known_user: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    Reserved(Attempt),
    /// Too many failures from this address; blocked until then.
    AddressBlocked {
        until: i64,
    },
    /// This factor of the user is locked until then.
    Locked {
        until: i64,
    },
    /// The remaining failure budget (of the user's factor or of the address) is held by
    /// attempts in flight; it may come back when they end.
    Busy,
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// Right, but the login goes on (a password before the second factor): released.
    Succeeded,
    /// Right, and the login is complete: released, and the user's counters and locks of
    /// both factors start afresh in the same step.
    LoggedIn,
    Failed,
    /// A replay of the code accepted last: refused, not counted.
    Replayed,
    /// Not verified after all (the login timed out while queued): not counted.
    Abandoned,
}

/// What a finished attempt did to the counters (all zero/None unless it failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttemptFinished {
    /// The user's factor after this failure (None: not a failure, or an unknown user).
    pub user: Option<FailureOutcome>,
    /// Failures from the address in its current window, this one included.
    pub address_failures: u32,
    /// This failure blocked the address.
    pub address_blocked_now: bool,
}

/// An SMS carrier's e-mail-to-SMS gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier {
    pub name: String,
    pub gateway: String,
}

/// InterSystems IRIS's predefined mobile phone service providers: the defaults of the
/// carrier list (editable; US carriers are closing these gateways, see `sms.provider`).
pub const DEFAULT_CARRIERS: &[(&str, &str)] = &[
    ("AT&T Wireless", "txt.att.net"),
    ("Alltel", "message.alltel.com"),
    ("Cellular One", "mobile.celloneusa.com"),
    ("Nextel", "messaging.nextel.com"),
    ("Sprint PCS", "messaging.sprintpcs.com"),
    ("T-Mobile", "tmomail.net"),
    ("Verizon", "vtext.com"),
];

pub trait UserStore: Send + Sync + 'static {
    fn create_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    fn remove_user(&self, name: &str) -> Result<(), StoreError>;
    fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    fn set_two_factor_required(&self, name: &str, on: bool) -> Result<(), StoreError>;
    /// Replaces the TOTP secret and makes TOTP the active method; codes of the old key
    /// stop working at once, and the learned drift is forgotten.
    fn set_totp(&self, name: &str, enrolment: &TotpEnrolment) -> Result<(), StoreError>;
    /// Records `step` as used iff it is later than every step used before, storing the drift
    /// state in the same conditional update, atomically, so a code is accepted once even by
    /// several servers sharing the store.
    fn accept_totp(&self, name: &str, step: i64, drift: DriftState) -> Result<CodeUse, StoreError>;
    /// Reserves one login attempt before its password or code is verified: in one atomic
    /// step, refuses it if the address is blocked or the factor locked, or if the failures
    /// so far plus the attempts already in flight have used the budget (of the user's
    /// factor, or of the address); otherwise records it as in flight. So concurrent
    /// attempts never get more verifies than sequential ones would.
    fn reserve_attempt(&self, req: &AttemptRequest<'_>, limits: &AttemptLimits) -> Result<Reservation, StoreError>;
    /// Ends a reserved attempt: a failure is counted against the user's factor (locking it
    /// at its limit) and the address (blocking it at its limit); a completed login also
    /// resets the user's counters; anything else only releases the reservation.
    fn finish_attempt(
        &self,
        attempt: &Attempt,
        end: AttemptEnd,
        now: i64,
        limits: &AttemptLimits,
    ) -> Result<AttemptFinished, StoreError>;
    /// Lifts both locks and resets both counters.
    fn unlock(&self, name: &str) -> Result<(), StoreError>;
    /// The server-wide two-factor switch, when an admin has set one.
    fn two_factor_setting(&self) -> Result<Option<bool>, StoreError>;
    fn set_two_factor_setting(&self, on: bool) -> Result<(), StoreError>;

    fn set_method(&self, name: &str, method: Method) -> Result<(), StoreError>;
    /// Sets (or with `None` removes) the phone number and carrier.
    fn set_phone(&self, name: &str, phone: Option<&str>, carrier: Option<&str>) -> Result<(), StoreError>;
    fn set_email(&self, name: &str, email: Option<&str>) -> Result<(), StoreError>;

    /// Stores a new one-time code unless one is still pending or the send limit is reached.
    fn issue_code(&self, name: &str, req: &CodeRequest<'_>) -> Result<IssueOutcome, StoreError>;
    /// Sending failed: the code is deleted and its send is not counted.
    fn cancel_code(&self, name: &str, code_hash: &[u8]) -> Result<(), StoreError>;
    /// Checks a submitted code against the pending one, in one atomic step: accepted iff it
    /// is unexpired, has tries left and has this hash (then it is marked used: single
    /// use); a replay iff it is the code already accepted and still within its lifetime;
    /// otherwise one try is spent (the last one voids the code).
    fn use_code(&self, name: &str, code_hash: &[u8], now: i64) -> Result<CodeUse, StoreError>;
    fn pending_code(&self, name: &str, now: i64) -> Result<Option<PendingCode>, StoreError>;

    /// Replaces the user's backup codes with these hashes.
    fn set_backup_codes(&self, name: &str, hashes: &[Vec<u8>]) -> Result<(), StoreError>;
    /// Accepted iff the user has this backup code unused (it is marked used then); a replay
    /// iff it was used after `replay_since`.
    fn use_backup_code(&self, name: &str, code_hash: &[u8], now: i64, replay_since: i64)
        -> Result<CodeUse, StoreError>;
    fn backup_code_hashes(&self, name: &str) -> Result<Vec<Vec<u8>>, StoreError>;

    fn carriers(&self) -> Result<Vec<Carrier>, StoreError>;
    fn carrier(&self, name: &str) -> Result<Option<Carrier>, StoreError>;
    /// Adds (`create`) or edits (not `create`) a carrier.
    fn put_carrier(&self, carrier: &Carrier, create: bool) -> Result<(), StoreError>;
    fn remove_carrier(&self, name: &str) -> Result<(), StoreError>;

    /// Writes a whole user (export/import); `replace` overwrites an existing one.
    fn import_user(&self, user: &UserRecord, backup_hashes: &[Vec<u8>], replace: bool) -> Result<(), StoreError>;
    /// A cheap round trip to the store, for the readiness check: Ok when logins can be
    /// served now.
    fn check_health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    // Two-factor tickets (store/tickets.rs, docs/tickets.md). `set_totp`, `set_password`,
    // `remove_user` and `import_user` delete all of the user's tickets themselves.
    /// The user's own policy (`Default` when none is set or the user does not exist).
    fn ticket_policy(&self, name: &str) -> Result<TicketPolicy, StoreError>;
    /// NoSuchUser for a user the store does not have.
    fn set_ticket_policy(&self, name: &str, policy: TicketPolicy) -> Result<(), StoreError>;
    /// Stores a ticket, then revokes the user's oldest usable ones beyond `max_per_user`
    /// (returns how many) and forgets those past their hard end, in one transaction.
    fn issue_ticket(&self, ticket: &NewTicket<'_>, max_per_user: u32) -> Result<u32, StoreError>;
    /// The ticket with this identifier hash, in whatever state.
    fn ticket(&self, id_hash: &[u8]) -> Result<Option<TicketRecord>, StoreError>;
    /// One login's use, in one atomic statement: iff the ticket is `user`'s, not revoked,
    /// before its hard end and its idle end, its `last_used_at` becomes `now` and the
    /// record (as updated) is returned; otherwise None and nothing changes.
    fn use_ticket(&self, id_hash: &[u8], user: &str, now: i64) -> Result<Option<TicketRecord>, StoreError>;
    /// The user's tickets, oldest first, revoked and expired ones included.
    fn tickets(&self, name: &str) -> Result<Vec<TicketRecord>, StoreError>;
    /// Revokes one of the user's tickets; false if it has none with this hash or it was
    /// revoked already.
    fn revoke_ticket(&self, name: &str, id_hash: &[u8], now: i64) -> Result<bool, StoreError>;
    /// Revokes every ticket of the user not revoked yet; returns how many.
    fn revoke_tickets(&self, name: &str, now: i64) -> Result<u32, StoreError>;

    // Service accounts (docs/service-accounts.md): a user row plus a `service_accounts` row.
    /// Creates the user (two-factor off, method NONE, this password hash, which nobody
    /// knows) and its service-account row in one transaction.
    fn create_service_account(&self, account: &ServiceAccount, password_hash: &str) -> Result<(), StoreError>;
    /// The service account of that name; None for an ordinary user or no user.
    fn service_account(&self, name: &str) -> Result<Option<ServiceAccount>, StoreError>;
    fn service_accounts(&self) -> Result<Vec<ServiceAccount>, StoreError>;
    /// Replaces the credential, networks, backend and role of an existing service account.
    fn update_service_account(&self, account: &ServiceAccount) -> Result<(), StoreError>;

    // One-time enrolment links (store/enrol_links.rs, docs/enrolment-links.md).
    /// Stores a link; NoSuchUser for a user the store does not have.
    fn issue_enrol_link(&self, link: &NewEnrolLink<'_>) -> Result<(), StoreError>;
    /// The link with this token hash, in whatever state.
    fn enrol_link(&self, id_hash: &[u8]) -> Result<Option<EnrolLinkRecord>, StoreError>;
    /// Spends the link, in one atomic statement: iff it is unused, unrevoked and before its
    /// end, `used_at` becomes `now` and the record (as updated) is returned; otherwise None.
    fn spend_enrol_link(&self, id_hash: &[u8], now: i64) -> Result<Option<EnrolLinkRecord>, StoreError>;
    /// Every link (of one user, or of all), oldest first, spent and revoked ones included.
    fn enrol_links(&self, name: Option<&str>) -> Result<Vec<EnrolLinkRecord>, StoreError>;
    /// Revokes a link not used yet; false if there is none with this hash or it was used
    /// or revoked already.
    fn revoke_enrol_link(&self, id_hash: &[u8], now: i64) -> Result<bool, StoreError>;
    // The delegated second factor's used-code ledger (docs/delegated-second-factor.md):
    // keyed hashes of the codes the hook accepted.
    /// Whether the user had this code accepted after `since` (a replay, the hook not asked).
    fn delegated_code_used(&self, name: &str, code_hash: &[u8], since: i64) -> Result<bool, StoreError>;
    /// Records a code the hook accepted, in one atomic step: Accepted if it was not
    /// accepted after `since`, else Replayed (a concurrent login with the same code took
    /// it); entries of the user from before `since` are forgotten.
    fn record_delegated_code(&self, name: &str, code_hash: &[u8], now: i64, since: i64) -> Result<CodeUse, StoreError>;

    // The user's own first-factor mechanism (docs/ldap.md), replacing the server's
    // `auth.first_factor` list for that user.
    /// None: the server's list (also for a user the store does not have). It is
    /// `UserRecord::first_factor`; a login reads it there, with the rest of the user.
    fn first_factor(&self, name: &str) -> Result<Option<Mechanism>, StoreError> {
        Ok(self.user(name)?.and_then(|u| u.first_factor))
    }
    /// Sets (None: clears) it; NoSuchUser for a user the store does not have.
    fn set_first_factor(&self, name: &str, mechanism: Option<Mechanism>) -> Result<(), StoreError>;
}

#[cfg(test)]
mod conformance;
mod open;
pub mod postgres;
mod service_account;
pub use service_account::{
    networks_to_text, parse_networks, AllowedBackend, ServiceAccount, ServiceKind, CREDENTIAL_LEN,
};
mod enrol_links;
mod sqlite;
mod tickets;
pub use enrol_links::{EnrolLinkRecord, EnrolLinkState, NewEnrolLink};
pub use open::{open, open_for_server};
pub use postgres::{PgStoreSettings, PostgresUserStore, SCHEMA_VERSION};
pub use sqlite::SqliteUserStore;
pub use tickets::{short_id, ticket_id_hash, NewTicket, TicketPolicy, TicketRecord, TicketState};
