//! Batches of rows: result rows from the server, parameter rows from the driver.
//!
//! A batch is one allocation however many rows it holds. The receiver validates the whole
//! batch once when it decodes it and records where each value starts, so reading a value
//! later is an index and a short parse, with no allocation.

use crate::codec::{Put, Reader};
use crate::value::read_value;
use crate::{ProtocolError, ValueRef};

/// Rows of `columns` values each, encoded back to back.
#[derive(Debug, Clone, PartialEq)]
pub struct RowBatch {
    columns: u16,
    rows: u32,
    data: Vec<u8>,
    /// Start of every value in `data`, row-major.
    offsets: Vec<u32>,
}

impl RowBatch {
    pub fn columns(&self) -> usize {
        self.columns as usize
    }

    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Encoded size of the values, a measure of the batch's memory.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// The value at `row`, `column` (both from 0). Panics if either is out of range, like
    /// slice indexing; callers check against `rows()` and `columns()`.
    pub fn value(&self, row: usize, column: usize) -> ValueRef<'_> {
        assert!(row < self.rows() && column < self.columns(), "row or column out of range");
        let at = self.offsets[row * self.columns() + column] as usize;
        let mut r = Reader::new(0, &self.data[at..]);
        read_value(&mut r).expect("batch was validated when decoded")
    }

    /// Every value of one row, in column order.
    pub fn row(&self, row: usize) -> impl Iterator<Item = ValueRef<'_>> + '_ {
        (0..self.columns()).map(move |c| self.value(row, c))
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u16(self.columns);
        out.put_u32(self.rows);
        out.put_bytes(&self.data);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<RowBatch, ProtocolError> {
        let columns = r.u16()?;
        let rows = r.u32()?;
        let data = r.bytes()?;
        let cells = columns as usize * rows as usize;
        // Every value takes at least its tag byte.
        if cells > data.len() {
            return Err(ProtocolError::InvalidField { what: "row count", value: i64::from(rows) });
        }
        let mut offsets = Vec::with_capacity(cells);
        let mut vr = Reader::new(0, data);
        for _ in 0..cells {
            offsets.push(vr.position() as u32);
            read_value(&mut vr)?;
        }
        vr.finish()?;
        Ok(RowBatch { columns, rows, data: data.to_vec(), offsets })
    }
}

/// Builds a batch row by row.
#[derive(Debug, Clone)]
pub struct RowBatchBuilder {
    columns: u16,
    rows: u32,
    in_row: usize,
    data: Vec<u8>,
    offsets: Vec<u32>,
}

impl RowBatchBuilder {
    pub fn new(columns: u16) -> Self {
        Self::with_capacity(columns, 0)
    }

    pub fn with_capacity(columns: u16, bytes: usize) -> Self {
        RowBatchBuilder { columns, rows: 0, in_row: 0, data: Vec::with_capacity(bytes), offsets: Vec::new() }
    }

    /// Appends the next value of the current row.
    pub fn push(&mut self, value: ValueRef<'_>) {
        assert!(self.in_row < self.columns as usize, "more values than columns in a row");
        self.offsets.push(self.data.len() as u32);
        value.encode(&mut self.data);
        self.in_row += 1;
    }

    /// Closes the current row; it must have one value per column.
    pub fn end_row(&mut self) {
        assert_eq!(self.in_row, self.columns as usize, "row has too few values");
        self.in_row = 0;
        self.rows += 1;
    }

    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    pub fn finish(self) -> RowBatch {
        assert_eq!(self.in_row, 0, "last row was not ended");
        RowBatch { columns: self.columns, rows: self.rows, data: self.data, offsets: self.offsets }
    }
}
