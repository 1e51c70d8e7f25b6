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
use twofactor_server::config::{RoleMap, SqlBackend, SqlPostgresSection};
use twofactor_server::Config;

/// Points `config` at `db`, mapping alice to `alice_role`.
fn use_postgres(config: &mut Config, db: &TestDb<'_>, alice_role: &str, dir: &std::path::Path) {
    config.sql.backend = SqlBackend::Postgres;
    config.sql.postgres = Some(SqlPostgresSection {
        url: db.url(),
        ca_file: db.ca_file.clone(),
        password_file: Some(db.password_file(dir)),
        role_map: RoleMap::Table,
        connect_timeout_secs: 5,
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
               ARRAY[1, NULL, 3], ARRAY['a b', 'c'], NULL::int4, 'NaN'::numeric, -0.0050::numeric";
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
                NUMERIC
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
        // The values PostgreSQL prints the same way, checked against its own text output.
        let (_, text) = query(&mut c, &format!("SELECT ROW(q.*)::text FROM ({sql}) q"), no_params()).await;
        assert!(matches!(&text[0][0], Value::Text(s) if s.contains("\"1 year 2 mons 3 days 04:05:06\"")));
    });
}
