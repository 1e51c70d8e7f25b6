//! An open cursor on PostgreSQL: a portal in the session's transaction, read in batches of
//! the fetch size (`Execute` with a row limit), so no result is ever held whole.

use std::collections::VecDeque;

use postgres::types::{FromSql, Type};
use postgres::{Portal, Row, Transaction};
use twofactor_protocol::{ErrorInfo, RowBatchBuilder};

use super::errors::{map_error, Failure};
use super::types::Decode;
use super::values::with_value;
use crate::sql::cursor::{RowSource, BATCH_BYTES};

/// A column value's bytes as PostgreSQL sent them; `values.rs` decodes them.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// Appends one row to `batch`.
pub fn push_row(row: &Row, decode: &[Decode], batch: &mut RowBatchBuilder) -> Result<(), ErrorInfo> {
    for (i, d) in decode.iter().enumerate() {
        let raw: Option<Raw<'_>> =
            row.try_get(i).map_err(|e| ErrorInfo::new(b"HY000", 0, format!("column {}: {e}", i + 1)))?;
        with_value(raw.map(|r| r.0), d, |v| batch.push(v))?;
    }
    batch.end_row();
    Ok(())
}

pub struct PgCursor<'t, 'c> {
    pub tx: &'t mut Transaction<'c>,
    pub portal: Portal,
    pub decode: Vec<Decode>,
    /// Rows fetched but not yet sent (a batch can fill up by bytes before by rows).
    pub pending: VecDeque<Row>,
    /// PostgreSQL has no more rows for the portal.
    pub exhausted: bool,
    /// A lost connection seen while fetching, for the worker to end the session.
    pub lost: bool,
    /// Bytes per row of the last rows fetched (0: none yet), to size the next request.
    pub row_bytes: usize,
}

/// Rows asked of PostgreSQL at once before any row's size is known.
const FIRST_REQUEST_ROWS: usize = 1024;

impl PgCursor<'_, '_> {
    /// How many rows to ask for: what the batch still wants, but no more than about two
    /// batches' bytes' worth, so a client asking for millions of rows per Fetch (or rows of
    /// megabytes) never makes the server hold more than that.
    fn request_size(&self, wanted: usize) -> usize {
        let fit = match self.row_bytes {
            0 => FIRST_REQUEST_ROWS,
            n => (2 * BATCH_BYTES / n).max(1),
        };
        wanted.min(fit).min(i32::MAX as usize)
    }
}

impl RowSource for PgCursor<'_, '_> {
    fn fill(&mut self, batch: &mut RowBatchBuilder, max_rows: usize) -> Result<bool, ErrorInfo> {
        while batch.rows() < max_rows && batch.byte_len() < BATCH_BYTES {
            if let Some(row) = self.pending.pop_front() {
                push_row(&row, &self.decode, batch)?;
                continue;
            }
            if self.exhausted {
                return Ok(true);
            }
            let want = self.request_size(max_rows - batch.rows()) as i32;
            let rows = match self.tx.query_portal(&self.portal, want) {
                Ok(rows) => rows,
                Err(e) => {
                    let failure = map_error(&e);
                    self.lost = matches!(failure, Failure::Lost(_));
                    return Err(failure.info().clone());
                }
            };
            // Fewer rows than asked for: the portal ran to completion.
            self.exhausted = rows.len() < want as usize;
            if !rows.is_empty() {
                self.row_bytes = (rows.iter().map(Row::raw_size_bytes).sum::<usize>() / rows.len()).max(1);
            }
            self.pending.extend(rows);
        }
        Ok(self.pending.is_empty() && self.exhausted)
    }
}

/// A catalog query's row as owned values, each column decoded by its type.
pub fn row_values(row: &Row) -> Result<Vec<twofactor_protocol::Value>, ErrorInfo> {
    let mut out = Vec::with_capacity(row.len());
    for (i, c) in row.columns().iter().enumerate() {
        let d = super::types::info(c.type_(), -1).decode;
        let raw: Option<Raw<'_>> =
            row.try_get(i).map_err(|e| ErrorInfo::new(b"HY000", 0, format!("column {}: {e}", i + 1)))?;
        out.push(with_value(raw.map(|r| r.0), &d, |v| v.to_owned())?);
    }
    Ok(out)
}
