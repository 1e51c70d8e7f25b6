//! The conformance suite on PostgreSQL: a fresh database (and login role) per rule, on
//! the cluster `scripts/test.sh` starts (skipped with a note when there is none, a
//! failure under `TWOFACTOR_REQUIRE_PG=1`).

use std::cell::RefCell;
use std::time::Duration;

use twofactor_pg_testkit::{PgServer, TestDb};

use super::*;
use crate::crypto::SecretBytes;

pub(crate) fn settings_for(db: &TestDb<'_>) -> PgStoreSettings {
    PgStoreSettings {
        url: db.url(),
        ca_file: Some(db.ca_file.clone()),
        password: Some(SecretBytes::new(db.password.clone().into_bytes())),
        pool_size: 4,
        connect_timeout: Duration::from_secs(5),
        insecure_no_tls: false,
    }
}

#[test]
fn the_postgres_store_keeps_every_rule() {
    let Some(pg) = PgServer::shared() else { return };
    // Each database lives until the test ends; the stores on them are dropped first.
    let dbs: RefCell<Vec<TestDb<'_>>> = RefCell::new(Vec::new());
    crate::store::conformance::run_all(&|| {
        let db = pg.create_database();
        let store = PostgresUserStore::open(&settings_for(&db)).unwrap();
        dbs.borrow_mut().push(db);
        Box::new(store)
    });
}

#[test]
fn concurrent_reservations_on_two_pools_never_exceed_the_budget() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let a = PostgresUserStore::open(&settings_for(&db)).unwrap();
    let b = PostgresUserStore::open(&settings_for(&db)).unwrap();
    a.create_user("alice", "$argon2id$fake").unwrap();
    crate::store::conformance::concurrent_reservations_never_exceed_the_budget(&[&a, &b]);
}

#[test]
fn tickets_used_through_two_instances_at_once_and_revoked_through_one_are_refused_by_the_other() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let a = PostgresUserStore::open(&settings_for(&db)).unwrap();
    let b = PostgresUserStore::open(&settings_for(&db)).unwrap();
    a.create_user("alice", "$argon2id$fake").unwrap();
    let h = ticket_id_hash(&[9; 32]);
    let t = NewTicket {
        id_hash: &h,
        user: "alice",
        public_key: &[7; 32],
        issued_at: 0,
        expires_at: 1000,
        idle_secs: 100,
        peer: "10.0.0.1:1",
    };
    a.issue_ticket(&t, 20).unwrap();
    // Many uses at once through both pools: each one is recorded, none lost or refused.
    std::thread::scope(|scope| {
        for i in 0..16i64 {
            let s: &PostgresUserStore = if i % 2 == 0 { &a } else { &b };
            let h = &h;
            scope.spawn(move || assert!(s.use_ticket(h, "alice", 10 + i).unwrap().is_some()));
        }
    });
    assert!(b.revoke_ticket("alice", &h, 50).unwrap());
    assert!(a.use_ticket(&h, "alice", 51).unwrap().is_none(), "revoked on the other instance");
    b.set_ticket_policy("alice", TicketPolicy::Deny).unwrap();
    assert_eq!(a.ticket_policy("alice").unwrap(), TicketPolicy::Deny);
}
