//! Batches of rows: result rows from the server, parameter rows from the driver.
//!
//! A batch keeps its values as they travel (`values`, for `encode` and `byte_len`) and, for
//! reading, an index of every value decoded once: numbers, dates and booleans as values,
//! text, decimals and bytes as ranges of the values. Text and decimals are validated as UTF-8
//! when the batch is decoded (a batch with one bad value is refused whole) and stay where
//! they are: a fetch of long text copies each value once less than it would through a
//! second buffer, and touches half the memory. Reading one back as `&str` runs the UTF-8
//! check again on its bytes (safe Rust has no other way from bytes to `str` without a
//! copy; `unsafe` stays in the driver's FFI layer), which `crate::utf8` makes a few
//! instructions per 64 bytes; a reader that wants only the bytes (a driver copying text
//! into an application's buffer) takes them with `RowBatch::text_bytes` and skips it.
//!
//! A received batch (`decode`) builds the index while it validates the bytes. A batch
//! built here (`RowBatchBuilder`, as the server builds every result batch) builds it only
//! if someone reads its values, so the sender pays nothing for it.

use std::sync::OnceLock;

use crate::codec::{Put, Reader};
use crate::frame::FRAME_HEADER_LEN;
use crate::value::{read_value, Date, Time, Timestamp};
use crate::{ProtocolError, ValueRef};

/// Bytes a built batch keeps free in front of its values: what a Rows frame puts before
/// them (frame header, `last`, columns, rows, the values' length). `RowBatch::into_frame`
/// writes them there, so a server sends a batch of a MiB without copying it into a frame.
const FRAME_ROOM: usize = FRAME_HEADER_LEN + 1 + 2 + 4 + 4;

/// One decoded value. Ranges are `start..end` into the batch's values (`RowBatch::values`).
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
}

impl Index {
    /// Walks `cells` values of `data`, validating each (`read_value`), and records them.
    fn build(data: &[u8], cells: usize) -> Result<Index, ProtocolError> {
        let mut index = Index { cells: Vec::with_capacity(cells) };
        let mut r = Reader::new(0, data);
        for _ in 0..cells {
            let value = read_value(&mut r)?;
            // A text, decimal or bytes body ends where the reader is now.
            let range = |len: usize| {
                let end = r.position();
                ((end - len) as u32, end as u32)
            };
            let cell = match value {
                ValueRef::Null => Cell::Null,
                ValueRef::Int(v) => Cell::Int(v),
                ValueRef::Double(v) => Cell::Double(v),
                ValueRef::Text(s) => {
                    let (a, b) = range(s.len());
                    Cell::Text(a, b)
                }
                ValueRef::Decimal(s) => {
                    let (a, b) = range(s.len());
                    Cell::Decimal(a, b)
                }
                ValueRef::Bytes(v) => {
                    let (a, b) = range(v.len());
                    Cell::Bytes(a, b)
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
}

/// Rows of `columns` values each, encoded back to back.
#[derive(Debug, Clone)]
pub struct RowBatch {
    columns: u16,
    rows: u32,
    /// The values as encoded on the wire, from `start` (a built batch keeps `FRAME_ROOM`
    /// bytes free before them); never changed after the batch is made.
    data: Vec<u8>,
    start: usize,
    /// Built by `decode`, or at the first read of a built batch.
    index: OnceLock<Index>,
}

impl PartialEq for RowBatch {
    /// Equal values, whether or not either side has built its index.
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns && self.rows == other.rows && self.values() == other.values()
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
        self.data.len() - self.start
    }

    /// The encoded values.
    #[inline]
    fn values(&self) -> &[u8] {
        &self.data[self.start..]
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
            Index::build(self.values(), self.columns() * self.rows()).expect("a built batch holds valid values")
        })
    }

    #[inline]
    fn cell(&self, row: usize, column: usize) -> Cell {
        assert!(row < self.rows() && column < self.columns(), "row or column out of range");
        self.index().cells[row * self.columns() + column]
    }

    /// The value at `row`, `column` (both from 0). Panics if either is out of range, like
    /// slice indexing; callers check against `rows()` and `columns()`.
    #[inline]
    pub fn value(&self, row: usize, column: usize) -> ValueRef<'_> {
        match self.cell(row, column) {
            Cell::Null => ValueRef::Null,
            Cell::Int(v) => ValueRef::Int(v),
            Cell::Double(v) => ValueRef::Double(v),
            Cell::Text(a, b) => ValueRef::Text(self.validated(a, b)),
            Cell::Decimal(a, b) => ValueRef::Decimal(self.validated(a, b)),
            Cell::Bytes(a, b) => ValueRef::Bytes(&self.values()[a as usize..b as usize]),
            Cell::Date(d) => ValueRef::Date(d),
            Cell::Time(t) => ValueRef::Time(t),
            Cell::Timestamp(ts) => ValueRef::Timestamp(ts),
            Cell::Bool(v) => ValueRef::Bool(v),
        }
    }

