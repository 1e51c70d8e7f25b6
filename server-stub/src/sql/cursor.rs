//! Open cursors as both backends serve them: a source of rows that fills one batch at a
//! time, so no result is held whole in memory.

use twofactor_protocol::{ErrorInfo, RowBatchBuilder, Value};

/// A batch stops growing past this size even if fewer rows than asked for are in it.
pub const BATCH_BYTES: usize = 1 << 20;

pub trait RowSource {
    /// Appends up to `max_rows` rows; true when the source is exhausted.
    fn fill(&mut self, batch: &mut RowBatchBuilder, max_rows: usize) -> Result<bool, ErrorInfo>;
}

/// The rows of a catalog query, computed whole (they are small).
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
