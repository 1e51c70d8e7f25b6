//! What user SQL may not do on PostgreSQL: change the role or session authorization the
//! server set (which would let one user act as the login role, or as another user's
//! role), or end the server's transactions behind its back.
//!
//! PostgreSQL lets any session `RESET ROLE`, so the server refuses such statements before
//! they reach it. The check is lexical and deliberately coarse: it reads every word of
//! the text, string literals and function bodies included, and refuses when in doubt.
//! After each statement the worker also checks `current_user` (see `statement.rs`), which
//! catches a change built at run time (dynamic SQL in PL/pgSQL). docs/postgres-sql.md
//! says what a DBA should revoke so that nothing else can change the role.

use twofactor_protocol::ErrorInfo;

/// Words of `sql`, lower-cased, with quotes, punctuation and comments' markers as
/// separators; `u&` stays one word so Unicode-escaped names are seen.
pub(super) fn words(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in sql.chars() {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            cur.extend(c.to_lowercase());
        } else if c == '&' && (cur == "u") {
            cur.push('&');
            out.push(std::mem::take(&mut cur));
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if c == ';' {
                out.push(";".into());
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The statements of a script: `;` outside quotes, dollar quotes and comments ends one.
pub(super) fn top_level_statements(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                // $tag$ ... $tag$ (tag empty or an identifier)
                let tag_end = b[i + 1..].iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'));
                if let Some(n) = tag_end.filter(|&n| b.get(i + 1 + n) == Some(&b'$')) {
                    let tag = &sql[i..i + n + 2];
                    let body = i + n + 2;
                    i = sql[body..].find(tag).map_or(b.len(), |p| body + p + tag.len() - 1);
                }
            }
            b';' => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&sql[start.min(sql.len())..]);
    out
}

/// Why `sql` is refused, if it is.
pub fn check(sql: &str, read_only: bool) -> Result<(), ErrorInfo> {
    let w = words(sql);
    let refuse = |what: &str| {
        Err(ErrorInfo::new(
            b"42501",
            0,
            format!("{what} is not allowed in a TwoFactor session: the server sets the session's role"),
        ))
    };
    // The first word of the statement each word is in (`;` ends one, even in a string:
    // a function body's statements are read as statements).
    let mut statement_start = "";
    for (i, word) in w.iter().enumerate() {
        let next = |k: usize| w.get(i + k).map(String::as_str).unwrap_or("");
        if i == 0 || w[i - 1] == ";" {
            statement_start = word.as_str();
        }
        // `UPDATE staff SET role = ...` names a column.
        let sets_columns = matches!(statement_start, "update" | "insert" | "merge" | "with")
            && word == "set"
            && !matches!(next(1), "session" | "local");
        match word.as_str() {
            "set_config" => return refuse("set_config()"),
            "u&" => return refuse("a Unicode-escaped name or string (U&)"),
            "session_authorization" => return refuse("session_authorization"),
            "discard" => return refuse("DISCARD"),
            "set" | "reset" => {
                // SET [SESSION | LOCAL] ROLE, SET role = ..., RESET ROLE / ALL,
                // SET SESSION AUTHORIZATION, and a function's SET role clause.
                let mut k = 1;
                while matches!(next(k), "session" | "local") {
                    k += 1;
                }
                match next(k) {
                    "role" if !sets_columns => return refuse("changing the role"),
                    "authorization" => return refuse("SET SESSION AUTHORIZATION"),
                    "all" if word == "reset" => return refuse("RESET ALL"),
                    "characteristics" | "default_transaction_read_only" | "transaction_read_only" if read_only => {
                        return Err(ErrorInfo::new(b"25006", 0, "read-only SQL-transaction: the session is read-only"))
                    }
                    _ if next(k) == "transaction" && read_only && w[i..].windows(2).any(|p| p == ["read", "write"]) => {
                        return Err(ErrorInfo::new(b"25006", 0, "read-only SQL-transaction: the session is read-only"))
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    // Transaction control belongs to the ODBC calls (SQL_ATTR_AUTOCOMMIT, SQLEndTran):
    // the server tracks the transaction to stream results and to roll back on exit.
    for statement in top_level_statements(sql) {
        let w = words(statement);
        let first = w.first().map(String::as_str).unwrap_or("");
        let second = w.get(1).map(String::as_str).unwrap_or("");
        let control = match first {
            "begin" | "start" | "commit" | "end" | "abort" => true,
            "rollback" => second != "to",
            "prepare" => second == "transaction",
            _ => false,
        };
        if control {
            return Err(ErrorInfo::new(
                b"25000",
                0,
                "transaction statements are not allowed: use SQL_ATTR_AUTOCOMMIT and SQLEndTran (SAVEPOINT works)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> Option<String> {
        check(sql, false).err().map(|e| e.sqlstate_str().to_owned())
    }

    #[test]
    fn role_changes_are_refused_however_they_are_spelled() {
        for sql in [
            "RESET ROLE",
            "reset   role",
            "SET ROLE postgres",
            "set session role \"x\"",
            "SET LOCAL ROLE x",
            "SET role = 'x'",
            "SET \"role\" TO x",
            "SET SESSION AUTHORIZATION postgres",
            "RESET ALL",
            "DISCARD ALL",
            "SELECT set_config('role', 'x', false)",
            "select pg_catalog.SET_CONFIG('role','x',false)",
            "DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$",
            "DO $$ BEGIN UPDATE t SET role = 'x'; SET ROLE x; END $$",
            "UPDATE t SET a = 1; SET ROLE x",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET role = x AS 'select 1'",
            "SELECT * FROM U&\"\\0074\"",
            "show session_authorization",
        ] {
            assert_eq!(refused(sql).as_deref(), Some("42501"), "{sql}");
        }
    }

    #[test]
    fn ordinary_statements_pass() {
        for sql in [
            "SELECT role FROM staff WHERE role = 'admin'",
            "UPDATE staff SET role = 'admin' WHERE id = 1",
            "INSERT INTO staff VALUES (1) ON CONFLICT (id) DO UPDATE SET role = 'x'",
            "UPDATE t SET a = 1",
            "INSERT INTO roles (name) VALUES ('x')",
            "SET search_path = app",
            "SAVEPOINT a",
            "ROLLBACK TO SAVEPOINT a",
            "SELECT reset_count FROM t",
        ] {
            assert_eq!(refused(sql), None, "{sql}");
        }
    }

    #[test]
    fn function_bodies_may_end_blocks() {
        let body = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN RETURN 1; END; $f$";
        assert_eq!(refused(body), None);
        assert_eq!(refused("DO $$ BEGIN PERFORM 1; END $$"), None);
        assert_eq!(refused("SELECT 'a;commit'; SELECT 2"), None);
        assert_eq!(refused("SELECT 1; COMMIT"), Some("25000".into()));
    }

    #[test]
    fn transaction_statements_are_refused() {
        for sql in ["BEGIN", "commit", "ROLLBACK", "START TRANSACTION", "END", "PREPARE TRANSACTION 'x'"] {
            assert_eq!(refused(sql).as_deref(), Some("25000"), "{sql}");
        }
    }

    #[test]
    fn a_read_only_session_cannot_switch_itself_back() {
        assert!(check("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", true).is_err());
        assert!(check("SET default_transaction_read_only = off", true).is_err());
        assert!(check("SET TRANSACTION READ WRITE", true).is_err());
        assert!(check("SET default_transaction_read_only = off", false).is_ok());
    }
}
