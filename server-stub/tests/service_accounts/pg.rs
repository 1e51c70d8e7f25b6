//! A service account on the PostgreSQL SQL backend: its own role (`--sql-role`) is the
//! one `SET ROLE` takes, where the role map has nothing for it; an account allowed only
//! SQLite is refused there.

use twofactor_pg_testkit::PgServer;
use twofactor_server::config::{RoleMap, SqlBackend, SqlPostgresSection};

use super::*;

/// Runs the async part on a runtime of its own: the testkit's sync client must not run
/// on a tokio worker.
fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(f)
}

#[test]
fn a_service_account_runs_as_its_own_role_on_postgres_and_a_sqlite_only_one_is_refused() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let role = db.create_role("etl_job");
    let mut owner = db.client();
    owner
        .batch_execute(&format!(
            "CREATE TABLE exports (n int); INSERT INTO exports VALUES (7); GRANT SELECT ON exports TO \"{role}\""
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let password_file = db.password_file(dir.path());
    let key = key_pair();
    let public = key.public_key().as_ref().to_vec();
    run(async {
        let f = start_with(
            |c| {
                c.sql.backend = SqlBackend::Postgres;
                c.sql.postgres = Some(SqlPostgresSection {
                    url: db.url(),
                    ca_file: db.ca_file.clone(),
                    password_file: Some(password_file.clone()),
                    // Nobody is mapped: only the account's own role can give it one.
                    role_map: RoleMap::Table,
                    ..Default::default()
                });
            },
            |d| {
                let store = SqliteUserStore::open(&d.join("users.db")).unwrap();
                let hash = twofactor_server::password::hash_password("never told to anyone", CHEAP).unwrap();
                let account = |name: &str, backend, sql_role: Option<&str>| ServiceAccount {
                    name: name.into(),
                    kind: ServiceKind::Key,
                    credential: public.clone(),
                    networks: parse_networks("127.0.0.1").unwrap(),
                    backend,
                    sql_role: sql_role.map(str::to_owned),
                    created_at: T0,
                };
                store.create_service_account(&account("etl", AllowedBackend::Postgres, Some(&role)), &hash).unwrap();
                store.create_service_account(&account("lite", AllowedBackend::Sqlite, Some(&role)), &hash).unwrap();
                store.create_service_account(&account("norole", AllowedBackend::Any, None), &hash).unwrap();
            },
        )
        .await;
        let (mut c, reply) = key_login(&f, "etl", &key).await;
        assert!(matches!(reply, ServerMessage::FirstFactorOk { .. }), "{reply:?}");
        match c.exec("SELECT current_user::text, (SELECT n FROM exports)", no_params()).await {
            ServerMessage::ResultSet { .. } => {}
            other => panic!("{other:?}"),
        }
        let Some(ServerMessage::Rows { batch, .. }) = c.recv().await else { panic!("rows") };
        assert_eq!(batch.value(0, 0).to_owned(), twofactor_protocol::Value::Text(role.clone()));
        assert_refused(&key_login(&f, "lite", &key).await.1);
        // Without a role of its own, the mapping decides: here it has none to give.
        let (mut c, reply) = key_login(&f, "norole", &key).await;
        assert!(matches!(reply, ServerMessage::FirstFactorOk { .. }));
        assert_error(&c.exec("SELECT 1", no_params()).await, "28000", 0, false);
    });
}
