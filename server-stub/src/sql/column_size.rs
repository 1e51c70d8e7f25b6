//! The column size reported for values without a declared bound, shared by both backends.

/// The largest value either backend stores (SQLite's SQLITE_MAX_LENGTH, 10^9 bytes, and
/// PostgreSQL's 1 GB field limit, rounded to ODBC's customary 2^30 - 1): what
/// SQLGetTypeInfo reports as the size of TEXT and BLOB/bytea, and what a column declared
/// without a size can hold.
pub const LONG_SIZE: u32 = 1_073_741_823;

/// The column size reported for TEXT, BLOB and other columns declared without a size
/// (SQLDescribeCol, SQLColAttribute, SQLColumns, SQLDescribeParam). Tools that size
/// their buffers from it (arrow-odbc, odbc2parquet, turbodbc, pyodbc's
/// fast_executemany) would otherwise allocate 1 GiB per value, so the default is
/// 65,536 and the DSN key `LongColumnSize` changes it (psqlODBC's MaxLongVarcharSize
/// plays the same part). It is a description only: SQLGetData still returns values of
/// any length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnboundedSize(pub u32);

impl UnboundedSize {
    pub const DEFAULT: UnboundedSize = UnboundedSize(twofactor_protocol::SessionOptions::DEFAULT.long_column_size);

    /// `size` as reported: an unbounded size becomes the configured one.
    pub fn reported(self, size: u32) -> u32 {
        if size == LONG_SIZE {
            self.0
        } else {
            size
        }
    }
}

impl Default for UnboundedSize {
    fn default() -> Self {
        UnboundedSize::DEFAULT
    }
}
