//! The PostgreSQL SQL backend, driven through the protocol like the other server tests, on
//! a real PostgreSQL (the testkit's shared cluster; a private one where PostgreSQL is
//! stopped). Each test gets a fresh database and login role.

mod common;

use std::time::{Duration, Instant};

use common::*;
use twofactor_pg_testkit::{PgServer, TestDb};
use twofactor_protocol::{
    sql_type, CatalogRequest, ClientMessage, ColumnDesc, Nullability, RowBatch, RowBatchBuilder, ServerMessage, Value,
    ValueRef,
};
use twofactor_server::config::{RoleMap, RollbackOnError, SqlBackend, SqlPostgresSection};
use twofactor_server::Config;

/// Points `config` at `db`, mapping alice to `alice_role`.
fn use_postgres(config: &mut Config, db: &TestDb<'_>, alice_role: &str, dir: &std::path::Path) {
    config.sql.backend = SqlBackend::Postgres;
    config.sql.postgres = Some(SqlPostgresSection {
        url: db.url(),
        ca_file: db.ca_file.clone(),
        password_file: Some(db.password_file(dir)),
        role_map: RoleMap::Table,
        ..Default::default()
    });
    config.sql.roles.insert("alice".into(), alice_role.into());
}

/// A fresh database of `server`; alice's role may read and write `t` (created by the
/// login role, which owns the database) but not `secret`.
fn setup(server: &PgServer) -> (TestDb<'_>, String, tempfile::TempDir) {
    let db = server.create_database();
    let alice = db.create_role("alice");
    let mut owner = db.client();
    owner
        .batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, name varchar(40) NOT NULL, price numeric(10,2), blob bytea); \
             CREATE TABLE secret (x int); INSERT INTO secret VALUES (42); \
             GRANT SELECT, INSERT, UPDATE, DELETE ON t TO \"{alice}\""
        ))
        .unwrap();
    (db, alice, tempfile::tempdir().unwrap())
}

/// Runs the async part of a test on a runtime of its own: the sync `postgres` client of
/// the testkit must not run on a tokio worker thread.
fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(f)
}

/// Runs sync PostgreSQL work from inside the async part.
fn blocking<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

async fn pg_start(db: &TestDb<'_>, alice: &str, dir: &tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Fixture {
    start(|c| {
        use_postgres(c, db, alice, dir.path());
        tweak(c);
    })
    .await
}

/// `rollback_on_error = "transaction"`: an error aborts the transaction.
fn transaction_rollback(c: &mut Config) {
    c.sql.postgres.as_mut().unwrap().rollback_on_error = RollbackOnError::Transaction;
}

macro_rules! shared_pg {
    () => {
        match PgServer::shared() {
            Some(s) => s,
            None => return,
        }
    };
}

fn params(values: &[Value]) -> RowBatch {
    let mut b = RowBatchBuilder::new(values.len() as u16);
    for v in values {
        b.push(v.as_ref());
    }
    b.end_row();
    b.finish()
}

/// Runs a query and returns its columns and every row (fetching until the last batch).
async fn query(c: &mut Client, sql: &str, p: RowBatch) -> (Vec<ColumnDesc>, Vec<Vec<Value>>) {
    let columns = match c.exec(sql, p).await {
        ServerMessage::ResultSet { columns } => columns,
        other => panic!("{sql}: {other:?}"),
    };
    let mut rows = Vec::new();
    loop {
        let Some(ServerMessage::Rows { batch, last }) = c.recv().await else { panic!("rows") };
        for r in 0..batch.rows() {
            rows.push((0..batch.columns()).map(|i| batch.value(r, i).to_owned()).collect());
        }
        if last {
            return (columns, rows);
        }
        c.send(ClientMessage::Fetch { max_rows: 0 }).await;
    }
}

async fn exec_ok(c: &mut Client, sql: &str) -> i64 {
    match c.exec(sql, no_params()).await {
        ServerMessage::ExecuteDone { row_count } => row_count,
        other => panic!("{sql}: {other:?}"),
    }
}

