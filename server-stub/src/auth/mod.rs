//! The decisions of the login: does this user need a second factor, which one, is this
//! code accepted, what a failure costs. Blocking (it touches the store); the session
//! calls it on the blocking pool.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::clock::Clock;
use crate::config::Config;
use crate::contact;
use crate::crypto::SecretsKey;
use crate::notify::Delivery;
use crate::store::{
    Attempt, AttemptEnd, AttemptFinished, AttemptLimits, AttemptRequest, CodeRequest, Factor, IssueOutcome, Method,
    Reservation, StoreError, UserRecord, UserStore,
};
use crate::throttle::throttle_key;

mod delegated;
mod second_factor;
mod tickets;
pub use tickets::{IssueRefusal, IssuedTicket, TicketChecked, TICKET_EVENT, TICKET_METHOD};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    NotRequired,
    Totp,
    Sms,
    Email,
    /// Required but the active method has nothing enrolled: the login is refused.
    Unenrolled,
    /// The user's method is switched off server-wide (`[methods]`): the login is refused.
    MethodOff(Method),
    /// The site's hook (`[hook]`) is asked after the password (auth/delegated.rs).
    Delegated,
}

impl Requirement {
    pub fn method(self) -> Option<Method> {
        match self {
            Requirement::Totp => Some(Method::Totp),
            Requirement::Sms => Some(Method::Sms),
            Requirement::Email => Some(Method::Email),
            Requirement::Delegated => Some(Method::Delegated),
            Requirement::MethodOff(m) => Some(m),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Wrong, expired or malformed: the client is not told which.
    Rejected {
        failures: u32,
    },
    /// The code accepted last, sent again (a client whose link dropped after sending it):
    /// refused with the same answer as a wrong code, but not counted.
    Replayed,
    /// This attempt reached the limit, or the account was locked already.
    Locked {
        just_now: bool,
    },
    /// Not checked: the failures so far and the attempts in flight have used the user's
    /// or the address's budget.
    Busy,
    /// Not checked: too many failures from this address.
    AddressBlocked,
}

/// A verdict with what the audit needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub verdict: Verdict,
    /// `TOTP`, `SMS`, `EMAIL` or `BACKUP`: what was accepted, or the active method.
    pub method: &'static str,
    /// A TOTP drift learned by this code (steps).
    pub drift_learned: Option<i64>,
    /// Backup codes left after one was used.
    pub backup_left: Option<u32>,
    /// What a failure did to the counters.
    pub counted: AttemptFinished,
}

/// What the first factor's success does about an SMS or e-mail code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeIssue {
    /// A new code to send now; the hash lets the caller withdraw it if sending fails.
    Send { code: String, code_hash: Vec<u8>, delivery: Delivery, hint: String, expires_at: i64 },
    /// An earlier code is still valid; nothing is sent.
    Pending { hint: String, expires_at: i64 },
    /// Too many codes sent in the last hour.
    Limited { retry_at: i64 },
    /// Nowhere to send it (no carrier gateway for this number...).
    Undeliverable { reason: String },
}

pub const BACKUP_CODE_COUNT: usize = 10;
const BACKUP_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Ten new backup codes, each 10 base-32 characters (50 bits) from the OS random source,
/// shown as `ABCD-EFGH-JK`.
pub fn generate_backup_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..BACKUP_CODE_COUNT)
        .map(|_| {
            let raw: String = (0..10).map(|_| BACKUP_ALPHABET[rng.gen_range(0..32)] as char).collect();
            format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..])
        })
        .collect()
}

/// The canonical form of something typed as a backup code, if it can be one: dashes and
/// spaces dropped, upper case, and the digits base-32 lacks read as the letters they
/// resemble (0→O, 1→I, 8→B).
pub fn normalize_backup_code(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| match c.to_ascii_uppercase() {
            '0' => 'O',
            '1' => 'I',
            '8' => 'B',
            u => u,
        })
        .collect();
    (s.len() == 10 && s.bytes().all(|b| BACKUP_ALPHABET.contains(&b))).then_some(s)
}

/// Delay before a failure reply: none for the first failure in a row, then `base`,
/// doubling per failure, at most `max`.
pub fn backoff(failures: u32, base_ms: u64, max_ms: u64) -> Duration {
    if failures <= 1 || base_ms == 0 {
        return Duration::ZERO;
    }
    let shift = (failures - 2).min(30);
    Duration::from_millis(base_ms.saturating_mul(1u64 << shift).min(max_ms))
}

