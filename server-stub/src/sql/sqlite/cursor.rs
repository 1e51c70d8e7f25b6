//! An open cursor on a live SQLite statement.

use rusqlite::Rows;
use twofactor_protocol::{ErrorInfo, RowBatchBuilder};

use super::errors::map_error;
use super::types::{with_value, Kind};
use crate::sql::cursor::{RowSource, BATCH_BYTES};

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
