//! The store's statements go through SQLite's prepared-statement cache of its connection.
//!
//! `Connection::execute` and `query_row` parse and plan their SQL on every call; a login
//! runs about a dozen statements (reserve, user, second factor, finish), and during a burst
//! of logins that parsing was over half of the store's CPU (docs/performance.md, "Issue 13,
//! fourth round", *Login burst*). The store has one connection, so one cache serves all of
//! them; a statement whose text is built at run time (a column name chosen by factor) is
//! cached by that text, of which there are a handful.

use rusqlite::{Connection, Params, Row};

/// Statements the store's connection keeps prepared: every text the store runs, with room.
pub const STATEMENT_CACHE: usize = 128;

pub trait Cached {
    /// `Connection::execute` through the cache.
    fn exec(&self, sql: &str, params: impl Params) -> rusqlite::Result<usize>;
    /// `Connection::query_row` through the cache.
    fn one<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec(&self, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn one<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
