//! PostgreSQL errors as the statement's ODBC error: PostgreSQL's own SQLSTATE and message
//! (its SQLSTATEs are the SQL standard's, which ODBC 3 uses), except a few ODBC names
//! differently. An error that is not the database's means the connection is gone.

use twofactor_protocol::ErrorInfo;

/// What a statement's error is, and whether the session can go on.
pub enum Failure {
    /// The statement failed; the session goes on.
    Statement(ErrorInfo),
    /// The connection to PostgreSQL is gone: this reply is 08S01, then the session ends.
    Lost(ErrorInfo),
}

impl Failure {
    pub fn info(&self) -> &ErrorInfo {
        match self {
            Failure::Statement(e) | Failure::Lost(e) => e,
        }
    }
}

impl From<ErrorInfo> for Failure {
    fn from(e: ErrorInfo) -> Self {
        Failure::Statement(e)
    }
}

pub fn backend_unavailable() -> ErrorInfo {
    ErrorInfo::new(b"08001", 0, "the server cannot reach its PostgreSQL database; try again later")
}

pub fn lost() -> ErrorInfo {
    ErrorInfo::new(b"08S01", 0, "the connection to the PostgreSQL database was lost; the session ends").fatal()
}

pub fn map_error(e: &postgres::Error) -> Failure {
    let Some(db) = e.as_db_error() else {
        return Failure::Lost(lost());
    };
    let code = db.code().code();
    let mut message = db.message().to_owned();
    if let Some(detail) = db.detail() {
        message.push_str(" (");
        message.push_str(detail);
        message.push(')');
    }
    let state: [u8; 5] = match code {
        // ODBC's names for a timeout (PostgreSQL's statement_timeout) and for cancelled.
        "57014" if db.message().contains("statement timeout") => *b"HYT00",
        "57014" => *b"HY008",
        // admin_shutdown, crash_shutdown, cannot_connect_now: the backend is going away.
        "57P01" | "57P02" | "57P03" => return Failure::Lost(lost()),
        c if c.len() == 5 && c.is_ascii() => {
            let mut s = [0u8; 5];
            s.copy_from_slice(c.as_bytes());
            s
        }
        _ => *b"HY000",
    };
    Failure::Statement(ErrorInfo::new(&state, 0, message))
}

/// `name` as a PostgreSQL quoted identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote_ident("alice"), "\"alice\"");
        assert_eq!(quote_ident("a\"; RESET ROLE; --"), "\"a\"\"; RESET ROLE; --\"");
    }
}