async fn one(c: &mut Client, sql: &str) -> Value {
    let (_, rows) = query(c, sql, no_params()).await;
    rows[0][0].clone()
}

#[test]
fn a_select_returns_postgresql_rows_in_odbc_types() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        let sql = "SELECT 1::int2 AS a, 2::int4, 3000000000::int8, 1.5::float4, 2.25::float8, 12.30::numeric(10,2), \
               'héllo'::text, 'v'::varchar(5), 'c'::char(3), 'n'::name, '\\x00ff'::bytea, true, \
               DATE '2024-02-29', TIME '13:45:01.25', TIMESTAMP '2024-02-29 13:45:01.5', \
               TIMESTAMPTZ '2024-02-29 13:45:01+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, \
               '{\"k\": 1}'::json, '{\"k\": [1, 2]}'::jsonb, INTERVAL '1 year 2 mons 3 days 04:05:06', \
               ARRAY[1, NULL, 3], ARRAY['a b', 'c'], NULL::int4, 'NaN'::numeric, -0.0050::numeric, \
               TIMETZ '13:45:01.5+05:30'";
        let (cols, rows) = query(&mut c, sql, no_params()).await;
        let types: Vec<i16> = cols.iter().map(|c| c.sql_type).collect();
        use sql_type::*;
        assert_eq!(
            types,
            [
                SMALLINT,
                INTEGER,
                BIGINT,
                REAL,
                DOUBLE,
                NUMERIC,
                LONGVARCHAR,
                VARCHAR,
                CHAR,
                VARCHAR,
                LONGVARBINARY,
                BIT,
                TYPE_DATE,
                TYPE_TIME,
                TYPE_TIMESTAMP,
                TYPE_TIMESTAMP,
                CHAR,
                LONGVARCHAR,
                LONGVARCHAR,
                VARCHAR,
                LONGVARCHAR,
                LONGVARCHAR,
                INTEGER,
                NUMERIC,
                NUMERIC,
                VARCHAR
            ]
        );
        assert_eq!((cols[5].column_size, cols[5].decimal_digits), (10, 2));
        assert_eq!(cols[7].column_size, 5);
        assert_eq!(cols[8].column_size, 3);
        assert_eq!(cols[6].column_size, 65_536, "text reports LongColumnSize");
        assert_eq!(cols[0].name, "a");
        assert_eq!(cols[0].type_name, "int2");
        let r = &rows[0];
        assert_eq!(r[0], Value::Int(1));
        assert_eq!(r[2], Value::Int(3_000_000_000));
        assert_eq!(r[3], Value::Double(1.5));
        assert_eq!(r[5], Value::Decimal("12.30".into()));
        assert_eq!(r[6], Value::Text("héllo".into()));
        assert_eq!(r[8], Value::Text("c  ".into()));
        assert_eq!(r[10], Value::Bytes(vec![0, 255]), "bytes stay bytes");
        assert_eq!(r[11], Value::Bool(true));
        let Value::Date(d) = &r[12] else { panic!("{:?}", r[12]) };
        assert_eq!((d.year, d.month, d.day), (2024, 2, 29));
        let Value::Time(t) = &r[13] else { panic!() };
        assert_eq!((t.hour, t.minute, t.second, t.nanos), (13, 45, 1, 250_000_000));
        let Value::Timestamp(ts) = &r[14] else { panic!() };
        assert_eq!((ts.date.day, ts.time.second, ts.time.nanos), (29, 1, 500_000_000));
        let Value::Timestamp(tz) = &r[15] else { panic!() };
        assert_eq!(tz.time.hour, 11, "timestamptz is sent in UTC");
        assert_eq!(r[16], Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()));
        assert_eq!(r[17], Value::Text("{\"k\": 1}".into()));
        assert_eq!(r[18], Value::Text("{\"k\": [1, 2]}".into()));
        assert_eq!(r[19], Value::Text("1 year 2 mons 3 days 04:05:06".into()));
        assert_eq!(r[20], Value::Text("{1,NULL,3}".into()));
        assert_eq!(r[21], Value::Text("{\"a b\",c}".into()));
        assert_eq!(r[22], Value::Null);
        assert_eq!(r[23], Value::Text("NaN".into()));
        assert_eq!(r[24], Value::Decimal("-0.0050".into()));
        assert_eq!(r[25], Value::Text("13:45:01.5+05:30".into()));
        // The values PostgreSQL prints the same way, checked against its own text output.
        let (_, text) = query(&mut c, &format!("SELECT ROW(q.*)::text FROM ({sql}) q"), no_params()).await;
        assert!(matches!(&text[0][0], Value::Text(s) if s.contains("\"1 year 2 mons 3 days 04:05:06\"")));
    });
}

