//! The PostgreSQL user store as several server instances share it: two stores (two pools)
//! on one database stand for two instances. Real PostgreSQL: the cluster
//! `scripts/test.sh` starts (a fresh database per test), or a private one for the tests
//! that stop it.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use twofactor_pg_testkit::{PgServer, TestDb};
use twofactor_server::store::{
    AttemptEnd, AttemptLimits, AttemptRequest, CodeRequest, CodeUse, DriftState, Factor, FailureOutcome, IssueOutcome,
    Method, PgStoreSettings, PostgresUserStore, Reservation, UserStore,
};
use twofactor_server::Config;

const LIMITS: AttemptLimits = AttemptLimits {
    max_failures: 3,
    lockout_secs: 900,
    address_max_failures: 4,
    address_window_secs: 600,
    address_block_secs: 600,
    hold_secs: 60,
};

/// Settings as a data directory's `[store]` gives them: URL, CA file and a 0600
/// password file, read through the real config path.
fn settings(db: &TestDb<'_>, dir: &Path, timeout_secs: u64) -> PgStoreSettings {
    let mut config = Config::with_data_dir(dir);
    config.store.url = Some(db.url());
    config.store.ca_file = Some(db.ca_file.clone());
    config.store.password_file = Some(db.password_file(dir));
    config.store.pool_size = 8;
    config.store.connect_timeout_secs = timeout_secs;
    config.validate(Path::new("test")).unwrap();
    PgStoreSettings::from_config(&config).unwrap().unwrap()
}

/// Two instances on one fresh database, with `alice` (and `bob`).
fn two_instances(db: &TestDb<'_>, dir: &Path) -> (PostgresUserStore, PostgresUserStore) {
    let s = settings(db, dir, 5);
    let a = PostgresUserStore::open(&s).unwrap();
    let b = PostgresUserStore::open(&s).unwrap();
    a.create_user("alice", "$argon2id$fake").unwrap();
    a.create_user("bob", "$argon2id$fake").unwrap();
    (a, b)
}

fn reserve(s: &dyn UserStore, user: &str, address: &str, factor: Factor, now: i64) -> Reservation {
    s.reserve_attempt(&AttemptRequest { user, address, factor, now }, &LIMITS).unwrap()
}

fn fail(s: &dyn UserStore, user: &str, address: &str, now: i64) -> Option<FailureOutcome> {
    match reserve(s, user, address, Factor::SecondFactor, now) {
        Reservation::Reserved(a) => s.finish_attempt(&a, AttemptEnd::Failed, now, &LIMITS).unwrap().user,
        other => panic!("not reserved: {other:?}"),
    }
}

#[test]
fn fifty_threads_over_two_instances_submitting_one_totp_step_get_exactly_one_accept() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    let (a, b) = two_instances(&db, tmp.path());
    for round in 0..5i64 {
        let step = 60_000_000 + round;
        let accepted = AtomicU32::new(0);
        let replayed = AtomicU32::new(0);
        let start = Barrier::new(50);
        std::thread::scope(|scope| {
            for i in 0..50 {
                let store: &dyn UserStore = if i % 2 == 0 { &a } else { &b };
                let (accepted, replayed, start) = (&accepted, &replayed, &start);
                scope.spawn(move || {
                    start.wait();
                    let d = DriftState { drift: 0, candidate: Some(0), streak: 1 };
                    match store.accept_totp("alice", step, d).unwrap() {
                        CodeUse::Accepted => accepted.fetch_add(1, Ordering::SeqCst),
                        CodeUse::Replayed => replayed.fetch_add(1, Ordering::SeqCst),
                        CodeUse::Rejected => 0,
                    };
                });
            }
        });
        assert_eq!(accepted.into_inner(), 1, "round {round}: exactly one of 50 accepts step {step}");
        eprintln!("round {round}: 1 accepted, {} recognised as replays", replayed.into_inner());
        assert_eq!(b.user("alice").unwrap().unwrap().last_totp_step, Some(step));
    }
}

