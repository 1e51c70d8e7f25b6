//! Read-ahead for an open cursor: the SQL thread steps the next batch as soon as it has
//! handed the previous one to the session, so stepping overlaps the session's TLS
//! encryption and write and the client's decoding instead of waiting for the next Fetch.
//!
//! At most one batch is ahead (bounded by [`BATCH_BYTES`] like any batch), so a client
//! that reads slowly holds the cursor's memory flat: nothing more is stepped until its
//! Fetch takes the batch ahead. What a client sees is the same as without read-ahead:
//! each Fetch gets at most the rows it asked for, and an error met while stepping is
//! reported by the Fetch whose batch would have reached the failing row.
//!
//! [`BATCH_BYTES`]: crate::sql::cursor::BATCH_BYTES

use twofactor_protocol::{ErrorInfo, RowBatch, RowBatchBuilder};

use super::cursor::RowSource;

/// A batch stepped before its Fetch arrived, and how stepping it ended.
pub struct ReadAhead {
    batch: RowBatchBuilder,
    /// `Ok(true)`: the source is exhausted after `batch`; `Ok(false)`: it may have more;
    /// `Err`: stepping failed right after the rows in `batch`.
    outcome: Result<bool, ErrorInfo>,
}

/// A Fetch's answer: its rows and whether they are the last, or the error to report.
pub type Answer = Result<(RowBatch, bool), ErrorInfo>;

impl ReadAhead {
    /// Steps up to `rows` rows of `cursor` into a new batch of `bytes` capacity.
    pub fn step(cursor: &mut dyn RowSource, columns: u16, rows: usize, bytes: usize) -> ReadAhead {
        let mut batch = RowBatchBuilder::with_capacity(columns, bytes);
        let outcome = cursor.fill(&mut batch, rows);
        ReadAhead { batch, outcome }
    }

    /// The answer to a Fetch of up to `want` rows, and what stays ahead of it (None when
    /// the next batch still has to be stepped). A Fetch that asks for as many rows as were
    /// stepped (the usual case: a driver asks for the same number every time) takes the
    /// batch as it is; one that asks for more tops it up from `cursor`; one that asks for
    /// fewer gets the first `want` rows, and the rest stays ahead.
    pub fn answer(mut self, cursor: &mut dyn RowSource, want: usize) -> (Answer, Option<ReadAhead>) {
        let held = self.batch.rows();
        // Rows stepped before an error are good rows: a Fetch that ends at or before the
        // error gets them, and the error waits for the Fetch that would step the bad row.
        if held > want || (held == want && self.outcome.is_err()) {
            let (head, tail) = split(self.batch, want);
            return (Ok((head.finish(), false)), Some(ReadAhead { batch: tail, outcome: self.outcome }));
        }
        if held < want && matches!(self.outcome, Ok(false)) {
            self.outcome = cursor.fill(&mut self.batch, want);
        }
        let batch = self.batch;
        (self.outcome.map(|done| (batch.finish(), done)), None)
    }
}

/// The first `at` rows of `batch`, and the rest. Only a Fetch smaller than the one before
/// comes here, so this copies value by value instead of keeping row offsets for every
/// batch.
fn split(batch: RowBatchBuilder, at: usize) -> (RowBatchBuilder, RowBatchBuilder) {
    let whole = batch.finish();
    let columns = whole.columns() as u16;
    let mut head = RowBatchBuilder::with_capacity(columns, whole.byte_len());
    let mut tail = RowBatchBuilder::with_capacity(columns, whole.byte_len());
    for row in 0..whole.rows() {
        let part = if row < at { &mut head } else { &mut tail };
        for value in whole.row(row) {
            part.push(value);
        }
        part.end_row();
    }
    (head, tail)
}
