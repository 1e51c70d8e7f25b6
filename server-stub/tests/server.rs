//! The real server on 127.0.0.1 port 0 with real TLS, spoken to over the protocol crate.

mod common;

use common::*;
use std::time::Duration;

use twofactor_protocol::{
    CatalogRequest, ClientMessage, RowBatchBuilder, SecondFactor, ServerMessage, Value, ValueRef,
};
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_then_code_then_sql_that_streams() {
    let f = start(|_| {}).await;
    let mut c = Client::connect(&f).await;
    match c.login("alice", "alice-pw").await {
        ServerMessage::FirstFactorOk { second_factor: SecondFactor::Required { seconds_left, .. }, .. } => {
            assert_eq!(seconds_left, 120)
        }
        other => panic!("{other:?}"),
    }
    // SQL before the code is refused, and the session stays open.
    let m = c.exec("SELECT 1", no_params()).await;
    assert_error(&m, "28000", 1004, false);
    c.send(ClientMessage::Ping).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Pong));
    assert_eq!(c.code(&code_now(&f)).await, ServerMessage::SecondFactorOk);

    let m = c
        .exec(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL, price DECIMAL(10,2), at TIMESTAMP)",
            no_params(),
        )
        .await;
    assert_eq!(m, ServerMessage::ExecuteDone { row_count: -1 });
    let mut one = RowBatchBuilder::new(4);
    for v in [
        Value::Int(0),
        Value::Text("zero".into()),
        Value::Decimal("1.50".into()),
        Value::Text("2024-01-02 03:04:05".into()),
    ] {
        one.push(v.as_ref());
    }
    one.end_row();
    let m = c.exec("INSERT INTO t VALUES (?, ?, ?, ?)", one.finish()).await;
    assert_eq!(m, ServerMessage::ExecuteDone { row_count: 1 });

    let mut many = RowBatchBuilder::new(2);
    for i in 1..=1000 {
        many.push(ValueRef::Int(i));
        many.push(ValueRef::Text(&format!("row {i}")));
        many.end_row();
    }
    let m = c.exec("INSERT INTO t (id, name) VALUES (?, ?)", many.finish()).await;
    assert_eq!(m, ServerMessage::ExecuteDone { row_count: 1000 });

    // A failing row rolls the whole array back and says which row.
    let mut bad = RowBatchBuilder::new(2);
    for (id, name) in [(2000, Some("ok")), (2001, None)] {
        bad.push(ValueRef::Int(id));
        bad.push(name.map_or(ValueRef::Null, ValueRef::Text));
        bad.end_row();
    }
    match c.exec("INSERT INTO t (id, name) VALUES (?, ?)", bad.finish()).await {
        ServerMessage::Error(e) => {
            assert_eq!(e.sqlstate_str(), "23000");
            assert!(e.message.starts_with("parameter row 2:"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }

    c.send(ClientMessage::ExecDirect {
        sql: "SELECT id, name, price, at FROM t ORDER BY id".into(),
        params: no_params(),
        fetch_rows: 300,
    })
    .await;
    let ServerMessage::ResultSet { columns } = c.recv().await.unwrap() else { panic!("no result set") };
    assert_eq!(columns.len(), 4);
    assert_eq!(columns[1].column_size, 20);
    assert_eq!(columns[1].table_name, "t");
    assert_eq!(columns[1].nullable, twofactor_protocol::Nullability::NoNulls);
    let mut seen = 0usize;
    let mut batches = 0;
    loop {
        let Some(ServerMessage::Rows { batch, last }) = c.recv().await else { panic!("no rows") };
        batches += 1;
        assert!(batch.rows() <= 300);
        for r in 0..batch.rows() {
            assert_eq!(batch.value(r, 0), ValueRef::Int(seen as i64));
            if seen == 0 {
                assert_eq!(batch.value(r, 2), ValueRef::Decimal("1.50"));
                assert!(
                    matches!(batch.value(r, 3), ValueRef::Timestamp(ts) if ts.date.year == 2024 && ts.time.second == 5)
                );
            } else {
                assert_eq!(batch.value(r, 1), ValueRef::Text(&format!("row {seen}")));
                assert_eq!(batch.value(r, 2), ValueRef::Null);
            }
            seen += 1;
        }
        if last {
            break;
        }
        c.send(ClientMessage::Fetch { max_rows: 300 }).await;
    }
    assert_eq!((seen, batches), (1001, 4));
    c.send(ClientMessage::Fetch { max_rows: 10 }).await;
    assert_error(&c.recv().await.unwrap(), "24000", 0, false);

    // Expression columns take their type from the first row.
    c.send(ClientMessage::ExecDirect { sql: "SELECT 1 + 1, 'x'".into(), params: no_params(), fetch_rows: 0 }).await;
    let Some(ServerMessage::ResultSet { columns }) = c.recv().await else { panic!() };
    assert_eq!(columns[0].sql_type, twofactor_protocol::sql_type::BIGINT);
    assert_eq!(columns[1].sql_type, twofactor_protocol::sql_type::VARCHAR);
    assert!(matches!(c.recv().await, Some(ServerMessage::Rows { last: true, .. })));

    // Closing a cursor early, then running another statement.
    c.send(ClientMessage::ExecDirect { sql: "SELECT id FROM t".into(), params: no_params(), fetch_rows: 10 }).await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
    assert!(matches!(c.recv().await, Some(ServerMessage::Rows { last: false, .. })));
    c.send(ClientMessage::CloseCursor).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));

    c.send(ClientMessage::Catalog {
        request: CatalogRequest::Tables {
            catalog: None,
            schema: None,
            table: Some("%".into()),
            table_types: Some("TABLE".into()),
        },
        fetch_rows: 0,
    })
    .await;
    let Some(ServerMessage::ResultSet { columns }) = c.recv().await else { panic!() };
    assert_eq!(
        columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS"]
    );
    let Some(ServerMessage::Rows { batch, last: true }) = c.recv().await else { panic!() };
    assert_eq!(batch.rows(), 1);
    assert_eq!(batch.value(0, 2), ValueRef::Text("t"));

    c.send(ClientMessage::Catalog {
        request: CatalogRequest::Columns { catalog: None, schema: None, table: Some("t".into()), column: None },
        fetch_rows: 0,
    })
    .await;
    let Some(ServerMessage::ResultSet { columns }) = c.recv().await else { panic!() };
    assert_eq!(columns.len(), 18);
    let Some(ServerMessage::Rows { batch, .. }) = c.recv().await else { panic!() };
    assert_eq!(batch.rows(), 4);
    assert_eq!(batch.value(3, 3), ValueRef::Text("at"));
    assert_eq!(batch.value(3, 4), ValueRef::Int(93));

    assert_error(&c.exec("SELECT * FROM missing", no_params()).await, "42S02", 1, false);
    assert_error(&c.exec("SELEKT", no_params()).await, "42000", 1, false);
    assert_error(&c.exec("SELECT ?", no_params()).await, "07002", 0, false);

    // Prepared statements and manual transactions.
    c.send(ClientMessage::Prepare { sql: "INSERT INTO t (id, name) VALUES (?, ?)".into() }).await;
    let Some(ServerMessage::Prepared { statement_id, params, columns }) = c.recv().await else { panic!() };
    assert_eq!((params.len(), columns.len()), (2, 0));
    c.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));
    let mut row = RowBatchBuilder::new(2);
    row.push(ValueRef::Int(5000));
    row.push(ValueRef::Text("rolled back"));
    row.end_row();
    c.send(ClientMessage::Execute { statement_id, params: row.finish(), fetch_rows: 0 }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::ExecuteDone { row_count: 1 }));
    c.send(ClientMessage::EndTransaction { commit: false }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));
    c.send(ClientMessage::ExecDirect {
        sql: "SELECT count(*) FROM t WHERE id = 5000".into(),
        params: no_params(),
        fetch_rows: 0,
    })
    .await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
    let Some(ServerMessage::Rows { batch, .. }) = c.recv().await else { panic!() };
    assert_eq!(batch.value(0, 0), ValueRef::Int(0));

    // A code when none is pending is fine.
    assert_eq!(c.code("123456").await, ServerMessage::Ok);
    c.send(ClientMessage::Terminate).await;
    assert_eq!(c.recv().await, None);
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_is_refused_and_closes_the_connection() {
    let f = start(|_| {}).await;
    let mut c = Client::connect(&f).await;
    c.login("alice", "alice-pw").await;
    let wrong = wrong_code(&f);
    assert_error(&c.code(&wrong).await, "28000", 1002, true);
    assert_eq!(c.recv().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let f = start(|_| {}).await;
    let mut c = Client::connect(&f).await;
    assert_error(&c.login("alice", "nope").await, "28000", 1001, true);
    assert_eq!(c.recv().await, None);
    let mut c = Client::connect(&f).await;
    assert_error(&c.login("nobody", "nope").await, "28000", 1001, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_is_refused_on_a_new_connection() {
    let f = start(|_| {}).await;
    let code = code_now(&f);
    let _first = logged_in(&f, "alice", "alice-pw").await;
    let mut c = Client::connect(&f).await;
    c.login("alice", "alice-pw").await;
    assert_error(&c.code(&code).await, "28000", 1002, true);
    // The next step's code works.
    f.clock.advance(30);
    let _again = logged_in(&f, "alice", "alice-pw").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_codes_lock_the_account() {
    let f = start(|_| {}).await;
    for attempt in 1..=5 {
        let mut c = Client::connect(&f).await;
        c.login("bob", "bob-pw").await;
        let wrong = wrong_code(&f);
        let native = if attempt == 5 { 1003 } else { 1002 };
        assert_error(&c.code(&wrong).await, "28000", native, true);
    }
    let mut c = Client::connect(&f).await;
    assert_error(&c.login("bob", "bob-pw").await, "28000", 1003, true);
    // The lock runs out.
    f.clock.advance(900);
    let _c = logged_in(&f, "bob", "bob-pw").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_closes_only_its_connection() {
    let f = start(|_| {}).await;
    let mut good = logged_in(&f, "alice", "alice-pw").await;
    let mut bad = Client::connect(&f).await;
    bad.send_raw(&[0x7F, 0, 0, 0, 0]).await;
    assert_error(&bad.recv().await.unwrap(), "08S01", 2001, true);
    assert_eq!(bad.recv().await, None);
    // Oversized before login.
    let mut big = Client::connect(&f).await;
    big.send_raw(&[0x02, 0xFF, 0xFF, 0xFF, 0x00]).await;
    assert_error(&big.recv().await.unwrap(), "08S01", 2001, true);
    good.send(ClientMessage::Ping).await;
    assert_eq!(good.recv().await, Some(ServerMessage::Pong));
    assert!(matches!(good.exec("SELECT 42", no_params()).await, ServerMessage::ResultSet { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_factor_times_out() {
    let f = start(|c| c.auth.two_factor_timeout_secs = 1).await;
    let mut c = Client::connect(&f).await;
    c.login("alice", "alice-pw").await;
    assert_error(&c.recv().await.unwrap(), "08S01", 1005, true);
    assert_eq!(c.recv().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unenrolled_users_are_refused_and_two_factor_can_be_switched_off() {
    let f = start(|c| c.auth.two_factor = true).await;
    let mut c = Client::connect(&f).await;
    assert_error(&c.login("carol", "carol-pw").await, "28000", 1006, true);
    let f2 = start(|c| c.auth.two_factor = false).await;
    let mut c = Client::connect(&f2).await;
    match c.login("carol", "carol-pw").await {
        ServerMessage::FirstFactorOk { second_factor: SecondFactor::NotRequired, .. } => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.exec("SELECT 1", no_params()).await, ServerMessage::ResultSet { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_interrupts_a_running_statement() {
    let f = start(|_| {}).await;
    let mut c = Client::connect(&f).await;
    let ServerMessage::FirstFactorOk { session_id, cancel_key, .. } = c.login("alice", "alice-pw").await else {
        panic!()
    };
    assert_eq!(c.code(&code_now(&f)).await, ServerMessage::SecondFactorOk);
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";
    c.send(ClientMessage::ExecDirect { sql: endless.into(), params: no_params(), fetch_rows: 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut k = Client::connect(&f).await;
    k.send(ClientMessage::Cancel { session_id, key: cancel_key }).await;
    assert_eq!(k.recv().await, Some(ServerMessage::Ok));
    assert_error(&c.recv().await.unwrap(), "HY008", 9, false);
    c.send(ClientMessage::Ping).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Pong));
}

/// The SQL worker starts at the first request that needs SQLite: settings made before are
/// kept and applied, and there is nothing to commit or cancel until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_sql_yet_answers_settings_transactions_and_cancel() {
    let f = start(|_| {}).await;
    let mut c = Client::connect(&f).await;
    let ServerMessage::FirstFactorOk { session_id, cancel_key, .. } = c.login("alice", "alice-pw").await else {
        panic!()
    };
    assert_eq!(c.code(&code_now(&f)).await, ServerMessage::SecondFactorOk);
    for m in [
        ClientMessage::SetAutocommit { on: false },
        ClientMessage::EndTransaction { commit: true },
        ClientMessage::EndTransaction { commit: false },
        ClientMessage::CloseCursor,
        ClientMessage::CloseStatement { statement_id: 7 },
    ] {
        c.send(m).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
    }
    let mut k = Client::connect(&f).await;
    k.send(ClientMessage::Cancel { session_id, key: cancel_key }).await;
    assert_eq!(k.recv().await, Some(ServerMessage::Ok));
    c.send(ClientMessage::Ping).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Pong));
    // Autocommit was switched off before the worker existed: the table is rolled back.
    let m = c.exec("CREATE TABLE lazy (x)", no_params()).await;
    assert_eq!(m, ServerMessage::ExecuteDone { row_count: -1 });
    c.send(ClientMessage::EndTransaction { commit: false }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));
    let m = c.exec("SELECT count(*) FROM sqlite_master WHERE name = 'lazy'", no_params()).await;
    assert!(matches!(m, ServerMessage::ResultSet { .. }), "{m:?}");
    let Some(ServerMessage::Rows { batch, .. }) = c.recv().await else { panic!() };
    assert_eq!(batch.value(0, 0), ValueRef::Int(0));
    f.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_open_fails_the_request_not_the_session() {
    let f = start(|c| c.sql.database = "no such directory/data.db".into()).await;
    let mut c = logged_in(&f, "alice", "alice-pw").await;
    let m = c.exec("SELECT 1", no_params()).await;
    assert_error(&m, "HY000", 0, false);
    c.send(ClientMessage::Ping).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Pong));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_stop_near_one_mebibyte_and_a_long_result_streams() {
    let f = start(|_| {}).await;
    let mut c = logged_in(&f, "alice", "alice-pw").await;
    let blobs = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30) SELECT i, zeroblob(100000) FROM n";
    c.send(ClientMessage::ExecDirect { sql: blobs.into(), params: no_params(), fetch_rows: 1000 }).await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
    let Some(ServerMessage::Rows { batch, last: false }) = c.recv().await else { panic!("expected a partial batch") };
    assert!((10..=12).contains(&batch.rows()), "{} rows", batch.rows());
    c.send(ClientMessage::CloseCursor).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));

    let many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) SELECT i FROM n";
    c.send(ClientMessage::ExecDirect { sql: many.into(), params: no_params(), fetch_rows: 5000 }).await;
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
    let mut total = 0;
    loop {
        let Some(ServerMessage::Rows { batch, last }) = c.recv().await else { panic!() };
        total += batch.rows();
        if last {
            break;
        }
        c.send(ClientMessage::Fetch { max_rows: 0 }).await;
    }
    assert_eq!(total, 200_000);
}

/// The login runs on the handshake runtime and the session moves to the server's runtime
/// when it is logged in: requests the client sent in the same write as its code (already in
/// the server's buffers, or still in the socket, at the move) are answered all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sent_with_the_code_are_answered_after_the_session_moves() {
    let f = start(|_| {}).await;
    let mut c = Client::connect(&f).await;
    assert!(matches!(c.login("alice", "alice-pw").await, ServerMessage::FirstFactorOk { .. }));
    let mut out = Vec::new();
    ClientMessage::SecondFactor { code: code_now(&f).into() }.encode(&mut out);
    ClientMessage::ExecDirect { sql: "SELECT 41 + 1".into(), params: no_params(), fetch_rows: 10 }.encode(&mut out);
    ClientMessage::Ping.encode(&mut out);
    c.send_raw(&out).await;
    assert_eq!(c.recv().await, Some(ServerMessage::SecondFactorOk));
    assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
    let Some(ServerMessage::Rows { batch, last: true }) = c.recv().await else { panic!("no rows") };
    assert_eq!((batch.rows(), batch.value(0, 0)), (1, ValueRef::Int(42)));
    assert_eq!(c.recv().await, Some(ServerMessage::Pong));
    // And the session goes on as any other.
    c.send(ClientMessage::Ping).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Pong));
}
