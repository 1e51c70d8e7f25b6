//! Two real servers (TLS, the protocol, the session code) sharing one PostgreSQL user
//! store: what one instance accepts, the other knows.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use twofactor_pg_testkit::{PgServer, TestDb};
use twofactor_protocol::ServerMessage;
use twofactor_server::crypto::SecretsKey;
use twofactor_server::password::hash_password;
use twofactor_server::store::{PgStoreSettings, PostgresUserStore, TotpEnrolment, UserStore};
use twofactor_server::Config;

fn point_at(config: &mut Config, db: &TestDb<'_>, password_file: &Path) {
    config.store.url = Some(db.url());
    config.store.ca_file = Some(db.ca_file.clone());
    config.store.password_file = Some(password_file.to_owned());
}

/// `dave`, TOTP-enrolled under the key in `key_dir`, in the PostgreSQL store.
fn add_dave(config: &Config, key_dir: &Path) {
    let store = PostgresUserStore::open(&PgStoreSettings::from_config(config).unwrap().unwrap()).unwrap();
    store.create_user("dave", &hash_password("dave-pw", CHEAP).unwrap()).unwrap();
    let key = SecretsKey::load(&key_dir.join("secrets.key")).unwrap();
    let sealed_secret = key.seal("dave", SECRET);
    store.set_totp("dave", &TotpEnrolment { sealed_secret, algorithm: "SHA1".into(), digits: 6 }).unwrap();
}

#[test]
fn a_code_accepted_by_one_server_is_refused_by_the_other_and_a_lockout_is_shared() {
    let Some(pg) = PgServer::shared() else { return };
    // The test database is made and dropped with the blocking client, outside the runtime.
    let db = pg.create_database();
    let tmp = tempfile::tempdir().unwrap();
    let password_file = db.password_file(tmp.path());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(two_servers(&db, &password_file));
}

async fn two_servers(db: &TestDb<'_>, password_file: &Path) {
    let password_file = password_file.to_owned();
    let a = start_with(|c| point_at(c, db, &password_file), |_| {}).await;
    let a_data: PathBuf = a.data.clone();
    let a_config = a.config.clone();
    tokio::task::spawn_blocking(move || add_dave(&a_config, &a_data)).await.unwrap();
    // B shares A's secrets key, as instances of one deployment do.
    let a_key = a.data.join("secrets.key");
    let b = start_with(
        |c| point_at(c, db, &password_file),
        |data| {
            std::fs::copy(&a_key, data.join("secrets.key")).unwrap();
        },
    )
    .await;

    let mut on_a = Client::connect(&a).await;
    assert!(matches!(on_a.login("dave", "dave-pw").await, ServerMessage::FirstFactorOk { .. }));
    let code = code_now(&a);
    assert_eq!(on_a.code(&code).await, ServerMessage::SecondFactorOk);
    let mut on_b = Client::connect(&b).await;
    assert!(matches!(on_b.login("dave", "dave-pw").await, ServerMessage::FirstFactorOk { .. }));
    assert_error(&on_b.code(&code).await, "28000", 1002, true);

    // Wrong codes through B lock dave on A too.
    for _ in 0..a.config.auth.max_failed_attempts {
        let mut c = Client::connect(&b).await;
        assert!(matches!(c.login("dave", "dave-pw").await, ServerMessage::FirstFactorOk { .. }));
        let _ = c.code("000000x").await;
    }
    b.clock.advance(30);
    a.clock.advance(30);
    let mut c = Client::connect(&a).await;
    match c.login("dave", "dave-pw").await {
        ServerMessage::FirstFactorOk { .. } => {
            let refused = c.code(&code_now(&a)).await;
            assert!(matches!(refused, ServerMessage::Error(_)), "locked on A: {refused:?}");
        }
        refused => assert!(matches!(refused, ServerMessage::Error(_)), "{refused:?}"),
    }
    // Both servers shut down on tokio's workers with the store still open: its pool is
    // closed off the runtime (dropping it there would panic).
    a.server.shutdown().await;
    b.server.shutdown().await;
}

#[test]
fn fifty_logins_over_two_servers_with_one_code_let_exactly_one_in_five_times() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let tmp = tempfile::tempdir().unwrap();
    let password_file = db.password_file(tmp.path());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let a = start_with(|c| point_at(c, &db, &password_file), |_| {}).await;
        let (a_config, a_data) = (a.config.clone(), a.data.clone());
        tokio::task::spawn_blocking(move || add_dave(&a_config, &a_data)).await.unwrap();
        let a_key = a.data.join("secrets.key");
        let b = start_with(
            |c| point_at(c, &db, &password_file),
            |data| {
                std::fs::copy(&a_key, data.join("secrets.key")).unwrap();
            },
        )
        .await;
        // Fifty logins spread over both servers submit one valid code at once: one gets in.
        for round in 0..5 {
            let mut clients = Vec::new();
            for i in 0..50 {
                let mut c = Client::connect(if i % 2 == 0 { &a } else { &b }).await;
                assert!(matches!(c.login("dave", "dave-pw").await, ServerMessage::FirstFactorOk { .. }));
                clients.push(c);
            }
            let code = code_now(&a);
            let tasks: Vec<_> = clients
                .into_iter()
                .map(|mut c| {
                    let code = code.clone();
                    tokio::spawn(async move { c.code(&code).await == ServerMessage::SecondFactorOk })
                })
                .collect();
            let mut accepted = 0;
            for t in tasks {
                accepted += usize::from(t.await.unwrap());
            }
            assert_eq!(accepted, 1, "round {round}: one of fifty logins with one code");
            a.clock.advance(30);
            b.clock.advance(30);
        }
        a.server.shutdown().await;
        b.server.shutdown().await;
    });
}
