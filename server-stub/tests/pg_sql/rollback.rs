//! `[sql.postgres] rollback_on_error`: in a manual-commit transaction an error undoes the
//! failed statement only (the default, a savepoint per statement), or aborts the
//! transaction (PostgreSQL's rule).

use super::*;

async fn manual_commit(c: &mut Client) {
    c.send(ClientMessage::SetAutocommit { on: false }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));
}

async fn end(c: &mut Client, commit: bool) {
    c.send(ClientMessage::EndTransaction { commit }).await;
    assert_eq!(c.recv().await, Some(ServerMessage::Ok));
}

async fn ids(c: &mut Client) -> Vec<Value> {
    let (_, rows) = query(c, "SELECT id FROM t ORDER BY id", no_params()).await;
    rows.into_iter().map(|r| r[0].clone()).collect()
}

fn ints(v: &[i64]) -> Vec<Value> {
    v.iter().map(|&i| Value::Int(i)).collect()
}

#[test]
fn an_error_undoes_only_its_statement_and_the_transaction_goes_on() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        manual_commit(&mut c).await;
        // The very first statement of a transaction fails: nothing to keep, nothing aborted.
        assert_error(&c.exec("INSERT INTO t (id, name) VALUES (1, NULL)", no_params()).await, "23502", 0, false);
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (1, 'a')").await, 1);
        // The statement's own SQLSTATE, then the transaction's earlier work is still there.
        assert_error(&c.exec("INSERT INTO t (id, name) VALUES (1, 'again')", no_params()).await, "23505", 0, false);
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (2, 'b')").await, 1);
        // A failed UPDATE of several rows is undone entirely (no row of it stays).
        let m = c.exec("UPDATE t SET name = CASE WHEN id = 2 THEN NULL ELSE 'changed' END", no_params()).await;
        assert_error(&m, "23502", 0, false);
        assert_eq!(one(&mut c, "SELECT count(*) FROM t WHERE name = 'changed'").await, Value::Int(0));
        // A syntax error at SQLPrepare and an error while a result streams.
        c.send(ClientMessage::Prepare { sql: "SELEC 1".into() }).await;
        assert_error(&c.recv().await.unwrap(), "42601", 0, false);
        let streamed = match c.exec("SELECT 1 / (x - 3) FROM generate_series(1, 5) x", no_params()).await {
            ServerMessage::ResultSet { .. } => {
                c.send(ClientMessage::Fetch { max_rows: 0 }).await;
                c.recv().await.unwrap()
            }
            other => other,
        };
        assert_error(&streamed, "22012", 0, false);
        // A parameter array with a bad row, ODBC ? markers.
        let mut rows = RowBatchBuilder::new(2);
        for id in [5, 1] {
            rows.push(ValueRef::Int(id));
            rows.push(ValueRef::Text("p"));
            rows.end_row();
        }
        let m = c.exec("INSERT INTO t (id, name) VALUES (?, ?)", rows.finish()).await;
        assert_error(&m, "23505", 0, false);
        assert_eq!(ids(&mut c).await, ints(&[1, 2]));
        end(&mut c, true).await;
        assert_eq!(ids(&mut c).await, ints(&[1, 2]));
        end(&mut c, true).await;
    });
}

#[test]
fn the_users_own_savepoints_work_beside_the_servers() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        manual_commit(&mut c).await;
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (1, 'a')").await, 1);
        exec_ok(&mut c, "SAVEPOINT mine").await;
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (2, 'b')").await, 1);
        assert_error(&c.exec("INSERT INTO t (id, name) VALUES (2, 'b')", no_params()).await, "23505", 0, false);
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (3, 'c')").await, 1);
        exec_ok(&mut c, "ROLLBACK TO SAVEPOINT mine").await;
        assert_eq!(ids(&mut c).await, ints(&[1]));
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (4, 'd')").await, 1);
        exec_ok(&mut c, "RELEASE SAVEPOINT mine").await;
        // A script: the failed script is undone as a whole.
        let m = c
            .exec("INSERT INTO t (id, name) VALUES (5, 'e'); INSERT INTO t (id, name) VALUES (4, 'x')", no_params())
            .await;
        assert_error(&m, "23505", 0, false);
        assert_error(&c.exec("RELEASE SAVEPOINT nonesuch", no_params()).await, "3B001", 0, false);
        // A failed savepoint statement of the user's own aborts the transaction, as
        // documented: the server's savepoint was released for it.
        assert_error(&c.exec("SELECT 1", no_params()).await, "25P02", 0, false);
        end(&mut c, false).await;
        assert_eq!(ids(&mut c).await, ints(&[]));
        end(&mut c, true).await;
    });
}

#[test]
fn with_transaction_rollback_an_error_aborts_the_transaction() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, transaction_rollback).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        manual_commit(&mut c).await;
        assert_eq!(exec_ok(&mut c, "INSERT INTO t (id, name) VALUES (1, 'a')").await, 1);
        assert_error(&c.exec("INSERT INTO t (id, name) VALUES (1, 'a')", no_params()).await, "23505", 0, false);
        assert_error(&c.exec("INSERT INTO t (id, name) VALUES (2, 'b')", no_params()).await, "25P02", 0, false);
        end(&mut c, false).await;
        assert_eq!(ids(&mut c).await, ints(&[]));
        end(&mut c, true).await;
    });
}

/// Statements per second inside one transaction, for docs/postgres-sql.md: run with
/// `--ignored --nocapture` (and `--release` for the documented figures).
#[test]
#[ignore = "a measurement, not a check"]
fn statements_per_second_in_a_transaction() {
    let server = shared_pg!();
    for (mode, tweak) in
        [("statement", (|_: &mut Config| {}) as fn(&mut Config)), ("transaction", transaction_rollback)]
    {
        let (db, alice, dir) = setup(server);
        run(async {
            let f = pg_start(&db, &alice, &dir, tweak).await;
            let mut c = logged_in(&f, "alice", "alice-pw").await;
            manual_commit(&mut c).await;
            let n = 2_000;
            let started = Instant::now();
            for id in 0..n {
                let m = c
                    .exec("INSERT INTO t (id, name) VALUES (?, ?)", params(&[Value::Int(id), Value::Text("n".into())]))
                    .await;
                assert_eq!(m, ServerMessage::ExecuteDone { row_count: 1 });
            }
            end(&mut c, true).await;
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "rollback_on_error = {mode}: {n} INSERTs in one transaction in {secs:.2} s, {:.0}/s",
                n as f64 / secs
            );
        });
    }
}