#[test]
fn a_lockout_reached_through_one_instance_holds_on_the_other_and_unlock_frees_both() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    let (a, b) = two_instances(&db, tmp.path());
    assert_eq!(fail(&a, "alice", "10.0.0.1", 100), Some(FailureOutcome::Counted(1)));
    assert_eq!(fail(&b, "alice", "10.0.0.2", 100), Some(FailureOutcome::Counted(2)), "B counts on A's count");
    assert_eq!(fail(&a, "alice", "10.0.0.1", 100), Some(FailureOutcome::LockedNow { until: 1000 }));
    assert_eq!(reserve(&b, "alice", "10.0.0.3", Factor::SecondFactor, 101), Reservation::Locked { until: 1000 });
    assert!(matches!(reserve(&b, "bob", "10.0.0.3", Factor::SecondFactor, 101), Reservation::Reserved(_)));
    // `user unlock` run against the store (a third client, as the CLI is).
    let admin = PostgresUserStore::open(&settings(&db, tmp.path(), 5)).unwrap();
    admin.unlock("alice").unwrap();
    for s in [&a, &b] {
        assert!(matches!(reserve(s, "alice", "10.0.0.4", Factor::SecondFactor, 102), Reservation::Reserved(_)));
    }
}

#[test]
fn an_email_code_issued_by_one_instance_is_used_on_the_other_once() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    let (a, b) = two_instances(&db, tmp.path());
    let issue = |s: &dyn UserStore, hash: &[u8], now: i64| {
        let q = CodeRequest {
            code_hash: hash,
            method: Method::Email,
            destination: "alice@example.com",
            now,
            expires_at: now + 300,
            max_tries: 2,
            max_sends_per_hour: 5,
        };
        s.issue_code("alice", &q).unwrap()
    };
    assert_eq!(issue(&a, b"right", 0), IssueOutcome::Issued);
    assert_eq!(issue(&b, b"other", 1), IssueOutcome::StillPending { expires_at: 300 }, "B sees A's pending code");
    assert_eq!(b.pending_code("alice", 2).unwrap().unwrap().destination, "alice@example.com");
    assert_eq!(b.use_code("alice", b"right", 10).unwrap(), CodeUse::Accepted);
    assert_eq!(a.use_code("alice", b"right", 11).unwrap(), CodeUse::Replayed, "not a second accept on A");
    // Wrong tries are spent in the one shared code, whichever instance gets them.
    assert_eq!(issue(&a, b"next", 400), IssueOutcome::Issued);
    assert_eq!(a.use_code("alice", b"guess1", 401).unwrap(), CodeUse::Rejected);
    assert_eq!(b.use_code("alice", b"guess2", 401).unwrap(), CodeUse::Rejected);
    assert_eq!(a.use_code("alice", b"next", 402).unwrap(), CodeUse::Rejected, "void after two tries in all");
}

#[test]
fn the_address_throttle_and_reservations_in_flight_are_shared() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    let (a, b) = two_instances(&db, tmp.path());
    let ip = "198.51.100.7";
    for n in 0..4 {
        let s: &dyn UserStore = if n % 2 == 0 { &a } else { &b };
        let r = match reserve(s, &format!("ghost{n}"), ip, Factor::Password, 50) {
            Reservation::Reserved(r) => r,
            other => panic!("{other:?}"),
        };
        let f = s.finish_attempt(&r, AttemptEnd::Failed, 50, &LIMITS).unwrap();
        assert_eq!((f.address_failures, f.address_blocked_now), (n + 1, n == 3));
    }
    for s in [&a, &b] {
        assert_eq!(reserve(s, "alice", ip, Factor::Password, 51), Reservation::AddressBlocked { until: 650 });
    }
    // Attempts in flight on A use the budget B sees: no instance grants its own.
    let other = "198.51.100.8";
    let held: Vec<_> = (0..4).map(|n| reserve(&a, &format!("u{n}"), other, Factor::Password, 60)).collect();
    assert!(held.iter().all(|r| matches!(r, Reservation::Reserved(_))));
    assert_eq!(reserve(&b, "alice", other, Factor::Password, 60), Reservation::Busy);
    // A success ends a reservation without writing the address's row.
    if let Reservation::Reserved(r) = &held[0] {
        a.finish_attempt(r, AttemptEnd::Succeeded, 61, &LIMITS).unwrap();
    }
    let rows: i64 =
        db.client().query_one("SELECT count(*) FROM address_failures WHERE address = $1", &[&other]).unwrap().get(0);
    assert_eq!(rows, 0, "no failure, no row");
    assert!(matches!(reserve(&b, "alice", other, Factor::Password, 61), Reservation::Reserved(_)));
}

