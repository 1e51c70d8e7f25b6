//! One statement on PostgreSQL: refused by the guard or prepared (server-side), its
//! parameters bound in the types PostgreSQL inferred, then executed (once, or once per row
//! of a parameter array), or opened as a portal that the session fetches in batches.

use std::collections::HashMap;

use postgres::{Client, Statement, Transaction};
use twofactor_protocol::{ColumnDesc, ErrorInfo, Nullability, RowBatch, RowBatchBuilder, ServerMessage};

use super::cursor::PgCursor;
use super::errors::{map_error, Failure};
use super::guard;
use super::markers;
use super::params;
use super::types::{self, Decode};
use super::worker::SessionState;
use crate::sql::thread::{send, serve_cursor, Inbox, Job, Reply};

/// Where a statement runs: on the session (autocommit: each statement commits itself,
/// a cursor gets a transaction of its own) or in the session's open transaction.
pub enum Target<'a, 'c> {
    Auto(&'a mut Client),
    Tx(&'a mut Transaction<'c>),
}

impl Target<'_, '_> {
    pub fn prepare(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        match self {
            Target::Auto(c) => c.prepare(sql),
            Target::Tx(t) => t.prepare(sql),
        }
    }

    fn execute(&mut self, stmt: &Statement, values: &[params::Param]) -> Result<u64, postgres::Error> {
        let refs = params::refs(values);
        match self {
            Target::Auto(c) => c.execute(stmt, &refs),
            Target::Tx(t) => t.execute(stmt, &refs),
        }
    }

    fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        match self {
            Target::Auto(c) => c.batch_execute(sql),
            Target::Tx(t) => t.batch_execute(sql),
        }
    }

    pub fn query(
        &mut self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        match self {
            Target::Auto(c) => c.query(sql, args),
            Target::Tx(t) => t.query(sql, args),
        }
    }

    /// The first column of the first row of `sql`, in one round trip (the simple query
    /// protocol: no Parse/Describe first).
    pub fn simple_value(&mut self, sql: &str) -> Result<Option<String>, postgres::Error> {
        let messages = match self {
            Target::Auto(c) => c.simple_query(sql)?,
            Target::Tx(t) => t.simple_query(sql)?,
        };
        Ok(messages.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        }))
    }

    /// A nested transaction: a real one in autocommit, a savepoint inside one.
    fn sub(&mut self) -> Result<Transaction<'_>, postgres::Error> {
        match self {
            Target::Auto(c) => c.transaction(),
            Target::Tx(t) => t.savepoint("twofactor_param_array"),
        }
    }
}

