//! The second factor: a code is reserved, checked against the active method (TOTP step,
//! sent code) and then the backup codes, and the reservation ended with what was found.

use std::net::IpAddr;

use super::{normalize_backup_code, Authenticator, Checked, Verdict};
use crate::hook::HookError;
use crate::store::{
    AttemptEnd, AttemptFinished, CodeUse, DriftState, Factor, FailureOutcome, Method, Reservation, StoreError,
    UserRecord,
};
use crate::totp::{Algorithm, TotpParams};

impl Authenticator {
    /// Checks a code from `ip`: reserved first (so concurrent codes never get more checks
    /// than sequential ones), then against the active method, then against the backup
    /// codes. A failure counts against the user's second factor (never the password) and
    /// the address; a replay of the code accepted last counts against neither.
    pub fn check_second_factor(&self, name: &str, code: &str, ip: IpAddr) -> Result<Checked, StoreError> {
        Ok(self.check_second_factor_on(name, code, ip, 0)?.0)
    }

    /// As [`Self::check_second_factor`], on session `session_id` (a DELEGATED user's hook
    /// is told it); also returns the hook's error when it had one (the check then counted
    /// as a rejection).
    pub fn check_second_factor_on(
        &self,
        name: &str,
        code: &str,
        ip: IpAddr,
        session_id: u64,
    ) -> Result<(Checked, Option<HookError>), StoreError> {
        let mut failure = None;
        let checked = self.counted_second_factor(name, ip, || self.check_code(name, code, session_id, &mut failure))?;
        Ok((checked, failure))
    }

    /// The attempt machinery every second-factor proof goes through (a code, a ticket):
    /// an attempt is reserved (refused while locked, blocked or over budget), `check`
    /// decides, and the reservation ends with what it found: a completed login resets the
    /// counters, a rejection is counted against the user's second factor and the address
    /// (locking or blocking at their limits), a replay is not counted.
    pub(super) fn counted_second_factor(
        &self,
        name: &str,
        ip: IpAddr,
        check: impl FnOnce() -> Result<(CodeUse, Checked), StoreError>,
    ) -> Result<Checked, StoreError> {
        let attempt = match self.reserve(Factor::SecondFactor, name, ip)? {
            Reservation::Reserved(a) => a,
            refused => {
                let verdict = match refused {
                    Reservation::Locked { .. } => Verdict::Locked { just_now: false },
                    Reservation::AddressBlocked { .. } => Verdict::AddressBlocked,
                    _ => Verdict::Busy,
                };
                let method = self.store.user(name)?.map_or("NONE", |u| u.active_method().as_str());
                return Ok(Checked {
                    verdict,
                    method,
                    drift_learned: None,
                    backup_left: None,
                    counted: AttemptFinished::default(),
                });
            }
        };
        let (used, mut checked) = match check() {
            Ok(found) => found,
            Err(e) => {
                // Nothing was decided; the reservation gives its place back.
                if let Err(again) = self.finish(&attempt, AttemptEnd::Abandoned) {
                    log::error!("user `{name}`: could not end a login attempt: {again}");
                }
                return Err(e);
            }
        };
        let end = match used {
            CodeUse::Accepted => AttemptEnd::LoggedIn,
            CodeUse::Replayed => AttemptEnd::Replayed,
            CodeUse::Rejected => AttemptEnd::Failed,
        };
        checked.counted = self.finish(&attempt, end)?;
        checked.verdict = match used {
            CodeUse::Accepted => Verdict::Accepted,
            CodeUse::Replayed => Verdict::Replayed,
            CodeUse::Rejected => match checked.counted.user {
                Some(FailureOutcome::Counted(failures)) => Verdict::Rejected { failures },
                Some(FailureOutcome::LockedNow { .. }) => Verdict::Locked { just_now: true },
                Some(FailureOutcome::AlreadyLocked) => Verdict::Locked { just_now: false },
                None => return Err(StoreError::NoSuchUser(name.to_owned())),
            },
        };
        Ok(checked)
    }

