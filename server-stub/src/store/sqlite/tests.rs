//! The conformance suite on SQLite, in memory and on one file shared by two stores.

use super::*;

#[test]
fn the_sqlite_store_keeps_every_rule() {
    crate::store::conformance::run_all(&|| Box::new(SqliteUserStore::open_in_memory().unwrap()));
}

#[test]
fn reservations_hold_across_connections_to_one_file() {
    // Two stores on one file stand for two server instances sharing it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.db");
    let a = SqliteUserStore::open(&path).unwrap();
    let b = SqliteUserStore::open(&path).unwrap();
    a.create_user("alice", "$argon2id$fake").unwrap();
    crate::store::conformance::concurrent_reservations_never_exceed_the_budget(&[&a, &b]);
}
