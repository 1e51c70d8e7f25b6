//! Limits per source address that belong to this server instance: the key an address is
//! counted under, and the cap on logins in progress from one address, so that one address
//! cannot fill the connection slots and the password queue that everyone's logins share.
//! (Failed logins per address are counted in the user store, shared by every instance:
//! see `UserStore::reserve_attempt`.)

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

/// The address an attempt is counted under. IPv6 clients are counted per /64, the
/// smallest network a site is normally given (one host can pick any address in it); an
/// IPv4-mapped IPv6 address is its IPv4 address.
pub fn throttle_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// Counts the connections of each address that have not logged in yet (awaiting hello,
/// password or second factor, or queued for a password check), and refuses one more
/// beyond `max_per_address`.
pub struct LoginAdmission {
    max_per_address: usize,
    pending: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's place among its address's logins in progress; given back when dropped.
pub struct Admitted<'a> {
    admission: &'a LoginAdmission,
    key: IpAddr,
}

impl LoginAdmission {
    pub fn new(max_per_address: usize) -> Self {
        LoginAdmission { max_per_address: max_per_address.max(1), pending: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a login from `ip`, or None if its address has `max_per_address` already.
    pub fn admit(&self, ip: IpAddr) -> Option<Admitted<'_>> {
        let key = throttle_key(ip);
        let mut map = self.lock();
        let n = map.entry(key).or_insert(0);
        if *n >= self.max_per_address {
            return None;
        }
        *n += 1;
        Some(Admitted { admission: self, key })
    }

    /// Logins in progress from `ip`'s address.
    pub fn pending(&self, ip: IpAddr) -> usize {
        self.lock().get(&throttle_key(ip)).copied().unwrap_or(0)
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut map = self.admission.lock();
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Only addresses with logins in progress take memory.
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let k = |s: &str| throttle_key(s.parse().unwrap()).to_string();
        assert_eq!(k("192.0.2.1"), "192.0.2.1");
        assert_eq!(k("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(k("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
    }

    #[test]
    fn an_address_gets_its_cap_and_places_come_back_when_dropped() {
        let a = LoginAdmission::new(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let one = a.admit(ip).unwrap();
        let two = a.admit(ip).unwrap();
        assert!(a.admit(ip).is_none());
        assert!(a.admit(other).is_some(), "other addresses are not affected");
        drop(one);
        let three = a.admit(ip).unwrap();
        drop((two, three));
        assert_eq!(a.pending(ip), 0);
        assert!(a.lock().is_empty(), "no entry is kept for an address with nothing in progress");
    }

    #[test]
    fn the_cap_holds_under_concurrency() {
        let a = LoginAdmission::new(7);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let admitted = std::sync::atomic::AtomicUsize::new(0);
        let barrier = std::sync::Barrier::new(32);
        std::thread::scope(|s| {
            for _ in 0..32 {
                s.spawn(|| {
                    let got = a.admit(ip);
                    if got.is_some() {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    // Everyone holds what they got until all have tried.
                    barrier.wait();
                });
            }
        });
        assert_eq!(admitted.into_inner(), 7);
        assert_eq!(a.pending(ip), 0);
    }
}