#[test]
fn a_login_of_one_user_does_not_wait_for_another_users_locked_row() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    let (a, b) = two_instances(&db, tmp.path());
    // Another transaction holds alice's row, as a slow login of hers would.
    let mut holder = db.client();
    let mut tx = holder.transaction().unwrap();
    tx.execute("SELECT 1 FROM users WHERE name = 'alice' FOR UPDATE", &[]).unwrap();
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let t = Instant::now();
            let r = reserve(&a, "alice", "10.9.0.1", Factor::Password, 10);
            (t.elapsed(), r)
        });
        let t = Instant::now();
        let r = match reserve(&b, "bob", "10.9.0.2", Factor::Password, 10) {
            Reservation::Reserved(r) => r,
            other => panic!("{other:?}"),
        };
        let d = DriftState { drift: 0, candidate: Some(0), streak: 1 };
        assert_eq!(b.accept_totp("bob", 42, d).unwrap(), CodeUse::Accepted);
        b.finish_attempt(&r, AttemptEnd::LoggedIn, 10, &LIMITS).unwrap();
        let bob = t.elapsed();
        assert!(bob < Duration::from_millis(900), "bob's login took {bob:?} behind alice's lock");
        std::thread::sleep(Duration::from_millis(1000));
        tx.commit().unwrap();
        let (alice, r) = waiting.join().unwrap();
        assert!(alice >= Duration::from_millis(900), "alice's reservation waited for her row: {alice:?}");
        assert!(matches!(r, Reservation::Reserved(_)));
        eprintln!("bob's login calls: {bob:?} while alice's row was held; alice's reserve waited {alice:?}");
    });
}

#[test]
fn migrations_are_idempotent_concurrent_and_a_newer_schema_is_refused() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    let s = settings(&db, tmp.path(), 5);
    // Instances starting together: each migration is applied once.
    let stores: Vec<PostgresUserStore> = (0..4).map(|_| PostgresUserStore::open_unmigrated(&s).unwrap()).collect();
    let results: Vec<(i32, i32)> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores.iter().map(|st| scope.spawn(move || st.migrate().unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let v = twofactor_server::store::SCHEMA_VERSION;
    assert_eq!(results.iter().filter(|r| **r == (0, v)).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| **r == (v, v)).count(), 3, "{results:?}");
    assert_eq!(stores[0].migrate().unwrap(), (v, v), "again: nothing to do");
    let mut c = db.client();
    let rows: i64 = c.query_one("SELECT count(*) FROM schema_version", &[]).unwrap().get(0);
    assert_eq!(rows, i64::from(v));
    let carriers: i64 = c.query_one("SELECT count(*) FROM carriers", &[]).unwrap().get(0);
    assert_eq!(carriers, 7, "the default carriers are seeded once");
    // A newer server migrated it: this one refuses, naming the URL without a password.
    c.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(v + 1)]).unwrap();
    let e = PostgresUserStore::open(&s).err().expect("a newer schema is refused").to_string();
    assert!(e.contains("newer") && e.contains(&db.url()) && !e.contains(&db.password), "{e}");
}

#[test]
fn an_unreachable_postgres_is_an_error_naming_the_url_within_the_timeout() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    let mut s = settings(&db, tmp.path(), 2);
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    s.url = format!("postgres://{}@127.0.0.1:{free}/{}?sslmode=require", db.role, db.name);
    let t = Instant::now();
    let e = PostgresUserStore::open(&s).err().expect("nothing listens there").to_string();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(e.contains(&s.url) && !e.contains(&db.password), "{e}");
}

