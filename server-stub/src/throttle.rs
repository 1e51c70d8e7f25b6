//! Per-source-address throttling of failed logins, in memory, per server instance: after
//! `max_failures` failed logins (wrong password or wrong code) from one IP address within
//! `window_secs`, that address gets no login for `block_secs`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Addresses remembered at most; over this, entries whose window and block have run out
/// are dropped, then the oldest.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: i64,
    failures: u32,
    blocked_until: Option<i64>,
}

pub struct AddressThrottle {
    max_failures: u32,
    window_secs: i64,
    block_secs: i64,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl AddressThrottle {
    pub fn new(max_failures: u32, window_secs: u64, block_secs: u64) -> Self {
        AddressThrottle {
            max_failures: max_failures.max(1),
            window_secs: window_secs as i64,
            block_secs: block_secs as i64,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The time the block on `ip` ends, if it is blocked now.
    pub fn blocked_until(&self, ip: IpAddr, now: i64) -> Option<i64> {
        self.lock().get(&ip).and_then(|e| e.blocked_until).filter(|t| *t > now)
    }

    /// Counts a failed login: the failures in the current window, and whether this one
    /// blocked the address.
    pub fn failure(&self, ip: IpAddr, now: i64) -> (u32, bool) {
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES && !map.contains_key(&ip) {
            let window = self.window_secs;
            map.retain(|_, e| e.blocked_until.is_some_and(|t| t > now) || e.window_start + window > now);
            if map.len() >= MAX_ENTRIES {
                if let Some(oldest) = map.iter().min_by_key(|(_, e)| e.window_start).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let e = map.entry(ip).or_insert(Entry { window_start: now, failures: 0, blocked_until: None });
        if e.blocked_until.is_some_and(|t| t > now) {
            return (e.failures, false);
        }
        if e.window_start + self.window_secs <= now || e.blocked_until.is_some() {
            *e = Entry { window_start: now, failures: 0, blocked_until: None };
        }
        e.failures += 1;
        if e.failures >= self.max_failures {
            e.blocked_until = Some(now + self.block_secs);
            (e.failures, true)
        } else {
            (e.failures, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_at_the_limit_and_released_after_the_period() {
        let t = AddressThrottle::new(3, 60, 600);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(!t.failure(a, 100).1);
        assert!(!t.failure(a, 101).1);
        assert_eq!(t.blocked_until(a, 101), None);
        assert_eq!(t.failure(a, 102), (3, true));
        assert_eq!(t.blocked_until(a, 103), Some(702));
        assert_eq!(t.blocked_until(b, 103), None, "other addresses are not affected");
        assert_eq!(t.blocked_until(a, 702), None);
        assert_eq!(t.failure(a, 702), (1, false), "a fresh count after the block");
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = AddressThrottle::new(2, 60, 600);
        let a: IpAddr = "::1".parse().unwrap();
        assert!(!t.failure(a, 0).1);
        assert!(!t.failure(a, 61).1);
        assert!(t.failure(a, 62).1);
    }
}
