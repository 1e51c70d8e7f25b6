//! How many logins per second the store calls of a login allow (reserve the second
//! factor, accept the TOTP step, finish as logged in), SQLite against PostgreSQL, on one
//! thread and on eight; and what a successful login writes to PostgreSQL's WAL. Figures
//! are printed (`--nocapture`); what is asserted is that every login was accepted and
//! that successes left no address row behind.
//!
//! `cargo test -p twofactor-server --release --test pg_store_speed -- --nocapture`

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use twofactor_pg_testkit::PgServer;
use twofactor_server::crypto::SecretBytes;
use twofactor_server::store::{
    AttemptEnd, AttemptLimits, AttemptRequest, CodeUse, DriftState, Factor, PgStoreSettings, PostgresUserStore,
    Reservation, SqliteUserStore, UserStore,
};

const LIMITS: AttemptLimits = AttemptLimits {
    max_failures: 5,
    lockout_secs: 900,
    address_max_failures: 50,
    address_window_secs: 600,
    address_block_secs: 600,
    hold_secs: 90,
};
const USERS: usize = 64;
const RUN: Duration = Duration::from_secs(2);

/// One login's store calls; the step only grows, so each is accepted.
fn login(s: &dyn UserStore, user: &str, address: &str, step: i64) {
    let req = AttemptRequest { user, address, factor: Factor::SecondFactor, now: 1_000 };
    let Reservation::Reserved(attempt) = s.reserve_attempt(&req, &LIMITS).unwrap() else {
        panic!("not reserved");
    };
    let d = DriftState { drift: 0, candidate: Some(0), streak: 1 };
    assert_eq!(s.accept_totp(user, step, d).unwrap(), CodeUse::Accepted);
    s.finish_attempt(&attempt, AttemptEnd::LoggedIn, 1_000, &LIMITS).unwrap();
}

/// The next TOTP step: later than any before, for every user and run.
static STEP: AtomicI64 = AtomicI64::new(1);

/// Logins per second with `threads` threads, each on its own users and address.
fn rate(s: &dyn UserStore, threads: usize) -> f64 {
    let step = &STEP;
    let done = AtomicI64::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let done = &done;
            scope.spawn(move || {
                let address = format!("10.77.0.{t}");
                let mut i = t;
                while start.elapsed() < RUN {
                    login(s, &format!("user{}", i % USERS), &address, step.fetch_add(1, Ordering::SeqCst));
                    i += threads;
                    done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    done.into_inner() as f64 / start.elapsed().as_secs_f64()
}

fn with_users(s: &dyn UserStore) {
    for i in 0..USERS {
        s.create_user(&format!("user{i}"), "$argon2id$fake").unwrap();
    }
}

#[test]
fn login_store_calls_per_second_sqlite_and_postgres() {
    let Some(pg) = PgServer::shared() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let sqlite = SqliteUserStore::open(&tmp.path().join("users.db")).unwrap();
    with_users(&sqlite);
    let db = pg.create_database();
    let settings = PgStoreSettings {
        url: db.url(),
        ca_file: Some(db.ca_file.clone()),
        password: Some(SecretBytes::new(db.password.clone().into_bytes())),
        pool_size: 16,
        connect_timeout: Duration::from_secs(5),
        insecure_no_tls: false,
    };
    let postgres = PostgresUserStore::open(&settings).unwrap();
    with_users(&postgres);
    for threads in [1, 8] {
        let lite = rate(&sqlite, threads);
        let pgr = rate(&postgres, threads);
        eprintln!(
            "store calls of a login, {threads} thread(s): SQLite {lite:.0}/s, PostgreSQL {pgr:.0}/s ({:.2}x)",
            pgr / lite
        );
    }
    // What a successful login writes durably: the ledger's row, nothing for the throttle.
    let mut c = db.superuser_client();
    let lsn = |c: &mut postgres::Client| -> i64 {
        c.query_one("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint", &[]).unwrap().get(0)
    };
    let before = lsn(&mut c);
    let n: i64 = 200;
    for i in 0..n {
        login(&postgres, &format!("user{}", i % USERS as i64), "10.78.0.1", 10_000_000 + i);
    }
    let per_login = (lsn(&mut c) - before) / n;
    eprintln!("PostgreSQL WAL per successful login: {per_login} bytes (the users row's new last_totp_step)");
    let rows: i64 = c.query_one("SELECT count(*) FROM address_failures", &[]).unwrap().get(0);
    assert_eq!(rows, 0, "successes write no address row");
    let inflight: i64 = c.query_one("SELECT count(*) FROM login_attempts", &[]).unwrap().get(0);
    assert_eq!(inflight, 0, "every reservation was ended");
}
