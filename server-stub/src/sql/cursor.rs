//! Open cursors: a live SQLite statement, or the rows of a catalog query.

use rusqlite::Rows;
use twofactor_protocol::{ErrorInfo, RowBatchBuilder, Value};

use super::errors::map_error;
use super::types::{with_value, Kind};

/// A batch stops growing past this size even if fewer rows than asked for are in it.
pub const BATCH_BYTES: usize = 1 << 20;

pub trait RowSource {
    /// Appends up to `max_rows` rows; true when the source is exhausted.
    fn fill(&mut self, batch: &mut RowBatchBuilder, max_rows: usize) -> Result<bool, ErrorInfo>;
}

pub fn push_row(row: &rusqlite::Row<'_>, kinds: &[Kind], batch: &mut RowBatchBuilder) -> Result<(), ErrorInfo> {
    for (i, kind) in kinds.iter().enumerate() {
        let v = row.get_ref(i).map_err(|e| map_error(&e))?;
        with_value(v, *kind, |pv| batch.push(pv));
    }
    batch.end_row();
    Ok(())
}

pub struct SqliteCursor<'s> {
    pub rows: Rows<'s>,
    pub kinds: Vec<Kind>,
}

impl RowSource for SqliteCursor<'_> {
    fn fill(&mut self, batch: &mut RowBatchBuilder, max_rows: usize) -> Result<bool, ErrorInfo> {
        while batch.rows() < max_rows && batch.byte_len() < BATCH_BYTES {
            match self.rows.next().map_err(|e| map_error(&e))? {
                Some(row) => push_row(row, &self.kinds, batch)?,
                None => return Ok(true),
            }
        }
        Ok(false)
    }
}

pub struct VecCursor {
    pub rows: std::vec::IntoIter<Vec<Value>>,
}

impl RowSource for VecCursor {
    fn fill(&mut self, batch: &mut RowBatchBuilder, max_rows: usize) -> Result<bool, ErrorInfo> {
        while batch.rows() < max_rows && batch.byte_len() < BATCH_BYTES {
            match self.rows.next() {
                Some(row) => {
                    for v in &row {
                        batch.push(v.as_ref());
                    }
                    batch.end_row();
                }
                None => return Ok(true),
            }
        }
        Ok(self.rows.len() == 0)
    }
}