#[test]
fn parameters_take_the_types_postgresql_infers_and_prepared_statements_run_again() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        c.send(ClientMessage::Prepare { sql: "INSERT INTO t (id, name, price, blob) VALUES ($1, $2, $3, $4)".into() })
            .await;
        let Some(ServerMessage::Prepared { statement_id, params: described, .. }) = c.recv().await else { panic!() };
        let types: Vec<i16> = described.iter().map(|p| p.sql_type).collect();
        assert_eq!(types, [sql_type::INTEGER, sql_type::VARCHAR, sql_type::NUMERIC, sql_type::LONGVARBINARY]);
        for (id, name) in [(1, "one"), (2, "two")] {
            let p = params(&[
                Value::Int(id),
                Value::Text(name.into()),
                Value::Decimal("9.99".into()),
                Value::Bytes(vec![0, 1, 254, 255]),
            ]);
            c.send(ClientMessage::Execute { statement_id, params: p, fetch_rows: 0 }).await;
            assert_eq!(c.recv().await, Some(ServerMessage::ExecuteDone { row_count: 1 }));
        }
        let (cols, rows) =
            query(&mut c, "SELECT id, name, price, blob FROM t WHERE id = $1", params(&[Value::Text("2".into())]))
                .await;
        assert_eq!(
            rows,
            [[
                Value::Int(2),
                Value::Text("two".into()),
                Value::Decimal("9.99".into()),
                Value::Bytes(vec![0, 1, 254, 255])
            ]]
        );
        assert_eq!(cols[0].nullable, Nullability::NoNulls, "id is the primary key");
        assert_eq!(cols[2].nullable, Nullability::Nullable);
        assert_eq!(cols[1].table_name, "t");
        // A value PostgreSQL cannot read as the marker's type is its own error.
        let m = c.exec("SELECT id FROM t WHERE id = $1", params(&[Value::Text("x".into())])).await;
        assert_error(&m, "22P02", 0, false);
        let m = c.exec("SELECT $1::int + 1", no_params()).await;
        assert_error(&m, "07002", 0, false);
        // Dates, times and booleans as parameters.
        let (_, rows) = query(
            &mut c,
            "SELECT $1::date + 1, $2::timestamp, $3::bool, $4::uuid::text",
            params(&[
                Value::Text("2024-02-28".into()),
                Value::Text("2024-02-29 10:00:00.5".into()),
                Value::Bool(true),
                Value::Text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11".into()),
            ]),
        )
        .await;
        let Value::Date(d) = &rows[0][0] else { panic!() };
        assert_eq!(d.day, 29);
        assert_eq!(rows[0][2], Value::Bool(true));
        assert_eq!(rows[0][3], Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()));
    });
}