#[test]
fn postgres_stopped_fails_fast_and_the_same_store_recovers_when_it_returns() {
    let Some(pg) = PgServer::private() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    let store = PostgresUserStore::open(&settings(&db, tmp.path(), 2)).unwrap();
    store.create_user("alice", "$argon2id$fake").unwrap();
    let d = DriftState { drift: 0, candidate: Some(0), streak: 1 };
    assert_eq!(store.accept_totp("alice", 7, d).unwrap(), CodeUse::Accepted);
    store.check_health().unwrap();
    pg.stop();
    for _ in 0..3 {
        let t = Instant::now();
        let e = store.accept_totp("alice", 8, d).unwrap_err();
        let took = t.elapsed();
        assert!(took < Duration::from_secs(4), "a store call hung for {took:?}");
        assert!(matches!(e, twofactor_server::store::StoreError::Backend(_)), "{e:?}");
        assert!(store.check_health().is_err());
    }
    pg.start_again();
    // The pool reconnects by itself: the same store, within the timeout.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.check_health().is_err() {
        assert!(Instant::now() < deadline, "no reconnect within 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(store.accept_totp("alice", 8, d).unwrap(), CodeUse::Accepted, "step 8 was never half-accepted");
    assert_eq!(store.accept_totp("alice", 8, d).unwrap(), CodeUse::Replayed);
}

#[test]
fn a_role_without_create_serves_a_migrated_store() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    // The owner migrates; the servers run as a role that may only read and write rows.
    PostgresUserStore::open(&settings(&db, tmp.path(), 5)).unwrap().create_user("alice", "x").unwrap();
    let role = format!("{}_server", db.name);
    let password = "server-role-pw";
    let mut su = db.superuser_client();
    su.batch_execute(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{password}';
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};"
    ))
    .unwrap();
    let mut s = settings(&db, tmp.path(), 5);
    s.url = s.url.replacen(&db.role, &role, 1);
    s.password = Some(twofactor_server::crypto::SecretBytes::new(password.as_bytes().to_vec()));
    let result = std::panic::catch_unwind(|| {
        let store = PostgresUserStore::open(&s).unwrap();
        assert!(store.migrate().is_ok(), "up to date: nothing to create");
        login_once(&store);
    });
    su.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).unwrap();
    result.unwrap();
}

fn login_once(s: &dyn UserStore) {
    let Reservation::Reserved(a) = reserve(s, "alice", "10.5.0.1", Factor::SecondFactor, 10) else {
        panic!("not reserved");
    };
    let d = DriftState { drift: 0, candidate: Some(0), streak: 1 };
    assert_eq!(s.accept_totp("alice", 5, d).unwrap(), CodeUse::Accepted);
    assert_eq!(fail(s, "alice", "10.5.0.1", 11), Some(FailureOutcome::Counted(1)));
    s.finish_attempt(&a, AttemptEnd::LoggedIn, 12, &LIMITS).unwrap();
    assert_eq!(s.user("alice").unwrap().unwrap().failed_second_factor, 0);
}

#[test]
fn postgres_with_a_certificate_the_store_does_not_trust_is_refused() {
    let Some(pg) = PgServer::shared() else { return };
    let (db, tmp) = (pg.create_database(), tempfile::tempdir().unwrap());
    // Another CA (as `init` makes one), and the public roots: neither signed the test
    // cluster's certificate.
    twofactor_server::init::generate_certificates(tmp.path(), &["localhost".into()]).unwrap();
    for ca in [Some(tmp.path().join("ca.pem")), None] {
        let mut s = settings(&db, tmp.path(), 2);
        s.ca_file = ca.clone();
        let e = PostgresUserStore::open(&s).err().expect("an untrusted certificate").to_string();
        assert!(e.contains("certificate") || e.contains("UnknownIssuer"), "{ca:?}: {e}");
    }
}
