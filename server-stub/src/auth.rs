//! The decisions of the login: does this user need a second factor, and is this code
//! accepted. Blocking (it touches the store); the session calls it on the blocking pool.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::SecretsKey;
use crate::store::{FailureOutcome, StoreError, UserRecord, UserStore};
use crate::totp::{Algorithm, TotpParams};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    NotRequired,
    Totp,
    /// Required but no secret enrolled: the login is refused.
    Unenrolled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Wrong, replayed, expired or malformed: the client is not told which.
    Rejected {
        failures: u32,
    },
    /// This attempt reached the limit, or the account was locked already.
    Locked {
        just_now: bool,
    },
}

pub struct Authenticator {
    pub store: Arc<dyn UserStore>,
    pub clock: Arc<dyn Clock>,
    key: SecretsKey,
    period_secs: u64,
    skew_steps: u32,
    max_failed: u32,
    lockout_secs: i64,
    server_two_factor: bool,
}

impl Authenticator {
    pub fn new(
        config: &Config,
        store: Arc<dyn UserStore>,
        key: SecretsKey,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Authenticator {
            store,
            clock,
            key,
            period_secs: config.totp.period_secs,
            skew_steps: config.totp.skew_steps,
            max_failed: config.auth.max_failed_attempts,
            lockout_secs: config.auth.lockout_secs as i64,
            server_two_factor: config.auth.two_factor,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The admin's switch in the store wins over the config file's default.
    pub fn server_two_factor(&self) -> Result<bool, StoreError> {
        Ok(self
            .store
            .two_factor_setting()?
            .unwrap_or(self.server_two_factor))
    }

    pub fn requirement(&self, user: &UserRecord) -> Result<Requirement, StoreError> {
        if !self.server_two_factor()? || !user.two_factor_required {
            return Ok(Requirement::NotRequired);
        }
        Ok(if user.totp.is_some() {
            Requirement::Totp
        } else {
            Requirement::Unenrolled
        })
    }

    pub fn verify_second_factor(&self, name: &str, code: &str) -> Result<Verdict, StoreError> {
        let now = self.clock.now();
        let Some(user) = self.store.user(name)? else {
            return Err(StoreError::NoSuchUser(name.to_owned()));
        };
        if user.is_locked(now) {
            return Ok(Verdict::Locked { just_now: false });
        }
        let step = user.totp.as_ref().and_then(|t| {
            let secret = match self.key.open(name, &t.sealed_secret) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("user `{name}`: {e}");
                    return None;
                }
            };
            let params = TotpParams {
                algorithm: t.algorithm.parse().unwrap_or(Algorithm::Sha1),
                digits: t.digits,
                period_secs: self.period_secs,
            };
            params.matching_step(secret.expose(), code.trim(), now, self.skew_steps)
        });
        if let Some(step) = step {
            if self.store.accept_totp_step(name, step)? {
                return Ok(Verdict::Accepted);
            }
        }
        Ok(
            match self
                .store
                .record_failure(name, now, self.max_failed, self.lockout_secs)?
            {
                FailureOutcome::Counted(failures) => Verdict::Rejected { failures },
                FailureOutcome::LockedNow { .. } => Verdict::Locked { just_now: true },
                FailureOutcome::AlreadyLocked => Verdict::Locked { just_now: false },
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{SqliteUserStore, TotpEnrolment};

    const SEED: &[u8] = b"12345678901234567890";
    const T0: i64 = 1_700_000_010;

    fn setup() -> (Authenticator, Arc<ManualClock>, TotpParams) {
        let bytes = SecretsKey::generate_bytes();
        let store = Arc::new(SqliteUserStore::open_in_memory().unwrap());
        store.create_user("alice", "$argon2id$fake").unwrap();
        let sealed_secret = SecretsKey::from_bytes(&bytes).seal("alice", SEED);
        store
            .set_totp(
                "alice",
                &TotpEnrolment {
                    sealed_secret,
                    algorithm: "SHA1".into(),
                    digits: 6,
                },
            )
            .unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let config = Config::with_data_dir("/nowhere");
        let auth = Authenticator::new(
            &config,
            store,
            SecretsKey::from_bytes(&bytes),
            clock.clone(),
        );
        (
            auth,
            clock,
            TotpParams {
                algorithm: Algorithm::Sha1,
                digits: 6,
                period_secs: 30,
            },
        )
    }

    #[test]
    fn a_right_code_is_accepted_once() {
        let (auth, _, p) = setup();
        let code = p.code_at_time(SEED, T0);
        assert_eq!(
            auth.verify_second_factor("alice", &code).unwrap(),
            Verdict::Accepted
        );
        assert!(matches!(
            auth.verify_second_factor("alice", &code).unwrap(),
            Verdict::Rejected { .. }
        ));
    }

    #[test]
    fn a_code_of_an_earlier_step_is_refused_after_a_later_one() {
        let (auth, _, p) = setup();
        let current = p.code_at_time(SEED, T0);
        let previous = p.code_at_time(SEED, T0 - 30);
        assert_eq!(
            auth.verify_second_factor("alice", &current).unwrap(),
            Verdict::Accepted
        );
        assert!(matches!(
            auth.verify_second_factor("alice", &previous).unwrap(),
            Verdict::Rejected { .. }
        ));
    }

    #[test]
    fn an_expired_code_is_refused() {
        let (auth, clock, p) = setup();
        let code = p.code_at_time(SEED, T0);
        clock.advance(90);
        assert!(matches!(
            auth.verify_second_factor("alice", &code).unwrap(),
            Verdict::Rejected { .. }
        ));
    }

    #[test]
    fn five_wrong_codes_lock_and_the_lock_runs_out() {
        let (auth, clock, p) = setup();
        for n in 1..5 {
            assert_eq!(
                auth.verify_second_factor("alice", "000000x").unwrap(),
                Verdict::Rejected { failures: n }
            );
        }
        assert_eq!(
            auth.verify_second_factor("alice", "000000x").unwrap(),
            Verdict::Locked { just_now: true }
        );
        // Locked: even the right code is refused, and nothing more is counted.
        let code = p.code_at_time(SEED, clock.now());
        assert_eq!(
            auth.verify_second_factor("alice", &code).unwrap(),
            Verdict::Locked { just_now: false }
        );
        assert_eq!(
            auth.store
                .user("alice")
                .unwrap()
                .unwrap()
                .failed_second_factor,
            5
        );
        clock.advance(900);
        let code = p.code_at_time(SEED, clock.now());
        assert_eq!(
            auth.verify_second_factor("alice", &code).unwrap(),
            Verdict::Accepted
        );
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