#[test]
fn a_parameter_array_inserts_every_row_or_none() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        let array = |ids: &[i64]| {
            let mut b = RowBatchBuilder::new(2);
            for id in ids {
                b.push(ValueRef::Int(*id));
                b.push(ValueRef::Text("n"));
                b.end_row();
            }
            b.finish()
        };
        let sql = "INSERT INTO t (id, name) VALUES ($1, $2)";
        assert_eq!(c.exec(sql, array(&[1, 2, 3])).await, ServerMessage::ExecuteDone { row_count: 3 });
        // Row 2 of this one repeats a key: nothing of it stays.
        let m = c.exec(sql, array(&[10, 1, 11])).await;
        assert_error(&m, "23505", 0, false);
        let ServerMessage::Error(e) = m else { panic!() };
        assert!(e.message.starts_with("parameter row 2:"), "{}", e.message);
        assert_eq!(one(&mut c, "SELECT count(*) FROM t").await, Value::Int(3));
        // The same inside a manual transaction: a savepoint keeps the transaction usable.
        c.send(ClientMessage::SetAutocommit { on: false }).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_eq!(c.exec(sql, array(&[20, 21])).await, ServerMessage::ExecuteDone { row_count: 2 });
        assert_error(&c.exec(sql, array(&[22, 20])).await, "23505", 0, false);
        assert_eq!(one(&mut c, "SELECT count(*) FROM t").await, Value::Int(5));
        c.send(ClientMessage::EndTransaction { commit: true }).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_eq!(one(&mut c, "SELECT count(*) FROM t").await, Value::Int(5));
    });
}

#[test]
fn transactions_commit_and_roll_back_and_an_error_keeps_the_session() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        // PostgreSQL's own rule here; rollback.rs tests the default, statement-level one.
        let f = pg_start(&db, &alice, &dir, transaction_rollback).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        c.send(ClientMessage::SetAutocommit { on: false }).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (1, 'a')").await, 1);
        c.send(ClientMessage::EndTransaction { commit: false }).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_eq!(one(&mut c, "SELECT count(*) FROM t").await, Value::Int(0));
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (2, 'b')").await, 1);
        // Another session does not see it before the commit.
        f.clock.advance(30);
        let mut other = logged_in(&f, "alice", "alice-pw").await;
        assert_eq!(one(&mut other, "SELECT count(*) FROM t").await, Value::Int(0));
        c.send(ClientMessage::EndTransaction { commit: true }).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_eq!(one(&mut other, "SELECT count(*) FROM t").await, Value::Int(1));
        // An error aborts the transaction (PostgreSQL's rule) but never the session.
        assert_error(&c.exec("SELECT 1/0", no_params()).await, "22012", 0, false);
        assert_error(&c.exec("SELECT 1", no_params()).await, "25P02", 0, false);
        c.send(ClientMessage::EndTransaction { commit: false }).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_eq!(one(&mut c, "SELECT 7").await, Value::Int(7));
        // In autocommit an error is the statement's alone.
        c.send(ClientMessage::SetAutocommit { on: true }).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_error(&c.exec("SELEC 1", no_params()).await, "42601", 0, false);
        assert_error(&c.exec("SELECT * FROM nope", no_params()).await, "42P01", 0, false);
        assert_eq!(one(&mut c, "SELECT 8").await, Value::Int(8));
        // Transaction statements belong to the ODBC calls.
        assert_error(&c.exec("COMMIT", no_params()).await, "25000", 0, false);
        // A script of several statements runs as one batch.
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (3, 'c'); UPDATE t SET name = 'd'").await, -1);
        assert_eq!(one(&mut c, "SELECT count(*) FROM t WHERE name = 'd'").await, Value::Int(2));
    });
}

