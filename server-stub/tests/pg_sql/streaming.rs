//! Streaming, the rate of small statements, and PostgreSQL going away under a session.

use super::*;

/// The server's resident memory, in KiB (the server runs in this test process).
fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_million_row_select_streams_in_batches_with_flat_memory() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        // 1M rows of ~110 bytes: ~110 MB if the server held the result.
        let sql = "SELECT i, repeat('x', 100) FROM generate_series(1, 1000000) i";
        let fetch = 5000;
        c.send(ClientMessage::ExecDirect { sql: sql.into(), params: no_params(), fetch_rows: fetch }).await;
        assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
        let before = vm_rss_kib();
        let (mut rows, mut peak, mut biggest, mut last_id) = (0usize, before, 0usize, 0i64);
        let started = Instant::now();
        loop {
            let Some(ServerMessage::Rows { batch, last }) = c.recv().await else { panic!() };
            biggest = biggest.max(batch.rows());
            rows += batch.rows();
            if batch.rows() > 0 {
                let ValueRef::Int(id) = batch.value(batch.rows() - 1, 0) else { panic!() };
                last_id = id;
            }
            if rows % 100_000 < fetch as usize {
                peak = peak.max(vm_rss_kib());
            }
            if last {
                break;
            }
            c.send(ClientMessage::Fetch { max_rows: fetch }).await;
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "1M rows in {secs:.2}s ({:.0} rows/s); VmRSS {before} KiB -> peak {peak} KiB; biggest batch {biggest}",
            rows as f64 / secs
        );
        assert_eq!((rows, last_id), (1_000_000, 1_000_000));
        assert!(biggest <= fetch as usize);
        assert!(peak < before + 40 * 1024, "memory grew from {before} KiB to {peak} KiB");
        // The portal's transaction ended with the cursor: the session is idle again.
        assert_eq!(one(&mut c, "SELECT 1").await, Value::Int(1));
    });
}

#[test]
fn small_statements_run_one_after_another_at_a_measured_rate() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        let n = 2000;
        let started = Instant::now();
        for i in 0..n {
            let p = params(&[Value::Int(i), Value::Text("n".into())]);
            assert_eq!(
                c.exec("INSERT INTO t (id, name) VALUES ($1, $2)", p).await,
                ServerMessage::ExecuteDone { row_count: 1 }
            );
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!("{n} autocommit INSERTs by ExecDirect in {secs:.2}s: {:.0} statements/s", n as f64 / secs);
        assert_eq!(one(&mut c, "SELECT count(*) FROM t").await, Value::Int(n));
    });
}

#[test]
fn losing_postgresql_ends_running_sessions_with_08s01_and_new_ones_connect_when_it_is_back() {
    let Some(pg) = PgServer::private() else { return };
    let (db, alice, dir) = setup(&pg);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        assert_eq!(one(&mut c, "SELECT 1").await, Value::Int(1));
        blocking(|| pg.stop());
        let m = c.exec("SELECT 2", no_params()).await;
        assert_error(&m, "08S01", 0, true);
        assert_eq!(c.recv().await, None, "the session ended");
        // A new session is told PostgreSQL is unreachable and stays logged in.
        f.clock.advance(30);
        let mut d = logged_in(&f, "alice", "alice-pw").await;
        assert_error(&d.exec("SELECT 3", no_params()).await, "08001", 0, false);
        blocking(|| pg.start_again());
        assert_eq!(one(&mut d, "SELECT 4").await, Value::Int(4));
        f.clock.advance(30);
        let mut e = logged_in(&f, "alice", "alice-pw").await;
        assert_eq!(one(&mut e, "SELECT 5").await, Value::Int(5));
    });
}

#[test]
fn another_request_closes_the_open_cursor_and_its_transaction() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        let sql = "SELECT i FROM generate_series(1, 100) i";
        c.send(ClientMessage::ExecDirect { sql: sql.into(), params: no_params(), fetch_rows: 10 }).await;
        assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
        let Some(ServerMessage::Rows { batch, last: false }) = c.recv().await else { panic!() };
        assert_eq!(batch.rows(), 10);
        // An INSERT while the cursor is open: the cursor ends (its transaction commits)
        // and the INSERT runs on its own, committed at once.
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (1, 'a')").await, 1);
        c.send(ClientMessage::Fetch { max_rows: 10 }).await;
        assert_error(&c.recv().await.unwrap(), "24000", 0, false);
        let owner_sees = blocking(|| db.client().query_one("SELECT count(*) FROM t", &[]).unwrap().get::<_, i64>(0));
        assert_eq!(owner_sees, 1);
        // CloseCursor ends one early too.
        c.send(ClientMessage::ExecDirect { sql: sql.into(), params: no_params(), fetch_rows: 10 }).await;
        assert!(matches!(c.recv().await, Some(ServerMessage::ResultSet { .. })));
        assert!(matches!(c.recv().await, Some(ServerMessage::Rows { last: false, .. })));
        c.send(ClientMessage::CloseCursor).await;
        assert_eq!(c.recv().await, Some(ServerMessage::Ok));
        assert_eq!(one(&mut c, "SELECT 2").await, Value::Int(2));
    });
}