fn is_dml(sql: &str) -> bool {
    let word: String = sql.trim_start().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    matches!(word.to_ascii_uppercase().as_str(), "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "WITH")
}

/// What a statement to run is: SQL text (ExecDirect) or a prepared statement.
pub enum Source<'a> {
    Text(&'a str),
    Prepared { sql: &'a str, statement: &'a Statement },
}

/// Runs one statement and replies; a statement with a result keeps serving Fetch here.
/// Returns the request that ended a cursor, if it was another one.
pub fn run(
    target: &mut Target<'_, '_>,
    s: &mut SessionState,
    source: Source<'_>,
    params: &RowBatch,
    fetch: usize,
    reply: Reply,
    inbox: &Inbox,
) -> Option<Job> {
    let sql = match source {
        Source::Text(sql) | Source::Prepared { sql, .. } => sql,
    };
    if let Err(e) = guard::check(sql, s.read_only) {
        s.reply_error(reply, e.into());
        return None;
    }
    if matches!(source, Source::Text(_)) && params.is_empty() && markers::is_script(sql) {
        // A script of several statements without parameters runs as one batch (the
        // simple query protocol, which has no parameters): PostgreSQL would refuse to
        // prepare it, and in a transaction that refusal would abort it.
        let result = target.batch_execute(sql).map_err(|e| map_error(&e));
        match result.and_then(|()| s.verify_role(target)) {
            Ok(()) => send(reply, &[ServerMessage::ExecuteDone { row_count: -1 }]),
            Err(f) => s.reply_error(reply, f),
        }
        return None;
    }
    let owned;
    let stmt = match source {
        Source::Prepared { statement, .. } => statement,
        Source::Text(_) => match target.prepare(&markers::translate(sql).0) {
            Ok(st) => {
                owned = st;
                &owned
            }
            Err(e) => {
                s.reply_error(reply, map_error(&e));
                return None;
            }
        },
    };
    let markers = stmt.params().len();
    if (params.is_empty() && markers > 0) || (!params.is_empty() && params.columns() != markers) {
        let got = if params.is_empty() { 0 } else { params.columns() };
        let e =
            ErrorInfo::new(b"07002", 0, format!("statement has {markers} parameter markers; {got} values were sent"));
        s.reply_error(reply, e.into());
        return None;
    }
    if stmt.columns().is_empty() {
        let result = execute(target, stmt, params).and_then(|n| s.verify_role(target).map(|()| n));
        match result {
            Ok(n) => send(reply, &[ServerMessage::ExecuteDone { row_count: if is_dml(sql) { n as i64 } else { -1 } }]),
            Err(f) => s.reply_error(reply, f),
        }
        return None;
    }
    if params.rows() > 1 {
        let e = ErrorInfo::new(b"HYC00", 0, "parameter arrays are supported only for statements without a result set");
        s.reply_error(reply, e.into());
        return None;
    }
    let values = match params::row_or_none(params, stmt.params()) {
        Ok(v) => v,
        Err(e) => {
            s.reply_error(reply, e.into());
            return None;
        }
    };
    let columns = describe_columns(target, s, stmt);
    let decode: Vec<Decode> = stmt.columns().iter().map(|c| types::info(c.type_(), c.type_modifier()).decode).collect();
    match target {
        Target::Auto(client) => {
            let mut tx = match client.transaction() {
                Ok(tx) => tx,
                Err(e) => {
                    s.reply_error(reply, map_error(&e));
                    return None;
                }
            };
            let next = open_cursor(&mut tx, s, stmt, &values, columns, decode, fetch, reply, inbox);
            if s.fatal.is_some() {
                return next;
            }
            match tx.commit() {
                Ok(()) => {
                    if let Err(f) = s.verify_role(&mut Target::Auto(client)) {
                        s.note_fatal(f);
                    }
                }
                Err(e) => {
                    // The rows are sent; a failed commit (a deferred constraint of an
                    // INSERT ... RETURNING, say) can only be logged.
                    log::warn!(
                        "user `{}`: commit after a result set failed: {}",
                        s.user,
                        super::connect::errors_text(&e)
                    );
                    if let Failure::Lost(info) = map_error(&e) {
                        s.note_fatal(Failure::Lost(info));
                    }
                }
            }
            next
        }
        Target::Tx(tx) => {
            let next = open_cursor(tx, s, stmt, &values, columns, decode, fetch, reply, inbox);
            if s.fatal.is_none() {
                if let Err(f) = s.verify_role(&mut Target::Tx(tx)) {
                    s.note_fatal(f);
                }
            }
            next
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn open_cursor(
    tx: &mut Transaction<'_>,
    s: &mut SessionState,
    stmt: &Statement,
    values: &[params::Param],
    columns: Vec<ColumnDesc>,
    decode: Vec<Decode>,
    fetch: usize,
    reply: Reply,
    inbox: &Inbox,
) -> Option<Job> {
    let portal = match tx.bind(stmt, &params::refs(values)) {
        Ok(p) => p,
        Err(e) => {
            s.reply_error(reply, map_error(&e));
            return None;
        }
    };
    let mut cursor =
        PgCursor { tx, portal, decode, pending: Default::default(), exhausted: false, lost: false, row_bytes: 0 };
    let batch = RowBatchBuilder::new(0);
    let next = serve_cursor(columns, &mut cursor, batch, fetch, reply, inbox);
    if cursor.lost {
        s.note_fatal(Failure::Lost(super::errors::lost()));
    }
    next
}

/// Executes a statement without a result: once, or once per parameter row, all or
/// nothing (in a transaction of its own, or a savepoint inside the session's).
fn execute(target: &mut Target<'_, '_>, stmt: &Statement, params: &RowBatch) -> Result<u64, Failure> {
    if params.rows() <= 1 {
        let values = params::row_or_none(params, stmt.params())?;
        return target.execute(stmt, &values).map_err(|e| map_error(&e));
    }
    let mut sub = target.sub().map_err(|e| map_error(&e))?;
    let mut total = 0;
    for row in 0..params.rows() {
        let values = params::row(params, row, stmt.params())?;
        match sub.execute(stmt, &params::refs(&values)) {
            Ok(n) => total += n,
            Err(e) => {
                let mut failure = map_error(&e);
                if let Failure::Statement(info) = &mut failure {
                    info.message = format!("parameter row {}: {}", row + 1, info.message);
                }
                // Dropping `sub` rolls the array back.
                return Err(failure);
            }
        }
    }
    sub.commit().map_err(|e| map_error(&e))?;
    Ok(total)
}

/// Result columns with nullability and table names from pg_attribute / pg_class
/// (PostgreSQL's row description names the table and column by number only).
pub fn describe_columns(target: &mut Target<'_, '_>, s: &mut SessionState, stmt: &Statement) -> Vec<ColumnDesc> {
    let wanted: Vec<(u32, i16)> = stmt
        .columns()
        .iter()
        .filter_map(|c| Some((c.table_oid()?, c.column_id()?)))
        .filter(|k| !s.column_facts.contains_key(k))
        .collect();
    if !wanted.is_empty() {
        lookup_columns(target, &wanted, &mut s.column_facts);
    }
    stmt.columns()
        .iter()
        .map(|c| {
            let key = c.table_oid().zip(c.column_id());
            let fact = key.and_then(|k| s.column_facts.get(&k));
            let nullable = match fact {
                Some((true, _)) => Nullability::NoNulls,
                Some((false, _)) => Nullability::Nullable,
                None => Nullability::Unknown,
            };
            let table = fact.map_or("", |(_, t)| t.as_str());
            types::column_desc(c.name(), c.type_(), c.type_modifier(), nullable, table, s.unbounded)
        })
        .collect()
}

fn lookup_columns(target: &mut Target<'_, '_>, wanted: &[(u32, i16)], facts: &mut HashMap<(u32, i16), (bool, String)>) {
    let tables: Vec<u32> = wanted.iter().map(|k| k.0).collect();
    let numbers: Vec<i16> = wanted.iter().map(|k| k.1).collect();
    let sql = "SELECT a.attrelid, a.attnum, a.attnotnull, c.relname::text FROM pg_catalog.pg_attribute a \
               JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
               WHERE a.attrelid = ANY($1) AND a.attnum = ANY($2)";
    // In an aborted transaction this fails; the columns are then of unknown nullability.
    if let Ok(rows) = target.query(sql, &[&tables, &numbers]) {
        for r in rows {
            let key: (u32, i16) = (r.get(0), r.get(1));
            if wanted.contains(&key) {
                facts.insert(key, (r.get(2), r.get(3)));
            }
        }
    }
}
