//! ODBC `?` markers on PostgreSQL: numbered for PostgreSQL, counted by Prepare, left alone
//! in a statement written with `$n`, and the documented escape for jsonb's `?` operator.

use super::*;

#[test]
fn question_marks_are_markers_and_the_jsonb_operator_has_an_escape() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        c.send(ClientMessage::Prepare { sql: "INSERT INTO t (id, name) VALUES (?, ? /* ? */)".into() }).await;
        match c.recv().await {
            Some(ServerMessage::Prepared { params, .. }) => {
                let types: Vec<i16> = params.iter().map(|p| p.sql_type).collect();
                assert_eq!(types, [sql_type::INTEGER, sql_type::VARCHAR]);
                // PostgreSQL describes parameters by type without its modifier: the
                // varchar(40) column's marker is an unsized varchar, "no limit".
                assert_eq!(params[1].column_size, 0);
            }
            other => panic!("{other:?}"),
        }
        let doc = "'{\"k\": 1}'::jsonb";
        let sql = format!("SELECT jsonb_exists({doc}, ?), ? || '?', \"name\" FROM (SELECT 'n' AS \"name\") x");
        let (_, rows) = query(&mut c, &sql, params(&[Value::Text("k".into()), Value::Text("a".into())])).await;
        assert_eq!(rows, [vec![Value::Bool(true), Value::Text("a?".into()), Value::Text("n".into())]]);
        // Written with $n, the statement keeps jsonb's own ? operator.
        let (_, rows) = query(&mut c, &format!("SELECT {doc} ? $1"), params(&[Value::Text("k".into())])).await;
        assert_eq!(rows, [vec![Value::Bool(true)]]);
        // Under the ODBC rule the operator is a marker: PostgreSQL sees `doc $1 'k'`.
        let m = c.exec(&format!("SELECT {doc} ? 'k'"), no_params()).await;
        assert_error(&m, "42601", 0, false);
        let ServerMessage::Error(e) = m else { panic!() };
        assert!(e.message.contains("\"$1\""), "{}", e.message);
    });
}