#[test]
fn the_mapped_role_decides_and_the_user_cannot_leave_it() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        assert_eq!(one(&mut c, "SELECT current_user::text").await, Value::Text(alice.clone()));
        // No GRANT on `secret`: PostgreSQL's own 42501.
        assert_error(&c.exec("SELECT x FROM secret", no_params()).await, "42501", 0, false);
        for escape in [
            "RESET ROLE",
            &format!("SET ROLE \"{}\"", db.role),
            "SET SESSION AUTHORIZATION DEFAULT",
            "SELECT set_config('role', 'none', false)",
            "DISCARD ALL",
            "RESET ALL",
        ] {
            assert_error(&c.exec(escape, no_params()).await, "42501", 0, false);
        }
        assert_error(&c.exec("SELECT x FROM secret", no_params()).await, "42501", 0, false);
        assert_eq!(one(&mut c, "SELECT current_user::text").await, Value::Text(alice.clone()));
        // A role change the guard cannot read (dynamic SQL) ends the session.
        let dynamic = "DO $$ BEGIN EXECUTE 'RE' || 'SET ' || 'RO' || 'LE'; END $$";
        let m = c.exec(dynamic, no_params()).await;
        assert_error(&m, "42501", 0, true);
        assert_eq!(c.recv().await, None, "the session is closed");
        // bob has no mapping (role_map = "table"): refused with 28000, the session stays.
        f.clock.advance(30);
        let mut b = logged_in(&f, "bob", "bob-pw").await;
        assert_error(&b.exec("SELECT 1", no_params()).await, "28000", 0, false);
        b.send(ClientMessage::Ping).await;
        assert_eq!(b.recv().await, Some(ServerMessage::Pong));
    });
    // A mapping to a role the login role is not a member of: 42501 at the first request.
    let (db, _alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, "pg_read_server_files", &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        let m = c.exec("SELECT 1", no_params()).await;
        assert_error(&m, "42501", 0, false);
    });
}

#[test]
fn a_cancel_stops_pg_sleep_and_the_session_goes_on() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = Client::connect(&f).await;
        let ServerMessage::FirstFactorOk { session_id, cancel_key, .. } = c.login("alice", "alice-pw").await else {
            panic!()
        };
        assert_eq!(c.code(&code_now(&f)).await, ServerMessage::SecondFactorOk);
        // The PostgreSQL session exists from the first request on (a cancel that arrives
        // while it is still connecting finds nothing to cancel; docs/postgres-sql.md).
        assert_eq!(one(&mut c, "SELECT 0").await, Value::Int(0));
        for sql in ["SELECT pg_sleep(30)", "SELECT count(*) FROM generate_series(1, 100000000000)"] {
            let started = Instant::now();
            c.send(ClientMessage::ExecDirect { sql: sql.into(), params: no_params(), fetch_rows: 0 }).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut k = Client::connect(&f).await;
            k.send(ClientMessage::Cancel { session_id, key: cancel_key.clone() }).await;
            assert_eq!(k.recv().await, Some(ServerMessage::Ok));
            assert_error(&c.recv().await.unwrap(), "HY008", 0, false);
            assert!(started.elapsed() < Duration::from_secs(5), "{sql}: {:?}", started.elapsed());
            assert_eq!(one(&mut c, "SELECT 1").await, Value::Int(1));
        }
    });
}

#[test]
fn postgresql_statement_timeout_is_hyt00_and_the_session_goes_on() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        assert_eq!(exec_ok(&mut c, "SET statement_timeout = 200").await, -1);
        let started = Instant::now();
        assert_error(&c.exec("SELECT pg_sleep(10)", no_params()).await, "HYT00", 0, false);
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(one(&mut c, "SELECT 1").await, Value::Int(1));
    });
}

#[test]
fn a_read_only_session_refuses_writes_with_25006_and_cannot_switch_back() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        let options = twofactor_protocol::SessionOptions { read_only: true, ..Default::default() };
        c.send(ClientMessage::SessionOptions(options)).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_error(&c.exec("INSERT INTO t (id, name) VALUES (1, 'a')", no_params()).await, "25006", 0, false);
        assert_error(&c.exec("SET default_transaction_read_only = off", no_params()).await, "25006", 0, false);
        assert_eq!(one(&mut c, "SELECT count(*) FROM t").await, Value::Int(0));
    });
}

#[path = "pg_sql/catalogs.rs"]
mod catalogs;
#[path = "pg_sql/markers.rs"]
mod markers;
#[path = "pg_sql/rollback.rs"]
mod rollback;
#[path = "pg_sql/streaming.rs"]
mod streaming;
