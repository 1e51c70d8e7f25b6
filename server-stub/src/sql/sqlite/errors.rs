//! SQLite errors as ODBC SQLSTATEs. The native code is SQLite's extended result code.

use rusqlite::ErrorCode;
use twofactor_protocol::ErrorInfo;

pub fn map_error(e: &rusqlite::Error) -> ErrorInfo {
    let failure = match e {
        rusqlite::Error::SqliteFailure(f, msg) => Some((f, msg.clone())),
        rusqlite::Error::SqlInputError { error, msg, .. } => Some((error, Some(msg.clone()))),
        _ => None,
    };
    if let Some((f, msg)) = failure {
        let text = msg.unwrap_or_else(|| f.to_string());
        {
            let lower = text.to_ascii_lowercase();
            let state: &[u8; 5] = match f.code {
                ErrorCode::OperationInterrupted => {
                    return ErrorInfo::new(b"HY008", f.extended_code, "operation cancelled")
                }
                ErrorCode::ConstraintViolation => b"23000",
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => b"HYT00",
                ErrorCode::TypeMismatch => b"22018",
                ErrorCode::TooBig => b"22001",
                // PRAGMA query_only (a ReadOnly session) or a read-only database file; the
                // only authorizer is the one that keeps a ReadOnly session read-only.
                ErrorCode::ReadOnly | ErrorCode::AuthorizationForStatementDenied => {
                    return ErrorInfo::new(b"25006", f.extended_code, format!("read-only SQL-transaction: {text}"))
                }
                _ if lower.contains("syntax error") || lower.contains("incomplete input") => b"42000",
                _ if lower.contains("no such table") || lower.contains("no such view") => b"42S02",
                _ if lower.contains("no such column") => b"42S22",
                _ if lower.contains("no such index") => b"42S12",
                _ if lower.contains("already exists") => b"42S01",
                _ => b"HY000",
            };
            return ErrorInfo::new(state, f.extended_code, text);
        }
    }
    match e {
        rusqlite::Error::InvalidParameterCount(got, want) => {
            ErrorInfo::new(b"07002", 0, format!("statement has {want} parameter markers; {got} values were bound"))
        }
        rusqlite::Error::MultipleStatement => ErrorInfo::new(b"42000", 0, "only one SQL statement per request"),
        rusqlite::Error::Utf8Error(_) | rusqlite::Error::NulError(_) => ErrorInfo::new(b"22018", 0, e.to_string()),
        other => ErrorInfo::new(b"HY000", 0, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_of(sql: &str) -> String {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").unwrap();
        let e = c.execute_batch(sql).unwrap_err();
        map_error(&e).sqlstate_str().to_owned()
    }

    #[test]
    fn sqlite_errors_map_to_sqlstates() {
        assert_eq!(state_of("SELEC 1"), "42000");
        assert_eq!(state_of("SELECT * FROM nope"), "42S02");
        assert_eq!(state_of("SELECT nope FROM t"), "42S22");
        assert_eq!(state_of("CREATE TABLE t (x)"), "42S01");
        assert_eq!(state_of("INSERT INTO t (v) VALUES (NULL)"), "23000");
        assert_eq!(state_of("INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (1, 'b')"), "23000");
        assert_eq!(state_of("PRAGMA query_only = 1; INSERT INTO t (v) VALUES ('a')"), "25006");
    }
}
