//! A session's SQLite connection: opened with the limits SQLite enforces for it, and the
//! way statements are prepared without letting the text decide the stack depth.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::limits::Limit;
use rusqlite::{Batch, CachedStatement, Connection, Statement};

use crate::sql::thread::Shared;

/// SQLite's own default (1000), set explicitly because `WORKER_STACK` is sized for it.
const EXPR_DEPTH: i32 = 1000;
/// Terms of a compound SELECT (`UNION`...); SQLite's default.
const COMPOUND_SELECT: i32 = 500;
/// Progress-handler period in virtual-machine steps: how often a running statement looks
/// whether its session is gone (a few microseconds between looks).
const ABANDON_CHECK_STEPS: i32 = 10_000;

/// The limits SQLite enforces for every session (`sqlite3_limit`).
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// `SQLITE_LIMIT_SQL_LENGTH`: longest SQL text, in bytes.
    pub max_statement_bytes: u32,
    /// `SQLITE_LIMIT_LENGTH`: largest string, BLOB or row, in bytes; bounds the memory
    /// `randomblob`, `zeroblob`, `printf`, `group_concat`... can ask for.
    pub max_value_bytes: u32,
    /// `PRAGMA mmap_size`: how much of the database file SQLite reads through a memory
    /// map instead of `pread` (0: none). See `sql.mmap_mib` in docs/server.md.
    pub mmap_bytes: u64,
}

pub(super) fn open(path: &Path, limits: SqlLimits, shared: &Arc<Shared>) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    disable_lookaside(&conn);
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    let clamp = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, clamp(limits.max_statement_bytes))?;
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, clamp(limits.max_value_bytes))?;
    conn.set_limit(Limit::SQLITE_LIMIT_EXPR_DEPTH, EXPR_DEPTH)?;
    conn.set_limit(Limit::SQLITE_LIMIT_COMPOUND_SELECT, COMPOUND_SELECT)?;
    // ATTACH would let a SQL user open any file the server can reach, users.db included;
    // VACUUM attaches internally, so VACUUM INTO cannot write a copy anywhere either.
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    let shared = shared.clone();
    // A scan through `pread` copies every page from the kernel's page cache into SQLite's
    // own (a quarter of the server's CPU in a fetch of long rows: docs/performance.md,
    // "Issue 13, third round"); mapped pages are read where they are.
    conn.pragma_update(None, "mmap_size", limits.mmap_bytes)?;
    conn.progress_handler(ABANDON_CHECK_STEPS, Some(move || shared.abandoned.load(Ordering::Acquire)));
    Ok(conn)
}

/// Turns off SQLite's per-connection lookaside allocator (about 47 KiB of the 64 KiB an open
/// connection costs): with one connection per session, thousands of sessions would keep
/// that memory for small-allocation speed they rarely need. rusqlite's `DbConfig` has no
/// safe setter for it.
fn disable_lookaside(conn: &Connection) {
    // SAFETY: the handle is valid for `conn`'s lifetime and used on this thread only; right
    // after open no lookaside memory is in use, which SQLITE_DBCONFIG_LOOKASIDE requires
    // (otherwise it returns SQLITE_BUSY and changes nothing). A null buffer with 0 slots of
    // size 0 disables lookaside; the variadic arguments are `void*, int, int` as documented.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_config(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
            std::ptr::null_mut::<std::ffi::c_void>(),
            0 as std::ffi::c_int,
            0 as std::ffi::c_int,
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        log::debug!("SQLite lookaside not disabled (code {rc})");
    }
}

/// A prepared statement, from the cache or not.
pub(super) enum Prepared<'c> {
    Cached(CachedStatement<'c>),
    Fresh(Statement<'c>),
}

impl<'c> std::ops::Deref for Prepared<'c> {
    type Target = Statement<'c>;
    fn deref(&self) -> &Statement<'c> {
        match self {
            Prepared::Cached(s) => s,
            Prepared::Fresh(s) => s,
        }
    }
}

impl std::ops::DerefMut for Prepared<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Prepared::Cached(s) => s,
            Prepared::Fresh(s) => s,
        }
    }
}

/// Prepares `sql` if it is one statement, and fails with `MultipleStatement` if it is
/// several.
///
/// rusqlite's own check (`prepare_cached` → `prepare_with_flags`) prepares the text after
/// the first statement recursively, one stack frame per statement (or per extra `;`):
/// 2,000 `SELECT 1;` overflowed the thread's stack and aborted the whole server. So only
/// text with no `;` before its end goes through the cache; other text is cut statement by
/// statement in a loop (`Batch`). A second statement is only prepared, never run, and may
/// fail to prepare because it depends on the first (`CREATE TABLE t ...; INSERT INTO t
/// ...`): that also makes the text a script.
pub(super) fn prepare_one<'c>(conn: &'c Connection, sql: &str) -> rusqlite::Result<Prepared<'c>> {
    let body = sql.trim_end_matches(|c: char| c == ';' || c.is_ascii_whitespace());
    if !body.contains(';') {
        return conn.prepare_cached(body).map(Prepared::Cached);
    }
    let mut statements = Batch::new(conn, sql);
    match statements.next()? {
        Some(first) if matches!(statements.next(), Ok(None)) => Ok(Prepared::Fresh(first)),
        Some(_) => Err(rusqlite::Error::MultipleStatement),
        // Only comments and semicolons.
        None => conn.prepare_cached("").map(Prepared::Cached),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(mmap_bytes: u64) -> SqlLimits {
        SqlLimits { max_statement_bytes: 1 << 20, max_value_bytes: 16 << 20, mmap_bytes }
    }

    #[test]
    fn a_session_reads_the_database_through_the_configured_memory_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let shared = Arc::new(Shared::default());
        let size = |conn: &Connection| conn.query_row("PRAGMA mmap_size", [], |r| r.get::<_, i64>(0)).unwrap();
        let conn = open(&path, limits(256 << 20), &shared).unwrap();
        assert_eq!(size(&conn), 256 << 20);
        // Rows written and read back through the map are the rows stored.
        conn.execute_batch("CREATE TABLE t (id INTEGER, body TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'two');")
            .unwrap();
        let other = open(&path, limits(1 << 20), &shared).unwrap();
        assert_eq!(size(&other), 1 << 20);
        let bodies: Vec<String> = other
            .prepare("SELECT body FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(bodies, ["one", "two"]);
        // 0 reads every page with pread.
        assert_eq!(size(&open(&path, limits(0), &shared).unwrap()), 0);
    }
}
