//! A cap on events per second: the first `cap` in each one-second window pass, the rest
//! are counted and dropped, and the count is handed back once so it can be logged once.

use std::time::{Duration, Instant};

pub struct PerSecond {
    cap: u32,
    window_start: Instant,
    passed: u32,
    dropped: u64,
}

/// What [`PerSecond::take`] decided, and what the window before dropped (reported once,
/// by the first event of the next window).
pub struct Taken {
    pub allowed: bool,
    pub dropped_before: u64,
}

impl PerSecond {
    pub fn new(cap: u32) -> PerSecond {
        PerSecond { cap, window_start: Instant::now(), passed: 0, dropped: 0 }
    }

    pub fn cap(&self) -> u32 {
        self.cap
    }

    /// Counts an event that passed the cap but was dropped later (a full queue), so it
    /// is reported with the rest.
    pub fn count_dropped(&mut self) {
        self.dropped += 1;
    }

    pub fn take(&mut self, now: Instant) -> Taken {
        let mut dropped_before = 0;
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            dropped_before = std::mem::take(&mut self.dropped);
            self.window_start = now;
            self.passed = 0;
        }
        let allowed = self.passed < self.cap;
        if allowed {
            self.passed += 1;
        } else {
            self.dropped += 1;
        }
        Taken { allowed, dropped_before }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_passes_per_second_and_the_dropped_are_reported_once_in_the_next_second() {
        let mut r = PerSecond::new(3);
        let t0 = Instant::now();
        let passed = (0..10).filter(|_| r.take(t0).allowed).count();
        assert_eq!(passed, 3);
        let next = r.take(t0 + Duration::from_millis(1000));
        assert!(next.allowed);
        assert_eq!(next.dropped_before, 7);
        assert_eq!(r.take(t0 + Duration::from_millis(1001)).dropped_before, 0);
    }

    #[test]
    fn events_dropped_after_the_cap_are_reported_with_the_rest() {
        let mut r = PerSecond::new(10);
        let t0 = Instant::now();
        assert!(r.take(t0).allowed);
        r.count_dropped();
        assert_eq!(r.take(t0 + Duration::from_secs(1)).dropped_before, 1);
    }
}