pub struct Authenticator {
    pub store: Arc<dyn UserStore>,
    pub clock: Arc<dyn Clock>,
    key: SecretsKey,
    config: Config,
    /// The delegated second factor's hook (`[hook]`), when one is configured.
    hook: Option<Arc<crate::hook::Hook>>,
}

impl Authenticator {
    pub fn new(config: &Config, store: Arc<dyn UserStore>, key: SecretsKey, clock: Arc<dyn Clock>) -> Self {
        Authenticator { store, clock, key, config: config.clone(), hook: None }
    }

    /// The hook DELEGATED users are checked by (`crate::hook::Hook::open`).
    pub fn with_hook(mut self, hook: Option<Arc<crate::hook::Hook>>) -> Self {
        self.hook = hook;
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The admin's switch in the store wins over the config file's default.
    pub fn server_two_factor(&self) -> Result<bool, StoreError> {
        Ok(self.store.two_factor_setting()?.unwrap_or(self.config.auth.two_factor))
    }

    pub fn method_enabled(&self, m: Method) -> bool {
        match m {
            Method::Totp => self.config.methods.totp,
            Method::Sms => self.config.methods.sms,
            Method::Email => self.config.methods.email,
            Method::None => true,
            Method::Delegated => self.hook.is_some(),
        }
    }

    pub fn requirement(&self, user: &UserRecord) -> Result<Requirement, StoreError> {
        let method = user.active_method();
        if !self.server_two_factor()? || !user.two_factor_required || method == Method::None {
            return Ok(Requirement::NotRequired);
        }
        if !self.method_enabled(method) {
            return Ok(Requirement::MethodOff(method));
        }
        if !user.method_enrolled() {
            return Ok(Requirement::Unenrolled);
        }
        Ok(match method {
            Method::Sms => Requirement::Sms,
            Method::Email => Requirement::Email,
            Method::Delegated => Requirement::Delegated,
            _ => Requirement::Totp,
        })
    }

    /// The budgets an attempt at `factor` is reserved under.
    pub fn limits(&self, factor: Factor) -> AttemptLimits {
        let a = &self.config.auth;
        let (max_failures, lockout_secs) = match factor {
            Factor::Password => (a.max_failed_passwords, a.password_lockout_secs),
            Factor::SecondFactor => (a.max_failed_attempts, a.lockout_secs),
        };
        AttemptLimits {
            max_failures,
            lockout_secs: lockout_secs as i64,
            address_max_failures: a.address_max_failures,
            address_window_secs: a.address_window_secs as i64,
            address_block_secs: a.address_block_secs as i64,
            // A password check ends by the login timeout (the session gives up then); the
            // margin covers the store calls around it.
            hold_secs: self.config.server.login_timeout_secs.saturating_add(60) as i64,
        }
    }

    /// Reserves an attempt at `factor` for `name` from `ip` (see
    /// [`UserStore::reserve_attempt`]); only a reserved attempt may be verified.
    pub fn reserve(&self, factor: Factor, name: &str, ip: IpAddr) -> Result<Reservation, StoreError> {
        let address = throttle_key(ip).to_string();
        let req = AttemptRequest { user: name, address: &address, factor, now: self.now() };
        self.store.reserve_attempt(&req, &self.limits(factor))
    }

    /// Ends a reserved attempt, counting it if it failed.
    pub fn finish(&self, attempt: &Attempt, end: AttemptEnd) -> Result<AttemptFinished, StoreError> {
        self.store.finish_attempt(attempt, end, self.now(), &self.limits(attempt.factor))
    }

    pub fn backoff(&self, failures: u32) -> Duration {
        backoff(failures, self.config.auth.backoff_base_ms, self.config.auth.backoff_max_ms)
    }

    /// The keyed hash of a one-time code, as stored.
    pub fn otp_hash(&self, name: &str, code: &str) -> Vec<u8> {
        self.key.code_hash("otp", name, code)
    }

    pub fn backup_hash(&self, name: &str, normalized: &str) -> Vec<u8> {
        self.key.code_hash("backup", name, normalized)
    }

    /// Replaces the user's backup codes; returns the new ones (shown once).
    pub fn new_backup_codes(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let codes = generate_backup_codes();
        let hashes: Vec<Vec<u8>> =
            codes.iter().map(|c| self.backup_hash(name, &normalize_backup_code(c).unwrap_or_default())).collect();
        self.store.set_backup_codes(name, &hashes)?;
        Ok(codes)
    }

    /// After the first factor of an SMS or e-mail user: a new code (stored as a keyed hash
    /// only) to send, or the still-valid earlier one, or the send limit.
    pub fn issue_code(&self, user: &UserRecord) -> Result<CodeIssue, StoreError> {
        let method = user.active_method();
        let now = self.now();
        let (destination, hint, delivery) = match method {
            Method::Email => {
                let Some(to) = user.email.clone() else {
                    return Ok(CodeIssue::Undeliverable { reason: "no e-mail address".into() });
                };
                let hint = format!("code sent by e-mail to {}", contact::mask_email(&to));
                (to.clone(), hint, Delivery::Email { to })
            }
            Method::Sms => {
                let Some(phone) = user.phone.clone() else {
                    return Ok(CodeIssue::Undeliverable { reason: "no phone number".into() });
                };
                let hint = format!("code sent by SMS to {}", contact::mask_phone(&phone));
                if self.config.sms.provider == "http" {
                    (phone.clone(), hint, Delivery::SmsHttp { to: phone })
                } else {
                    let carrier = match &user.carrier {
                        Some(c) => self.store.carrier(c)?,
                        None => None,
                    };
                    let Some(carrier) = carrier else {
                        return Ok(CodeIssue::Undeliverable {
                            reason: format!(
                                "no carrier gateway for this number (carrier {:?}); set one with `user phone --carrier` or use sms.provider = \"http\"",
                                user.carrier.as_deref().unwrap_or("none")
                            ),
                        });
                    };
                    let to = format!("{}@{}", contact::gateway_local_part(&phone), carrier.gateway);
                    (to.clone(), hint, Delivery::SmsGateway { to })
                }
            }
            _ => return Ok(CodeIssue::Undeliverable { reason: "the active method sends no code".into() }),
        };
        let digits = self.config.codes.digits;
        let code = format!("{:0width$}", rand::rngs::OsRng.gen_range(0..10u64.pow(digits)), width = digits as usize);
        let code_hash = self.otp_hash(&user.name, &code);
        let expires_at = now + self.config.code_lifetime_secs() as i64;
        let outcome = self.store.issue_code(
            &user.name,
            &CodeRequest {
                code_hash: &code_hash,
                method,
                destination: &destination,
                now,
                expires_at,
                max_tries: self.config.codes.max_tries,
                max_sends_per_hour: self.config.codes.max_sends_per_hour,
            },
        )?;
        Ok(match outcome {
            IssueOutcome::Issued => CodeIssue::Send { code, code_hash, delivery, hint, expires_at },
            IssueOutcome::StillPending { expires_at } => {
                CodeIssue::Pending { hint: hint.replacen("code sent", "code sent earlier", 1), expires_at }
            }
            IssueOutcome::Limited { retry_at } => CodeIssue::Limited { retry_at },
        })
    }

    /// Sending failed: the code must not stay valid.
    pub fn withdraw_code(&self, name: &str, code_hash: &[u8]) -> Result<(), StoreError> {
        self.store.cancel_code(name, code_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{SqliteUserStore, TotpEnrolment};
    use crate::totp::{Algorithm, TotpParams};

    const SEED: &[u8] = b"12345678901234567890";
    const T0: i64 = 1_700_000_010;

    impl Authenticator {
        fn verify_second_factor(&self, name: &str, code: &str) -> Result<Verdict, StoreError> {
            Ok(self.check_second_factor(name, code, "127.0.0.1".parse().unwrap())?.verdict)
        }
    }

    fn setup() -> (Authenticator, Arc<ManualClock>, TotpParams) {
        let bytes = SecretsKey::generate_bytes();
        let store = Arc::new(SqliteUserStore::open_in_memory().unwrap());
        store.create_user("alice", "$argon2id$fake").unwrap();
        let sealed_secret = SecretsKey::from_bytes(&bytes).seal("alice", SEED);
        store.set_totp("alice", &TotpEnrolment { sealed_secret, algorithm: "SHA1".into(), digits: 6 }).unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let config = Config::with_data_dir("/nowhere");
        let auth = Authenticator::new(&config, store, SecretsKey::from_bytes(&bytes), clock.clone());
        (auth, clock, TotpParams { algorithm: Algorithm::Sha1, digits: 6, period_secs: 30 })
    }

    #[test]
    fn backoff_doubles_from_the_second_failure_and_is_capped() {
        let ms = |n| backoff(n, 100, 1000).as_millis();
        assert_eq!([ms(0), ms(1), ms(2), ms(3), ms(4), ms(5), ms(40)], [0, 0, 100, 200, 400, 800, 1000]);
        assert_eq!(backoff(9, 0, 1000), Duration::ZERO);
    }

    #[test]
    fn backup_codes_are_fifty_random_bits_and_typing_variants_normalise() {
        let codes = generate_backup_codes();
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        for c in &codes {
            assert_eq!(normalize_backup_code(c).unwrap(), c.replace('-', ""));
        }
        assert_eq!(normalize_backup_code("abcd efgh-jk").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(normalize_backup_code("0OIB-1888-AA").as_deref(), Some("OOIBIBBBAA"));
        assert_eq!(normalize_backup_code("123456"), None);
        assert_eq!(normalize_backup_code("ABCD-EFGH-J9"), None);
    }

    #[test]
    fn a_right_code_is_accepted_once_and_its_retry_is_a_replay_not_a_failure() {
        let (auth, clock, p) = setup();
        let code = p.code_at_time(SEED, T0);
        assert_eq!(auth.verify_second_factor("alice", &code).unwrap(), Verdict::Accepted);
        for _ in 0..10 {
            assert_eq!(auth.verify_second_factor("alice", &code).unwrap(), Verdict::Replayed);
        }
        assert_eq!(auth.store.user("alice").unwrap().unwrap().failed_second_factor, 0);
        // Once its step is past the window, the old code is an ordinary wrong one.
        clock.advance(90);
        assert_eq!(auth.verify_second_factor("alice", &code).unwrap(), Verdict::Rejected { failures: 1 });
    }

    #[test]
    fn a_code_of_an_earlier_step_is_refused_after_a_later_one() {
        let (auth, _, p) = setup();
        let current = p.code_at_time(SEED, T0);
        let previous = p.code_at_time(SEED, T0 - 30);
        assert_eq!(auth.verify_second_factor("alice", &current).unwrap(), Verdict::Accepted);
        // Never accepted, so not a replay: a guess, counted.
        assert_eq!(auth.verify_second_factor("alice", &previous).unwrap(), Verdict::Rejected { failures: 1 });
    }

    #[test]
    fn an_expired_code_is_refused() {
        let (auth, clock, p) = setup();
        let code = p.code_at_time(SEED, T0);
        clock.advance(90);
        assert!(matches!(auth.verify_second_factor("alice", &code).unwrap(), Verdict::Rejected { .. }));
    }

    #[test]
    fn five_wrong_codes_lock_and_the_lock_runs_out() {
        let (auth, clock, p) = setup();
        for n in 1..5 {
            assert_eq!(auth.verify_second_factor("alice", "000000x").unwrap(), Verdict::Rejected { failures: n });
        }
        assert_eq!(auth.verify_second_factor("alice", "000000x").unwrap(), Verdict::Locked { just_now: true });
        // Locked: even the right code is refused, and nothing more is counted.
        let code = p.code_at_time(SEED, clock.now());
        assert_eq!(auth.verify_second_factor("alice", &code).unwrap(), Verdict::Locked { just_now: false });
        assert_eq!(auth.store.user("alice").unwrap().unwrap().failed_second_factor, 5);
        clock.advance(900);
        let code = p.code_at_time(SEED, clock.now());
        assert_eq!(auth.verify_second_factor("alice", &code).unwrap(), Verdict::Accepted);
    }

    #[test]
    fn the_requirement_follows_user_and_server_switches() {
        let (auth, _, _) = setup();
        let u = auth.store.user("alice").unwrap().unwrap();
        assert_eq!(auth.requirement(&u).unwrap(), Requirement::Totp);
        auth.store.set_two_factor_setting(false).unwrap();
        assert_eq!(auth.requirement(&u).unwrap(), Requirement::NotRequired);
        auth.store.set_two_factor_setting(true).unwrap();
        auth.store.set_two_factor_required("alice", false).unwrap();
        let u = auth.store.user("alice").unwrap().unwrap();
        assert_eq!(auth.requirement(&u).unwrap(), Requirement::NotRequired);
        auth.store.create_user("bob", "x").unwrap();
        let b = auth.store.user("bob").unwrap().unwrap();
        assert_eq!(auth.requirement(&b).unwrap(), Requirement::Unenrolled);
    }
}
