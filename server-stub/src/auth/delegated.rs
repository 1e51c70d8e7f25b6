//! The delegated second factor's decisions: `init` after the password, and a code checked
//! by the hook under our rules. The used-code ledger is asked first, so a code the hook
//! accepted once is refused as a replay within `hook.replay_window_secs` whatever the hook
//! would say; a code the hook accepts is then recorded in one atomic step, so two logins
//! racing with one code get one acceptance. A hook that fails or times out is a rejection
//! (counted, fail closed), with the reason handed back for the audit and the client.

use super::Authenticator;
use crate::hook::{CheckAnswer, HookError, InitAnswer};
use crate::store::{CodeUse, StoreError};

/// Longer than any code a token shows; a longer one is not sent to the hook.
const MAX_CODE_CHARS: usize = 64;

impl Authenticator {
    /// initMFA for `user` logging in from `peer` on session `session_id`.
    pub fn delegated_init(&self, user: &str, peer: &str, session_id: u64) -> Result<InitAnswer, HookError> {
        match &self.hook {
            Some(hook) => hook.init(user, peer, session_id),
            None => Err(HookError::Failed("no [hook] is configured".into())),
        }
    }

    /// checkMFA, wrapped in the ledger. `failure` gets the hook's error, when it had one.
    pub(super) fn check_delegated_code(
        &self,
        name: &str,
        code: &str,
        session_id: u64,
        failure: &mut Option<HookError>,
    ) -> Result<CodeUse, StoreError> {
        let Some(hook) = &self.hook else {
            *failure = Some(HookError::Failed("no [hook] is configured".into()));
            return Ok(CodeUse::Rejected);
        };
        if code.is_empty() || code.chars().count() > MAX_CODE_CHARS || code.chars().any(char::is_control) {
            return Ok(CodeUse::Rejected);
        }
        let since = self.now() - hook.replay_window_secs as i64;
        let hash = self.key.code_hash("delegated", name, code);
        if self.store.delegated_code_used(name, &hash, since)? {
            return Ok(CodeUse::Replayed);
        }
        match hook.check(name, session_id, code) {
            Ok(CheckAnswer::Accepted) => {
                // The window is counted from the acceptance; `since` stays as asked, so a
                // use recorded meanwhile by a concurrent login is seen as that replay.
                self.store.record_delegated_code(name, &hash, self.now(), since)
            }
            Ok(CheckAnswer::Rejected) => Ok(CodeUse::Rejected),
            Err(e) => {
                *failure = Some(e);
                Ok(CodeUse::Rejected)
            }
        }
    }
}
