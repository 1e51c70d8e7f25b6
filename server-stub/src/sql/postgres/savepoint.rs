//! Statement-level rollback (`[sql.postgres] rollback_on_error = "statement"`, the
//! default): inside a manual-commit transaction an error undoes only the failed
//! statement, as ODBC applications written for other databases expect (psqlODBC's
//! statement-level rollback), instead of PostgreSQL's rule that the whole transaction is
//! aborted (25P02) until the application rolls back.
//!
//! The server keeps one savepoint of its own, [`NAME`], as the most recent savepoint of
//! the transaction. The first statement of a transaction sets it (one round trip per
//! transaction); after each statement that succeeded it is moved past that statement in
//! the round trip of the role check that already follows every statement
//! (`RELEASE SAVEPOINT ...; SAVEPOINT ...; SELECT current_user`, one simple query), so a
//! statement that succeeds costs no extra round trip. A failed statement costs one:
//! `ROLLBACK TO SAVEPOINT`, after the statement's own error has been sent.
//!
//! A statement that manages savepoints itself (`SAVEPOINT`, `RELEASE`, `ROLLBACK TO`)
//! runs with the server's savepoint released first (so that releasing or rolling back to
//! the user's savepoint cannot release the server's, or the server's RELEASE the user's);
//! if such a statement fails, the transaction is aborted, PostgreSQL's rule.

use postgres::Transaction;

use super::errors::{map_error, Failure};
use super::guard;
use super::worker::SessionState;
use crate::config::RollbackOnError;

pub const NAME: &str = "twofactor_statement";

/// Where the server's savepoint is in the open transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Savepoint {
    /// `rollback_on_error = "transaction"`, or no transaction open.
    Off,
    /// Not set yet (a new transaction), or released before a user's savepoint statement.
    Unset,
    /// Set, and the most recent savepoint of the transaction.
    Top,
}

impl Savepoint {
    /// The state for a transaction that just began.
    pub fn for_new_transaction(mode: RollbackOnError) -> Savepoint {
        match mode {
            RollbackOnError::Statement => Savepoint::Unset,
            RollbackOnError::Transaction => Savepoint::Off,
        }
    }
}

/// Whether any statement of `sql` is `SAVEPOINT`, `RELEASE` or `ROLLBACK TO`.
pub fn manages_savepoints(sql: &str) -> bool {
    guard::top_level_statements(sql).into_iter().any(|statement| {
        let w = guard::words(statement);
        match w.first().map(String::as_str) {
            Some("savepoint" | "release") => true,
            Some("rollback") => w.get(1).is_some_and(|s| s == "to"),
            _ => false,
        }
    })
}

impl SessionState {
    /// Before a statement in the open transaction: makes the server's savepoint what the
    /// statement needs (set for an ordinary statement, released for one that manages
    /// savepoints itself).
    pub fn before_statement(&mut self, tx: &mut Transaction<'_>, manages: bool) -> Result<(), Failure> {
        let sql = match (self.savepoint, manages) {
            (Savepoint::Unset, false) => format!("SAVEPOINT {NAME}"),
            (Savepoint::Top, true) => format!("RELEASE SAVEPOINT {NAME}"),
            _ => return Ok(()),
        };
        tx.batch_execute(&sql).map_err(|e| map_error(&e))?;
        self.savepoint = if manages { Savepoint::Unset } else { Savepoint::Top };
        Ok(())
    }

    /// After a statement in the open transaction: a failed one is undone (its error was
    /// already sent). A succeeded one moved the savepoint in its role check.
    pub fn after_statement(&mut self, tx: &mut Transaction<'_>) {
        if !std::mem::take(&mut self.statement_failed) || self.savepoint != Savepoint::Top || self.fatal.is_some() {
            return;
        }
        let rollback = format!("ROLLBACK TO SAVEPOINT {NAME}");
        // A cancel sent again for the statement that just failed (mod.rs resends it every
        // 300 ms while the request runs) can land on this; once more is then enough.
        let result = tx.batch_execute(&rollback).or_else(|e| match map_error(&e) {
            Failure::Statement(info) if info.sqlstate_str() == "HY008" => tx.batch_execute(&rollback),
            _ => Err(e),
        });
        if let Err(e) = result {
            // The transaction stays aborted (25P02) until the application rolls back.
            self.savepoint = Savepoint::Unset;
            if let Failure::Lost(info) = map_error(&e) {
                self.note_fatal(Failure::Lost(info));
            }
        }
    }
}

/// The role check's query, with the server's savepoint moved past the statement that just
/// succeeded when the session keeps one (`in_transaction`: the check runs in the
/// session's open transaction).
pub fn role_check_sql(in_transaction: bool, savepoint: Savepoint) -> &'static str {
    match (in_transaction, savepoint) {
        (true, Savepoint::Top) => {
            "RELEASE SAVEPOINT twofactor_statement; SAVEPOINT twofactor_statement; SELECT current_user"
        }
        (true, Savepoint::Unset) => "SAVEPOINT twofactor_statement; SELECT current_user",
        _ => "SELECT current_user",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn savepoint_statements_are_recognised_in_scripts() {
        assert!(manages_savepoints("SAVEPOINT a"));
        assert!(manages_savepoints("insert into t values (1); release a"));
        assert!(manages_savepoints("ROLLBACK TO SAVEPOINT a"));
        assert!(manages_savepoints("rollback to a"));
        assert!(!manages_savepoints("SELECT 'savepoint'"));
        assert!(!manages_savepoints("UPDATE t SET release = 1"));
    }

    #[test]
    fn the_role_check_queries_name_the_savepoint() {
        for state in [Savepoint::Top, Savepoint::Unset] {
            assert!(role_check_sql(true, state).contains(&format!("SAVEPOINT {NAME};")));
        }
        assert_eq!(role_check_sql(false, Savepoint::Top), "SELECT current_user");
        assert_eq!(role_check_sql(true, Savepoint::Off), "SELECT current_user");
    }
}