    /// What `code` is for the user: checked against the active method, then, if that
    /// refuses it, against the backup codes. A wrong SMS/e-mail code spends a try of the
    /// pending code.
    fn check_code(
        &self,
        name: &str,
        code: &str,
        session_id: u64,
        failure: &mut Option<HookError>,
    ) -> Result<(CodeUse, Checked), StoreError> {
        let now = self.now();
        let Some(user) = self.store.user(name)? else {
            return Err(StoreError::NoSuchUser(name.to_owned()));
        };
        let method = user.active_method();
        let mut checked = Checked {
            verdict: Verdict::Accepted,
            method: method.as_str(),
            drift_learned: None,
            backup_left: None,
            counted: AttemptFinished::default(),
        };
        let code = code.trim();
        // A backup code is ours: it is tried before the hook, so the hook never sees one.
        if method == Method::Delegated {
            let backup = self.check_backup_code(&user, code, now, &mut checked)?;
            if backup != CodeUse::Rejected {
                return Ok((backup, checked));
            }
            return Ok((self.check_delegated_code(name, code, session_id, failure)?, checked));
        }
        let by_method = match method {
            Method::Totp => match self.totp_step(&user, code, now) {
                Some((step, drift, learned)) => {
                    let used = self.store.accept_totp(name, step, drift)?;
                    if used == CodeUse::Accepted {
                        checked.drift_learned = learned;
                    }
                    used
                }
                None => CodeUse::Rejected,
            },
            Method::Sms | Method::Email => self.store.use_code(name, &self.otp_hash(name, code), now)?,
            Method::None | Method::Delegated => CodeUse::Rejected,
        };
        if by_method != CodeUse::Rejected {
            return Ok((by_method, checked));
        }
        let backup = self.check_backup_code(&user, code, now, &mut checked)?;
        Ok((backup, checked))
    }

    /// `code` against the user's unused backup codes.
    fn check_backup_code(
        &self,
        user: &UserRecord,
        code: &str,
        now: i64,
        checked: &mut Checked,
    ) -> Result<CodeUse, StoreError> {
        let name = user.name.as_str();
        let Some(normalized) = normalize_backup_code(code) else {
            return Ok(CodeUse::Rejected);
        };
        // A backup code used within a code's lifetime is the retry of that login.
        let replay_since = now - self.config.code_lifetime_secs() as i64;
        let backup = self.store.use_backup_code(name, &self.backup_hash(name, &normalized), now, replay_since)?;
        if backup != CodeUse::Rejected {
            checked.method = "BACKUP";
        }
        if backup == CodeUse::Accepted {
            checked.backup_left = Some(user.backup_codes_left.saturating_sub(1));
        }
        Ok(backup)
    }

    /// The matching step within the window, and the drift state to store with it. The
    /// window spans ±skew around the server's step and around the learned drift, so a
    /// device whose clock is put right is not shut out; drift stays within
    /// ±max_drift_steps.
    fn totp_step(&self, user: &UserRecord, code: &str, now: i64) -> Option<(i64, DriftState, Option<i64>)> {
        let t = user.totp.as_ref()?;
        let secret = match self.key.open(&user.name, &t.sealed_secret) {
            Ok(s) => s,
            Err(e) => {
                log::error!("user `{}`: {e}", user.name);
                return None;
            }
        };
        let params = TotpParams {
            algorithm: t.algorithm.parse().unwrap_or(Algorithm::Sha1),
            digits: t.digits,
            period_secs: self.config.totp.period_secs,
        };
        let max = self.config.totp.max_drift_steps as i64;
        let skew = self.config.totp.skew_steps as i64;
        let drift = user.totp_drift.clamp(-max, max);
        let current = params.step_at(now);
        let lo = current + drift.min(0) - skew;
        let hi = current + drift.max(0) + skew;
        let step = params.matching_step_in(secret.expose(), code, lo, hi)?;
        let offset = step - current;
        let streak = if user.drift_candidate == Some(offset) { user.drift_streak.saturating_add(1) } else { 1 };
        let learn = self.config.totp.drift_learn_accepts;
        let target = offset.clamp(-max, max);
        let learned = (learn > 0 && streak >= learn && target != drift).then_some(target);
        Some((step, DriftState { drift: learned.unwrap_or(drift), candidate: Some(offset), streak }, learned))
    }
}
