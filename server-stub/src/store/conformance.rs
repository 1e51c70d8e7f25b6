//! The rules every [`UserStore`] keeps, written once against the trait: each store
//! implementation runs them all (`run_all`) with a fresh store per rule.

use super::*;

mod service_accounts;

pub type NewStore<'a> = &'a dyn Fn() -> Box<dyn UserStore>;
/// A rule, named for the report, run on a store that has `alice`.
type Rule = (&'static str, fn(&dyn UserStore));

const LIMITS: AttemptLimits = AttemptLimits {
    max_failures: 5,
    lockout_secs: 900,
    address_max_failures: 8,
    address_window_secs: 600,
    address_block_secs: 600,
    hold_secs: 60,
};

pub fn run_all(new: NewStore<'_>) {
    let rules: &[Rule] = &[
        ("a_new_user_requires_two_factor_and_is_unenrolled", a_new_user_requires_two_factor_and_is_unenrolled),
        (
            "a_step_is_accepted_once_and_only_the_last_one_is_a_replay",
            a_step_is_accepted_once_and_only_the_last_one_is_a_replay,
        ),
        ("attempts_in_flight_count_against_the_user_budget", attempts_in_flight_count_against_the_user_budget),
        ("failures_lock_the_factor_and_the_lock_runs_out", failures_lock_the_factor_and_the_lock_runs_out),
        ("the_address_budget_counts_every_user_and_blocks", the_address_budget_counts_every_user_and_blocks),
        (
            "an_unfinished_reservation_gives_its_place_back_in_time",
            an_unfinished_reservation_gives_its_place_back_in_time,
        ),
        ("a_sent_code_is_used_once_then_recognised_as_a_replay", a_sent_code_is_used_once_then_recognised_as_a_replay),
        ("wrong_codes_spend_tries_in_the_same_step", wrong_codes_spend_tries_in_the_same_step),
        ("a_backup_code_is_used_once_then_a_replay_for_a_while", a_backup_code_is_used_once_then_a_replay_for_a_while),
        (
            "unlock_resets_the_counts_and_the_switch_is_unset_at_first",
            unlock_resets_the_counts_and_the_switch_is_unset_at_first,
        ),
        (
            "a_service_account_is_a_user_without_a_second_factor",
            service_accounts::a_service_account_is_a_user_without_a_second_factor,
        ),
        (
            "a_service_account_changes_and_goes_with_its_user",
            service_accounts::a_service_account_changes_and_goes_with_its_user,
        ),
    ];
    for (name, rule) in rules {
        let store = new();
        store.create_user("alice", "$argon2id$fake").unwrap();
        eprintln!("store rule: {name}");
        rule(store.as_ref());
    }
    let a = new();
    a.create_user("alice", "$argon2id$fake").unwrap();
    concurrent_reservations_never_exceed_the_budget(&[a.as_ref()]);
}

fn req<'a>(user: &'a str, address: &'a str, factor: Factor, now: i64) -> AttemptRequest<'a> {
    AttemptRequest { user, address, factor, now }
}

fn reserve(s: &dyn UserStore, user: &str, address: &str, factor: Factor, now: i64) -> Reservation {
    s.reserve_attempt(&req(user, address, factor, now), &LIMITS).unwrap()
}

fn reserved(r: Reservation) -> Attempt {
    match r {
        Reservation::Reserved(a) => a,
        other => panic!("not reserved: {other:?}"),
    }
}

fn a_new_user_requires_two_factor_and_is_unenrolled(s: &dyn UserStore) {
    let u = s.user("alice").unwrap().unwrap();
    assert!(u.two_factor_required);
    assert_eq!(u.status(0), "Unenrolled");
    assert!(matches!(s.create_user("alice", "x"), Err(StoreError::AlreadyExists(_))));
}

fn a_step_is_accepted_once_and_only_the_last_one_is_a_replay(s: &dyn UserStore) {
    let d = DriftState { drift: 0, candidate: Some(0), streak: 1 };
    assert_eq!(s.accept_totp("alice", 100, d).unwrap(), CodeUse::Accepted);
    assert_eq!(s.accept_totp("alice", 100, d).unwrap(), CodeUse::Replayed, "the step just accepted");
    assert_eq!(s.accept_totp("alice", 99, d).unwrap(), CodeUse::Rejected, "an earlier, never accepted step");
    assert_eq!(s.accept_totp("alice", 101, d).unwrap(), CodeUse::Accepted);
    assert_eq!(s.accept_totp("alice", 100, d).unwrap(), CodeUse::Rejected, "no longer the last one");
}

fn attempts_in_flight_count_against_the_user_budget(s: &dyn UserStore) {
    // Five in flight use the whole budget, though nothing has failed yet.
    let held: Vec<Attempt> = (0..5).map(|_| reserved(reserve(s, "alice", "10.0.0.1", Factor::Password, 0))).collect();
    assert_eq!(reserve(s, "alice", "10.0.0.2", Factor::Password, 0), Reservation::Busy);
    // The other factor has its own budget; an unknown user only the address's.
    reserved(reserve(s, "alice", "10.0.0.2", Factor::SecondFactor, 0));
    let ghost = reserved(reserve(s, "nobody", "10.0.0.3", Factor::Password, 0));
    assert!(!ghost.known_user);
    // A success gives its place back without counting; a failure keeps it, counted.
    s.finish_attempt(&held[0], AttemptEnd::Succeeded, 1, &LIMITS).unwrap();
    let again = reserved(reserve(s, "alice", "10.0.0.2", Factor::Password, 1));
    let f = s.finish_attempt(&again, AttemptEnd::Failed, 1, &LIMITS).unwrap();
    assert_eq!(f.user, Some(FailureOutcome::Counted(1)));
    assert_eq!(reserve(s, "alice", "10.0.0.2", Factor::Password, 1), Reservation::Busy, "4 in flight + 1 failure");
    // Replays and abandoned attempts are not counted either.
    s.finish_attempt(&held[1], AttemptEnd::Replayed, 2, &LIMITS).unwrap();
    s.finish_attempt(&held[2], AttemptEnd::Abandoned, 2, &LIMITS).unwrap();
    assert_eq!(s.user("alice").unwrap().unwrap().failed_first_factor, 1);
    // A completed login starts both counts afresh, in the step that ends it.
    let code = reserved(reserve(s, "alice", "10.0.0.2", Factor::SecondFactor, 3));
    let f = s.finish_attempt(&code, AttemptEnd::Failed, 3, &LIMITS).unwrap();
    assert_eq!(f.user, Some(FailureOutcome::Counted(1)));
    s.finish_attempt(&held[3], AttemptEnd::LoggedIn, 3, &LIMITS).unwrap();
    let u = s.user("alice").unwrap().unwrap();
    assert_eq!((u.failed_first_factor, u.failed_second_factor), (0, 0));
}

fn failures_lock_the_factor_and_the_lock_runs_out(s: &dyn UserStore) {
    for n in 1..=5u32 {
        let a = reserved(reserve(s, "alice", &format!("10.0.0.{n}"), Factor::SecondFactor, 1000));
        let f = s.finish_attempt(&a, AttemptEnd::Failed, 1000, &LIMITS).unwrap();
        let want = if n < 5 { FailureOutcome::Counted(n) } else { FailureOutcome::LockedNow { until: 1900 } };
        assert_eq!(f.user, Some(want));
    }
    assert_eq!(reserve(s, "alice", "10.0.0.9", Factor::SecondFactor, 1899), Reservation::Locked { until: 1900 });
    let u = s.user("alice").unwrap().unwrap();
    assert_eq!(u.failed_second_factor, 5);
    assert!(u.is_locked(1899) && !u.is_password_locked(1899));
    // Run out: a fresh budget of five.
    let a = reserved(reserve(s, "alice", "10.0.0.9", Factor::SecondFactor, 1900));
    let f = s.finish_attempt(&a, AttemptEnd::Failed, 1900, &LIMITS).unwrap();
    assert_eq!(f.user, Some(FailureOutcome::Counted(1)));
}

fn the_address_budget_counts_every_user_and_blocks(s: &dyn UserStore) {
    let ip = "192.0.2.7";
    // Eight failures from one address (unknown users: the address alone counts) block it.
    for n in 1..=8u32 {
        let a = reserved(reserve(s, &format!("user{n}"), ip, Factor::Password, 100));
        let f = s.finish_attempt(&a, AttemptEnd::Failed, 100, &LIMITS).unwrap();
        assert_eq!((f.user, f.address_failures, f.address_blocked_now), (None, n, n == 8));
    }
    assert_eq!(reserve(s, "alice", ip, Factor::Password, 101), Reservation::AddressBlocked { until: 700 });
    reserved(reserve(s, "alice", "192.0.2.8", Factor::Password, 101));
    // After the block, a fresh window; in flight counts there too.
    let held: Vec<Attempt> =
        (0..8).map(|n| reserved(reserve(s, &format!("u{n}"), ip, Factor::Password, 700))).collect();
    assert_eq!(reserve(s, "alice", ip, Factor::SecondFactor, 700), Reservation::Busy);
    let f = s.finish_attempt(&held[0], AttemptEnd::Failed, 700, &LIMITS).unwrap();
    assert_eq!(f.address_failures, 1, "the old window is gone");
    // Failures outside the window do not add up.
    let a = reserved(reserve(s, "x", "192.0.2.9", Factor::Password, 0));
    s.finish_attempt(&a, AttemptEnd::Failed, 0, &LIMITS).unwrap();
    let a = reserved(reserve(s, "x", "192.0.2.9", Factor::Password, 600));
    assert_eq!(s.finish_attempt(&a, AttemptEnd::Failed, 600, &LIMITS).unwrap().address_failures, 1);
}

fn an_unfinished_reservation_gives_its_place_back_in_time(s: &dyn UserStore) {
    for _ in 0..5 {
        reserved(reserve(s, "alice", "10.0.0.1", Factor::Password, 0));
    }
    assert_eq!(reserve(s, "alice", "10.0.0.1", Factor::Password, 59), Reservation::Busy);
    let late = reserved(reserve(s, "alice", "10.0.0.1", Factor::Password, 60));
    // Finishing after the hold still counts the failure.
    let f = s.finish_attempt(&late, AttemptEnd::Failed, 200, &LIMITS).unwrap();
    assert_eq!(f.user, Some(FailureOutcome::Counted(1)));
}

fn issue(s: &dyn UserStore, hash: &[u8], now: i64, tries: u32) {
    let q = CodeRequest {
        code_hash: hash,
        method: Method::Email,
        destination: "a@example.com",
        now,
        expires_at: now + 300,
        max_tries: tries,
        max_sends_per_hour: 100,
    };
    assert_eq!(s.issue_code("alice", &q).unwrap(), IssueOutcome::Issued);
}

fn a_sent_code_is_used_once_then_recognised_as_a_replay(s: &dyn UserStore) {
    issue(s, b"right", 0, 3);
    assert_eq!(s.use_code("alice", b"right", 10).unwrap(), CodeUse::Accepted);
    assert_eq!(s.use_code("alice", b"right", 20).unwrap(), CodeUse::Replayed);
    assert_eq!(s.use_code("alice", b"wrong", 20).unwrap(), CodeUse::Rejected);
    assert_eq!(s.pending_code("alice", 20).unwrap(), None, "a used code is not pending");
    assert_eq!(s.use_code("alice", b"right", 300).unwrap(), CodeUse::Rejected, "past its lifetime");
    // A new login gets a new code, not the used one.
    issue(s, b"next", 400, 3);
    assert_eq!(s.use_code("alice", b"right", 401).unwrap(), CodeUse::Rejected);
    assert_eq!(s.use_code("alice", b"next", 401).unwrap(), CodeUse::Accepted);
}

fn wrong_codes_spend_tries_in_the_same_step(s: &dyn UserStore) {
    issue(s, b"right", 0, 2);
    assert_eq!(s.use_code("alice", b"wrong", 1).unwrap(), CodeUse::Rejected);
    assert_eq!(s.pending_code("alice", 1).unwrap().unwrap().tries_left, 1);
    assert_eq!(s.use_code("alice", b"wrong", 1).unwrap(), CodeUse::Rejected);
    assert_eq!(s.use_code("alice", b"right", 1).unwrap(), CodeUse::Rejected, "void after its tries");
}

fn a_backup_code_is_used_once_then_a_replay_for_a_while(s: &dyn UserStore) {
    s.set_backup_codes("alice", &[b"b1".to_vec(), b"b2".to_vec()]).unwrap();
    assert_eq!(s.use_backup_code("alice", b"b1", 100, 0).unwrap(), CodeUse::Accepted);
    assert_eq!(s.user("alice").unwrap().unwrap().backup_codes_left, 1);
    assert_eq!(s.backup_code_hashes("alice").unwrap(), vec![b"b2".to_vec()], "used codes are not exported");
    assert_eq!(s.use_backup_code("alice", b"b1", 150, 50).unwrap(), CodeUse::Replayed);
    assert_eq!(s.use_backup_code("alice", b"b1", 300, 200).unwrap(), CodeUse::Rejected, "long ago");
    assert_eq!(s.use_backup_code("alice", b"b3", 300, 200).unwrap(), CodeUse::Rejected);
}

fn unlock_resets_the_counts_and_the_switch_is_unset_at_first(s: &dyn UserStore) {
    let l = AttemptLimits { max_failures: 2, ..LIMITS };
    for _ in 0..2 {
        let a = match s.reserve_attempt(&req("alice", "10.0.0.1", Factor::SecondFactor, 0), &l).unwrap() {
            Reservation::Reserved(a) => a,
            other => panic!("{other:?}"),
        };
        s.finish_attempt(&a, AttemptEnd::Failed, 0, &l).unwrap();
    }
    assert!(s.user("alice").unwrap().unwrap().is_locked(1));
    s.unlock("alice").unwrap();
    let u = s.user("alice").unwrap().unwrap();
    assert!(!u.is_locked(1));
    assert_eq!(u.failed_second_factor, 0);
    assert_eq!(s.two_factor_setting().unwrap(), None);
    s.set_two_factor_setting(false).unwrap();
    assert_eq!(s.two_factor_setting().unwrap(), Some(false));
}

/// Many threads (over `stores`, which may be several handles on one shared store) reserve
/// at once: never more than the budget is reserved, and every failure is counted.
pub fn concurrent_reservations_never_exceed_the_budget(stores: &[&dyn UserStore]) {
    let reserved = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|scope| {
        for i in 0..40usize {
            let s = stores[i % stores.len()];
            let reserved = &reserved;
            scope.spawn(move || {
                let r = s.reserve_attempt(&req("alice", "10.1.1.1", Factor::Password, 5000), &LIMITS).unwrap();
                if let Reservation::Reserved(a) = r {
                    reserved.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    s.finish_attempt(&a, AttemptEnd::Failed, 5000, &LIMITS).unwrap();
                }
            });
        }
    });
    assert_eq!(reserved.into_inner(), 5);
    let u = stores[0].user("alice").unwrap().unwrap();
    assert_eq!(u.failed_first_factor, 5);
    assert!(u.is_password_locked(5001));
}
