//! `ReadOnly` sessions.

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::Connection;

/// `ReadOnly`: SQLite's query_only refuses every write of this connection (and only this
/// one) with SQLITE_READONLY, which map_error reports as 25006. An authorizer keeps the
/// session's own SQL from switching it off again; statements prepared before are dropped
/// from the cache so that each is checked anew.
pub fn set(conn: &Connection, on: bool) -> rusqlite::Result<()> {
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    conn.execute_batch(if on { "PRAGMA query_only = 1" } else { "PRAGMA query_only = 0" })?;
    conn.flush_prepared_statement_cache();
    if on {
        conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
            AuthAction::Pragma { pragma_name, pragma_value: Some(_) }
                if pragma_name.eq_ignore_ascii_case("query_only") =>
            {
                Authorization::Deny
            }
            _ => Authorization::Allow,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::sqlite::errors::map_error;

    #[test]
    fn a_read_only_connection_refuses_writes_with_25006_and_cannot_switch_itself_back() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)").unwrap();
        // Prepared (and cached) while writable: still refused once read-only.
        conn.prepare_cached("INSERT INTO t VALUES (2)").unwrap().execute([]).unwrap();
        set(&conn, true).unwrap();
        let state = |sql: &str| map_error(&conn.execute_batch(sql).unwrap_err()).sqlstate_str().to_owned();
        assert_eq!(
            map_error(&conn.prepare_cached("INSERT INTO t VALUES (2)").unwrap().execute([]).unwrap_err())
                .sqlstate_str(),
            "25006"
        );
        assert_eq!(state("CREATE TABLE u (x)"), "25006");
        assert_eq!(state("PRAGMA query_only = 0"), "25006");
        assert_eq!(state("PRAGMA QUERY_ONLY=false"), "25006");
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2, "reads work");
        set(&conn, false).unwrap();
        conn.execute_batch("INSERT INTO t VALUES (3)").unwrap();
    }
}
