//! The rules every [`UserStore`] keeps, written once against the trait: each store
//! implementation runs them all (`run_all`) with a fresh store per rule.

use super::*;

mod enrol_links;
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
        ("a_ticket_is_used_only_while_valid_and_by_its_user", a_ticket_is_used_only_while_valid_and_by_its_user),
        ("issuing_past_the_limit_revokes_the_oldest_tickets", issuing_past_the_limit_revokes_the_oldest_tickets),
        ("credential_changes_and_removal_delete_tickets", credential_changes_and_removal_delete_tickets),
        ("the_ticket_policy_is_per_user_and_needs_the_user", the_ticket_policy_is_per_user_and_needs_the_user),
        (
            "a_delegated_code_is_fresh_once_then_a_replay_in_its_window",
            a_delegated_code_is_fresh_once_then_a_replay_in_its_window,
        ),
        (
            "a_service_account_is_a_user_without_a_second_factor",
            service_accounts::a_service_account_is_a_user_without_a_second_factor,
        ),
        (
            "a_service_account_changes_and_goes_with_its_user",
            service_accounts::a_service_account_changes_and_goes_with_its_user,
        ),
        ("a_link_is_spent_once_and_only_while_valid", enrol_links::a_link_is_spent_once_and_only_while_valid),
        ("the_first_factor_is_per_user_and_needs_the_user", the_first_factor_is_per_user_and_needs_the_user),
        (
            "a_revoked_link_is_refused_and_links_need_and_go_with_their_user",
            enrol_links::a_revoked_link_is_refused_and_links_need_and_go_with_their_user,
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

fn a_delegated_code_is_fresh_once_then_a_replay_in_its_window(s: &dyn UserStore) {
    assert!(!s.delegated_code_used("alice", b"d1", 0).unwrap());
    assert_eq!(s.record_delegated_code("alice", b"d1", 100, 0).unwrap(), CodeUse::Accepted);
    assert!(s.delegated_code_used("alice", b"d1", 50).unwrap());
    assert_eq!(s.record_delegated_code("alice", b"d1", 120, 50).unwrap(), CodeUse::Replayed);
    assert!(!s.delegated_code_used("alice", b"d2", 50).unwrap(), "another code");
    // Past the window the code is forgotten: the hook decides again.
    assert!(!s.delegated_code_used("alice", b"d1", 100).unwrap());
    assert_eq!(s.record_delegated_code("alice", b"d1", 800, 100).unwrap(), CodeUse::Accepted);
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

fn new_ticket<'a>(id_hash: &'a [u8], user: &'a str, now: i64) -> NewTicket<'a> {
    NewTicket {
        id_hash,
        user,
        public_key: &[7; 32],
        issued_at: now,
        expires_at: now + 1000,
        idle_secs: 100,
        peer: "10.0.0.1:5000",
    }
}

fn a_ticket_is_used_only_while_valid_and_by_its_user(s: &dyn UserStore) {
    s.create_user("bob", "$argon2id$fake").unwrap();
    let h = ticket_id_hash(&[1; 32]);
    assert_eq!(s.issue_ticket(&new_ticket(&h, "alice", 0), 20).unwrap(), 0);
    let t = s.ticket(&h).unwrap().unwrap();
    assert_eq!(
        (t.user.as_str(), t.public_key.as_slice(), t.last_used_at, t.idle_secs),
        ("alice", &[7u8; 32][..], 0, 100)
    );
    assert_eq!((t.expires_at, t.peer.as_str(), t.revoked_at), (1000, "10.0.0.1:5000", None));
    assert_eq!(t.state(0), TicketState::Active);
    assert!(s.ticket(&ticket_id_hash(&[2; 32])).unwrap().is_none());
    assert!(s.use_ticket(&h, "bob", 50).unwrap().is_none(), "another user's");
    assert_eq!(s.use_ticket(&h, "alice", 50).unwrap().unwrap().last_used_at, 50);
    // Idle for idle_secs since the last use: dead, and a late use changes nothing.
    assert!(s.use_ticket(&h, "alice", 150).unwrap().is_none());
    assert_eq!(s.ticket(&h).unwrap().unwrap().state(150), TicketState::IdleExpired);
    assert_eq!(s.ticket(&h).unwrap().unwrap().last_used_at, 50);
    // Kept in use, it still ends at expires_at.
    let h2 = ticket_id_hash(&[2; 32]);
    s.issue_ticket(&new_ticket(&h2, "alice", 0), 20).unwrap();
    for now in (90..1000).step_by(90) {
        assert!(s.use_ticket(&h2, "alice", now).unwrap().is_some(), "{now}");
    }
    assert!(s.use_ticket(&h2, "alice", 1000).unwrap().is_none());
    assert_eq!(s.ticket(&h2).unwrap().unwrap().state(1000), TicketState::Expired);
    // Revoked: refused at once, and revoked once.
    let h3 = ticket_id_hash(&[3; 32]);
    s.issue_ticket(&new_ticket(&h3, "alice", 10), 20).unwrap();
    assert!(!s.revoke_ticket("bob", &h3, 11).unwrap(), "not bob's to revoke");
    assert!(s.revoke_ticket("alice", &h3, 11).unwrap());
    assert!(!s.revoke_ticket("alice", &h3, 12).unwrap());
    assert!(s.use_ticket(&h3, "alice", 12).unwrap().is_none());
    assert_eq!(s.ticket(&h3).unwrap().unwrap().state(12), TicketState::Revoked);
    let h4 = ticket_id_hash(&[4; 32]);
    s.issue_ticket(&new_ticket(&h4, "bob", 10), 20).unwrap();
    // --all: alice's two not revoked yet (one idle-expired, one expired), none of bob's.
    assert_eq!(s.revoke_tickets("alice", 13).unwrap(), 2);
    assert!(s.use_ticket(&h4, "bob", 13).unwrap().is_some());
    let ids: Vec<Vec<u8>> = s.tickets("alice").unwrap().into_iter().map(|t| t.id_hash).collect();
    assert_eq!(ids, vec![h.clone(), h2, h3], "oldest first");
    // The same identifier twice is refused, not a second row.
    assert!(s.issue_ticket(&new_ticket(&h, "alice", 20), 20).is_err());
}

fn issuing_past_the_limit_revokes_the_oldest_tickets(s: &dyn UserStore) {
    let hashes: Vec<Vec<u8>> = (0..4u8).map(|i| ticket_id_hash(&[i; 32])).collect();
    assert_eq!(s.issue_ticket(&new_ticket(&hashes[0], "alice", 0), 2).unwrap(), 0);
    assert_eq!(s.issue_ticket(&new_ticket(&hashes[1], "alice", 0), 2).unwrap(), 0);
    // Same second: the order of issue decides.
    assert_eq!(s.issue_ticket(&new_ticket(&hashes[2], "alice", 0), 2).unwrap(), 1);
    let states: Vec<TicketState> = s.tickets("alice").unwrap().iter().map(|t| t.state(1)).collect();
    assert_eq!(states, [TicketState::Revoked, TicketState::Active, TicketState::Active]);
    // Past their hard end, tickets are forgotten at the next issue.
    assert_eq!(s.issue_ticket(&new_ticket(&hashes[3], "alice", 5000), 2).unwrap(), 0);
    assert_eq!(s.tickets("alice").unwrap().len(), 1);
}

fn credential_changes_and_removal_delete_tickets(s: &dyn UserStore) {
    let issue = |i: u8| {
        let h = ticket_id_hash(&[i; 32]);
        s.issue_ticket(&new_ticket(&h, "alice", 0), 20).unwrap();
        h
    };
    issue(1);
    s.set_password("alice", "$argon2id$other").unwrap();
    assert!(s.tickets("alice").unwrap().is_empty(), "password change");
    let h = issue(2);
    s.set_totp("alice", &TotpEnrolment { sealed_secret: vec![1; 40], algorithm: "SHA1".into(), digits: 6 }).unwrap();
    assert!(s.tickets("alice").unwrap().is_empty() && s.ticket(&h).unwrap().is_none(), "TOTP reset");
    issue(3);
    let u = s.user("alice").unwrap().unwrap();
    s.import_user(&u, &[], true).unwrap();
    assert!(s.tickets("alice").unwrap().is_empty(), "import over the user");
    issue(4);
    s.remove_user("alice").unwrap();
    assert!(s.tickets("alice").unwrap().is_empty(), "user removed");
    assert!(matches!(s.set_password("alice", "x"), Err(StoreError::NoSuchUser(_))));
}

fn the_ticket_policy_is_per_user_and_needs_the_user(s: &dyn UserStore) {
    s.create_user("bob", "$argon2id$fake").unwrap();
    assert_eq!(s.ticket_policy("alice").unwrap(), TicketPolicy::Default);
    s.set_ticket_policy("alice", TicketPolicy::Allow).unwrap();
    s.set_ticket_policy("bob", TicketPolicy::Deny).unwrap();
    assert_eq!(s.ticket_policy("alice").unwrap(), TicketPolicy::Allow);
    assert_eq!(s.ticket_policy("bob").unwrap(), TicketPolicy::Deny);
    s.set_ticket_policy("alice", TicketPolicy::Deny).unwrap();
    assert_eq!(s.ticket_policy("alice").unwrap(), TicketPolicy::Deny);
    s.set_ticket_policy("alice", TicketPolicy::Default).unwrap();
    assert_eq!(s.ticket_policy("alice").unwrap(), TicketPolicy::Default);
    assert!(matches!(s.set_ticket_policy("nobody", TicketPolicy::Allow), Err(StoreError::NoSuchUser(_))));
    assert!(matches!(s.set_ticket_policy("nobody", TicketPolicy::Default), Err(StoreError::NoSuchUser(_))));
    // A removed user's policy goes with it: a new user of that name starts at the default.
    s.remove_user("bob").unwrap();
    s.create_user("bob", "$argon2id$fake").unwrap();
    assert_eq!(s.ticket_policy("bob").unwrap(), TicketPolicy::Default);
}

fn the_first_factor_is_per_user_and_needs_the_user(s: &dyn UserStore) {
    assert_eq!(s.first_factor("alice").unwrap(), None);
    assert_eq!(s.first_factor("nobody").unwrap(), None);
    s.set_first_factor("alice", Some(Mechanism::Ldap)).unwrap();
    assert_eq!(s.first_factor("alice").unwrap(), Some(Mechanism::Ldap));
    s.create_user("bob", "$argon2id$fake").unwrap();
    assert_eq!(s.first_factor("bob").unwrap(), None, "one user's setting is not another's");
    s.set_first_factor("alice", Some(Mechanism::Local)).unwrap();
    assert_eq!(s.first_factor("alice").unwrap(), Some(Mechanism::Local));
    s.set_first_factor("alice", None).unwrap();
    assert_eq!(s.first_factor("alice").unwrap(), None);
    assert!(matches!(s.set_first_factor("nobody", Some(Mechanism::Ldap)), Err(StoreError::NoSuchUser(_))));
    // A user created again after removal starts from the server's list.
    s.set_first_factor("bob", Some(Mechanism::Ldap)).unwrap();
    s.remove_user("bob").unwrap();
    s.create_user("bob", "$argon2id$fake").unwrap();
    assert_eq!(s.first_factor("bob").unwrap(), None);
}
