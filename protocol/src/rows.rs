//! Batches of rows: result rows from the server, parameter rows from the driver.
//!
//! A batch keeps its values as they travel (`data`, for `encode` and `byte_len`) and, for
//! reading, an index of every value decoded once: numbers, dates and booleans as values,
//! text, decimals and bytes as ranges. Text and decimals are copied at decode time into
//! one `String` of the batch, so they are validated as UTF-8 exactly once, and reading a
//! value later is an index and a match: no re-parse, no second UTF-8 check, no `unsafe`,
//! no allocation.
//!
//! A received batch (`decode`) builds the index while it validates the bytes. A batch
//! built here (`RowBatchBuilder`, as the server builds every result batch) builds it only
//! if someone reads its values, so the sender pays nothing for it.

use std::sync::OnceLock;

use crate::codec::{Put, Reader};
use crate::value::{read_value, Date, Time, Timestamp};
use crate::{ProtocolError, ValueRef};

/// One decoded value. Ranges are `start..end`: into `Index::text` for text and decimals,
/// into `RowBatch::data` for bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Double(f64),
    Text(u32, u32),
    Bytes(u32, u32),
    Date(Date),
    Time(Time),
    Timestamp(Timestamp),
    Decimal(u32, u32),
    Bool(bool),
}

/// What decoding learned about every value of a batch.
#[derive(Debug, Clone, Default)]
struct Index {
    /// Row-major, `columns` per row.
    cells: Vec<Cell>,
    /// Every text and decimal value of the batch, back to back, validated once.
    text: String,
}

impl Index {
    /// Walks `cells` values of `data`, validating each (`read_value`), and records them.
    fn build(data: &[u8], cells: usize) -> Result<Index, ProtocolError> {
        let mut index = Index { cells: Vec::with_capacity(cells), text: String::new() };
        let mut r = Reader::new(0, data);
        // Text cannot take more than the encoded values: one allocation, made at the
        // first text value (a batch without text allocates none).
        let text_capacity = data.len();
        for _ in 0..cells {
            let start = r.position();
            let value = read_value(&mut r)?;
            let cell = match value {
                ValueRef::Null => Cell::Null,
                ValueRef::Int(v) => Cell::Int(v),
                ValueRef::Double(v) => Cell::Double(v),
                ValueRef::Text(s) => {
                    let (a, b) = index.push_text(s, text_capacity);
                    Cell::Text(a, b)
                }
                ValueRef::Decimal(s) => {
                    let (a, b) = index.push_text(s, text_capacity);
                    Cell::Decimal(a, b)
                }
                ValueRef::Bytes(b) => {
                    // Tag byte and u32 length, then the bytes, which end where the reader is.
                    let end = r.position();
                    debug_assert_eq!(end - start - 5, b.len());
                    Cell::Bytes((end - b.len()) as u32, end as u32)
                }
                ValueRef::Date(d) => Cell::Date(d),
                ValueRef::Time(t) => Cell::Time(t),
                ValueRef::Timestamp(ts) => Cell::Timestamp(ts),
                ValueRef::Bool(b) => Cell::Bool(b),
            };
            index.cells.push(cell);
        }
        r.finish()?;
        Ok(index)
    }

    fn push_text(&mut self, s: &str, capacity: usize) -> (u32, u32) {
        if self.text.capacity() == 0 {
            self.text.reserve_exact(capacity);
        }
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, self.text.len() as u32)
    }
}

/// Rows of `columns` values each, encoded back to back.
#[derive(Debug, Clone)]
pub struct RowBatch {
    columns: u16,
    rows: u32,
    /// The values as encoded on the wire; never changed after the batch is made.
    data: Vec<u8>,
    /// Built by `decode`, or at the first read of a built batch.
    index: OnceLock<Index>,
}

impl PartialEq for RowBatch {
    /// Equal values, whether or not either side has built its index.
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns && self.rows == other.rows && self.data == other.data
    }
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

    #[inline]
    fn index(&self) -> &Index {
        match self.index.get() {
            Some(index) => index,
            None => self.build_index(),
        }
    }

    #[cold]
    fn build_index(&self) -> &Index {
        self.index.get_or_init(|| {
            Index::build(&self.data, self.columns() * self.rows()).expect("a built batch holds valid values")
        })
    }

    /// The value at `row`, `column` (both from 0). Panics if either is out of range, like
    /// slice indexing; callers check against `rows()` and `columns()`.
    #[inline]
    pub fn value(&self, row: usize, column: usize) -> ValueRef<'_> {
        assert!(row < self.rows() && column < self.columns(), "row or column out of range");
        let index = self.index();
        match index.cells[row * self.columns() + column] {
            Cell::Null => ValueRef::Null,
            Cell::Int(v) => ValueRef::Int(v),
            Cell::Double(v) => ValueRef::Double(v),
            // Slicing a String checks only that both ends are character boundaries (they
            // are: each range is a whole pushed &str); the text is not validated again.
            Cell::Text(a, b) => ValueRef::Text(&index.text[a as usize..b as usize]),
            Cell::Decimal(a, b) => ValueRef::Decimal(&index.text[a as usize..b as usize]),
            Cell::Bytes(a, b) => ValueRef::Bytes(&self.data[a as usize..b as usize]),
            Cell::Date(d) => ValueRef::Date(d),
            Cell::Time(t) => ValueRef::Time(t),
            Cell::Timestamp(ts) => ValueRef::Timestamp(ts),
            Cell::Bool(v) => ValueRef::Bool(v),
        }
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

    /// A batch on its own, as `decode` reads it inside a message (the fuzz target's entry).
    pub fn decode_bytes(bytes: &[u8]) -> Result<RowBatch, ProtocolError> {
        let mut r = Reader::new(0, bytes);
        let batch = Self::decode(&mut r)?;
        r.finish()?;
        Ok(batch)
    }

    /// The bytes `decode_bytes` reads.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<RowBatch, ProtocolError> {
        let columns = r.u16()?;
        let rows = r.u32()?;
        let data = r.bytes()?;
        // A row without columns takes no bytes, so nothing else bounds their number: 12
        // bytes could ask for 4 billion executions of a statement. No side sends one.
        if columns == 0 && rows != 0 {
            return Err(ProtocolError::InvalidField { what: "row count", value: i64::from(rows) });
        }
        let cells = columns as usize * rows as usize;
        // Every value takes at least its tag byte.
        if cells > data.len() {
            return Err(ProtocolError::InvalidField { what: "row count", value: i64::from(rows) });
        }
        let index = Index::build(data, cells)?;
        Ok(RowBatch { columns, rows, data: data.to_vec(), index: OnceLock::from(index) })
    }
}

/// Builds a batch row by row.
#[derive(Debug, Clone)]
pub struct RowBatchBuilder {
    columns: u16,
    rows: u32,
    in_row: usize,
    data: Vec<u8>,
}

impl RowBatchBuilder {
    pub fn new(columns: u16) -> Self {
        Self::with_capacity(columns, 0)
    }

    pub fn with_capacity(columns: u16, bytes: usize) -> Self {
        RowBatchBuilder { columns, rows: 0, in_row: 0, data: Vec::with_capacity(bytes) }
    }

    /// Appends the next value of the current row.
    pub fn push(&mut self, value: ValueRef<'_>) {
        assert!(self.in_row < self.columns as usize, "more values than columns in a row");
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
        RowBatch { columns: self.columns, rows: self.rows, data: self.data, index: OnceLock::new() }
    }
}