    /// The UTF-8 bytes of a text value (not a decimal), without the second UTF-8 check
    /// `value` runs to make them a `&str`; None for any other value.
    #[inline]
    pub fn text_bytes(&self, row: usize, column: usize) -> Option<&[u8]> {
        match self.cell(row, column) {
            Cell::Text(a, b) => Some(&self.values()[a as usize..b as usize]),
            _ => None,
        }
    }

    /// Text or decimal bytes that `Index::build` validated; `data` never changes after.
    #[inline]
    fn validated(&self, a: u32, b: u32) -> &str {
        crate::utf8(&self.values()[a as usize..b as usize]).expect("text validated when the batch was indexed")
    }

    /// Every value of one row, in column order.
    pub fn row(&self, row: usize) -> impl Iterator<Item = ValueRef<'_>> + '_ {
        (0..self.columns()).map(move |c| self.value(row, c))
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u16(self.columns);
        out.put_u32(self.rows);
        out.put_bytes(self.values());
    }

    /// The whole frame of a Rows message (`tag`) carrying this batch: a built batch's own
    /// buffer with the room before its values filled in, a decoded one copied after a
    /// header.
    pub(crate) fn into_frame(self, tag: u8, last: bool) -> Vec<u8> {
        if self.start != FRAME_ROOM {
            let mut out = Vec::with_capacity(FRAME_ROOM + self.byte_len());
            let start = crate::frame::begin_frame(&mut out, tag);
            out.put_bool(last);
            self.encode(&mut out);
            crate::frame::end_frame(&mut out, start);
            return out;
        }
        let values = u32::try_from(self.byte_len()).expect("batch longer than 4 GiB");
        let mut head = Vec::with_capacity(FRAME_ROOM);
        let start = crate::frame::begin_frame(&mut head, tag);
        head.put_bool(last);
        head.put_u16(self.columns);
        head.put_u32(self.rows);
        head.put_u32(values);
        let mut data = self.data;
        data[..FRAME_ROOM].copy_from_slice(&head);
        crate::frame::end_frame(&mut data, start);
        data
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
        let (checked, data) = CheckedBatch::read(r)?;
        Ok(checked.with_buffer(data.to_vec()))
    }
}

/// A batch read and validated from a message, whose values are the `values_len` bytes
/// that end its reader's buffer so far: `ServerMessage::decode_frame_buffer` gives it the
/// whole frame's buffer, which ends with them, instead of copying them out.
pub(crate) struct CheckedBatch {
    columns: u16,
    rows: u32,
    values_len: usize,
    index: Index,
}

impl CheckedBatch {
    /// Columns, rows and values (returned too) with their index, all checked.
    pub(crate) fn read<'a>(r: &mut Reader<'a>) -> Result<(CheckedBatch, &'a [u8]), ProtocolError> {
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
        Ok((CheckedBatch { columns, rows, values_len: data.len(), index }, data))
    }

    /// The batch over `buffer`, whose last `values_len` bytes are the values `read` checked.
    pub(crate) fn with_buffer(self, buffer: Vec<u8>) -> RowBatch {
        let start = buffer.len() - self.values_len;
        RowBatch { columns: self.columns, rows: self.rows, data: buffer, start, index: OnceLock::from(self.index) }
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
        let mut data = Vec::with_capacity(FRAME_ROOM + bytes);
        data.resize(FRAME_ROOM, 0);
        RowBatchBuilder { columns, rows: 0, in_row: 0, data }
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
        self.data.len() - FRAME_ROOM
    }

    pub fn finish(self) -> RowBatch {
        assert_eq!(self.in_row, 0, "last row was not ended");
        RowBatch { columns: self.columns, rows: self.rows, data: self.data, start: FRAME_ROOM, index: OnceLock::new() }
    }
}
