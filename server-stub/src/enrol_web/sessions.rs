//! Enrolments in progress, in this instance's memory only: the pending secret never
//! reaches the store until it is confirmed, so an abandoned enrolment leaves nothing
//! behind and the old key working. A browser finds its enrolment by a cookie whose value
//! is a random id; the map is keyed by the id's SHA-256, so a lookup's timing says
//! nothing about the ids held. Each enrolment carries its own CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypto::SecretBytes;
use crate::totp::Algorithm;

/// Where an enrolment is.
#[derive(Clone)]
pub(super) enum Stage {
    /// Waiting for the user's password.
    Password,
    /// The new key is shown; waiting for its first code.
    Confirm { secret: SecretBytes, algorithm: Algorithm, digits: u32 },
    /// Confirmed; the backup codes may be downloaded once (None after that).
    Done { codes: Option<Vec<String>> },
}

#[derive(Clone)]
pub(super) struct Enrolment {
    /// The SHA-256 of the link's token: an enrolment serves its own link only.
    pub link_hash: Vec<u8>,
    pub user: String,
    pub short_id: String,
    pub csrf: String,
    pub stage: Stage,
    expires: Instant,
}

pub(super) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Enrolment>>,
    max: usize,
    life: Duration,
}

/// 256 random bits, URL-safe.
pub(super) fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    data_encoding::BASE64URL_NOPAD.encode(&raw)
}

fn key(session_id: &str) -> [u8; 32] {
    Sha256::digest(session_id.as_bytes()).into()
}

impl Sessions {
    pub fn new(max: usize, life: Duration) -> Self {
        Sessions { map: Mutex::new(HashMap::new()), max, life }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Enrolment>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new enrolment for this link; it replaces any other of the same link (one browser
    /// at a time per link). Returns the session id for the cookie, or None when
    /// `max` enrolments are in progress.
    pub fn start(&self, link_hash: &[u8], user: &str, short_id: &str) -> Option<(String, Enrolment)> {
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, e| e.expires > now && e.link_hash != link_hash);
        if map.len() >= self.max {
            return None;
        }
        let id = random_token();
        let e = Enrolment {
            link_hash: link_hash.to_vec(),
            user: user.to_owned(),
            short_id: short_id.to_owned(),
            csrf: random_token(),
            stage: Stage::Password,
            expires: now + self.life,
        };
        map.insert(key(&id), e.clone());
        Some((id, e))
    }

    /// The enrolment of this cookie for this link, if it is still running and `csrf`
    /// (when given) is its token, compared in constant time.
    pub fn get(&self, session_id: &str, link_hash: &[u8], csrf: Option<&str>) -> Option<Enrolment> {
        let map = self.lock();
        let e = map.get(&key(session_id))?;
        if e.expires <= Instant::now() || !bool::from(e.link_hash.as_slice().ct_eq(link_hash)) {
            return None;
        }
        if let Some(given) = csrf {
            if !bool::from(given.as_bytes().ct_eq(e.csrf.as_bytes())) {
                return None;
            }
        }
        Some(e.clone())
    }

    /// Moves the enrolment on, if it still exists.
    pub fn set_stage(&self, session_id: &str, stage: Stage) {
        if let Some(e) = self.lock().get_mut(&key(session_id)) {
            e.stage = stage;
        }
    }

    /// Takes the backup codes out (the download is served once).
    pub fn take_codes(&self, session_id: &str, link_hash: &[u8]) -> Option<(Enrolment, Vec<String>)> {
        let mut map = self.lock();
        let e = map.get_mut(&key(session_id))?;
        if e.expires <= Instant::now() || e.link_hash != link_hash {
            return None;
        }
        match &mut e.stage {
            Stage::Done { codes } => {
                let codes = codes.take()?;
                Some((e.clone(), codes))
            }
            _ => None,
        }
    }

    pub fn end(&self, session_id: &str) {
        self.lock().remove(&key(session_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrolment_is_found_by_its_cookie_link_and_csrf_token_only() {
        let s = Sessions::new(10, Duration::from_secs(60));
        let (id, e) = s.start(b"link", "alice", "abcd").unwrap();
        assert!(s.get(&id, b"link", Some(&e.csrf)).is_some());
        assert!(s.get(&id, b"link", None).is_some());
        assert!(s.get(&id, b"other", Some(&e.csrf)).is_none(), "bound to its link");
        assert!(s.get(&id, b"link", Some("forged")).is_none(), "a wrong CSRF token");
        assert!(s.get("forged", b"link", Some(&e.csrf)).is_none());
        let (id2, _) = s.start(b"link", "alice", "abcd").unwrap();
        assert!(s.get(&id, b"link", None).is_none(), "a new start of the same link replaces the old");
        assert!(s.get(&id2, b"link", None).is_some());
    }

    #[test]
    fn enrolments_are_bounded_and_expire() {
        let s = Sessions::new(2, Duration::from_millis(50));
        assert!(s.start(b"a", "u", "1").is_some());
        assert!(s.start(b"b", "u", "2").is_some());
        assert!(s.start(b"c", "u", "3").is_none(), "at most max at once");
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.start(b"c", "u", "3").is_some(), "expired ones make room");
    }

    #[test]
    fn the_backup_codes_are_taken_once() {
        let s = Sessions::new(2, Duration::from_secs(60));
        let (id, _) = s.start(b"a", "u", "1").unwrap();
        assert!(s.take_codes(&id, b"a").is_none(), "not before the end");
        s.set_stage(&id, Stage::Done { codes: Some(vec!["X".into()]) });
        assert_eq!(s.take_codes(&id, b"a").unwrap().1, vec!["X".to_string()]);
        assert!(s.take_codes(&id, b"a").is_none());
    }
}
