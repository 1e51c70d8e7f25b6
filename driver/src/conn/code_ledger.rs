//! The process-wide ledger of second-factor codes this driver has already submitted.
//!
//! Pools and reconnecting applications replay whatever code they were configured with
//! (`TwoFactorCode=` in a pooled connection string, pyodbc `attrs_before`, unixODBC's
//! pool after `CPTimeout`). Every replay reaches the server as a failed attempt and,
//! after `max_failed_attempts`, locks the user. The driver therefore never sends a code
//! twice: a code it already submitted for the same server and user is refused locally
//! with 28000 (native [`NATIVE_CODE_ALREADY_USED`]), and the server never sees it.
//!
//! Only a keyed hash of (server, user, code) is kept: HMAC-SHA-256 under a key drawn at
//! random when the process first needs it, so the ledger holds nothing that could be
//! tried against the code space offline. Entries expire after [`REMEMBER_FOR`] (ten
//! 30-second TOTP periods, longer than any skew window or SMS code lifetime the server
//! accepts); at most [`MAX_ENTRIES`] are kept, the oldest going first.
//!
//! It is a process-wide singleton on purpose: the connections a pool opens may live in
//! different environment handles (pyodbc, node-odbc), and the replay must be caught
//! whichever handle sends it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::diag::{OdbcError, OdbcResult, SqlState};

/// How long a submitted code is remembered.
pub const REMEMBER_FOR: Duration = Duration::from_secs(10 * 30);
/// Most codes remembered at once (a pool opening connections in a loop cannot grow it).
pub const MAX_ENTRIES: usize = 4096;
/// Native code of "this code was already used by this process" (the driver's, not the
/// server's; no attempt was counted).
pub const NATIVE_CODE_ALREADY_USED: i32 = 1020;

type Digest = [u8; 32];

/// Submitted codes, by keyed hash, with the time they were submitted.
pub struct CodeLedger {
    key: hmac::Key,
    remember_for: Duration,
    capacity: usize,
    seen: HashMap<Digest, Instant>,
    /// Insertion order, for expiry and eviction.
    order: VecDeque<(Instant, Digest)>,
}

impl CodeLedger {
    pub fn new(remember_for: Duration, capacity: usize) -> OdbcResult<Self> {
        let mut secret = [0u8; 32];
        SystemRandom::new().fill(&mut secret).map_err(|_| {
            OdbcError::new(SqlState::GENERAL_ERROR, "no random numbers from the system for the code ledger")
        })?;
        Ok(CodeLedger {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            remember_for,
            capacity: capacity.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
        })
    }

    fn digest(&self, server: &str, user: &str, code: &str) -> Digest {
        let mut ctx = hmac::Context::with_key(&self.key);
        // Length-prefixed fields: ("ab", "c") and ("a", "bc") hash apart.
        for field in [server, user, code.trim()] {
            ctx.update(&(field.len() as u64).to_le_bytes());
            ctx.update(field.as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(at, digest)) = self.order.front() {
            if now.duration_since(at) < self.remember_for && self.order.len() <= self.capacity {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&digest) == Some(&at) {
                self.seen.remove(&digest);
            }
        }
    }

    /// Records that `code` is about to be sent to `server` for `user`. Fails with 28000
    /// when it was already sent within the memory of the ledger, whatever the answer was
    /// (an accepted code is spent; a rejected one would be rejected again, and counted).
    pub fn claim(&mut self, server: &str, user: &str, code: &str, now: Instant) -> OdbcResult<()> {
        self.expire(now);
        let digest = self.digest(server, user, code);
        if self.seen.contains_key(&digest) {
            return Err(already_used());
        }
        self.seen.insert(digest, now);
        self.order.push_back((now, digest));
        self.expire(now);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

pub fn already_used() -> OdbcError {
    OdbcError::new(
        SqlState::INVALID_AUTHORIZATION,
        "this two-factor code was already submitted by this process; a new code is needed \
         (the code was not sent, no failed attempt was counted)",
    )
    .with_native(NATIVE_CODE_ALREADY_USED)
}

/// [`CodeLedger::claim`] on the process-wide ledger.
pub fn claim(server: &str, user: &str, code: &str) -> OdbcResult<()> {
    static LEDGER: OnceLock<Option<Mutex<CodeLedger>>> = OnceLock::new();
    let ledger = LEDGER.get_or_init(|| CodeLedger::new(REMEMBER_FOR, MAX_ENTRIES).ok().map(Mutex::new));
    let Some(ledger) = ledger else {
        return Err(OdbcError::new(SqlState::GENERAL_ERROR, "the code ledger could not be created"));
    };
    ledger.lock().unwrap_or_else(|e| e.into_inner()).claim(server, user, code, Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> CodeLedger {
        CodeLedger::new(Duration::from_secs(300), 8).unwrap()
    }

    #[test]
    fn a_code_is_accepted_once_per_server_and_user() {
        let mut l = ledger();
        let now = Instant::now();
        l.claim("db:7443", "alice", "123456", now).unwrap();
        let e = l.claim("db:7443", "alice", "123456", now).unwrap_err();
        assert_eq!((e.state, e.native), (SqlState::INVALID_AUTHORIZATION, NATIVE_CODE_ALREADY_USED));
        assert!(e.message.contains("new code is needed"), "{}", e.message);
        // Surrounding blanks do not make a code new.
        assert!(l.claim("db:7443", "alice", " 123456 ", now).is_err());
    }

    #[test]
    fn the_same_code_for_another_user_or_server_is_a_different_entry() {
        let mut l = ledger();
        let now = Instant::now();
        l.claim("db:7443", "alice", "123456", now).unwrap();
        l.claim("db:7443", "bob", "123456", now).unwrap();
        l.claim("other:7443", "alice", "123456", now).unwrap();
        // Field boundaries matter: ("db:7443a", "lice") is not ("db:7443", "alice").
        l.claim("db:7443a", "lice", "123456", now).unwrap();
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn codes_are_forgotten_after_the_memory_of_the_ledger() {
        let mut l = ledger();
        let start = Instant::now();
        l.claim("s", "u", "111111", start).unwrap();
        assert!(l.claim("s", "u", "111111", start + Duration::from_secs(299)).is_err());
        l.claim("s", "u", "111111", start + Duration::from_secs(301)).unwrap();
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn the_ledger_never_holds_more_than_its_capacity() {
        let mut l = ledger();
        let now = Instant::now();
        for i in 0..100 {
            l.claim("s", "u", &format!("{i:06}"), now).unwrap();
            assert!(l.len() <= 8);
        }
        // The newest are still remembered.
        assert!(l.claim("s", "u", "000099", now).is_err());
    }

    #[test]
    fn the_ledger_keeps_no_code_in_clear_and_keys_differ_per_ledger() {
        let a = ledger();
        let b = ledger();
        let da = a.digest("s", "u", "123456");
        assert_ne!(da, b.digest("s", "u", "123456"));
        assert!(!da.windows(6).any(|w| w == b"123456"));
    }

    #[test]
    fn the_process_ledger_refuses_a_second_submission() {
        let user = format!("ledger-test-{}", std::process::id());
        claim("unit:1", &user, "654321").unwrap();
        assert_eq!(claim("unit:1", &user, "654321").unwrap_err().native, NATIVE_CODE_ALREADY_USED);
    }
}
