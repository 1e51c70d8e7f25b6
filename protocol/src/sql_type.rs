//! ODBC SQL data type codes. The protocol describes columns and parameters in ODBC's own
//! numbers so neither side needs a translation table.

pub const CHAR: i16 = 1;
pub const NUMERIC: i16 = 2;
pub const DECIMAL: i16 = 3;
pub const INTEGER: i16 = 4;
pub const SMALLINT: i16 = 5;
pub const FLOAT: i16 = 6;
pub const REAL: i16 = 7;
pub const DOUBLE: i16 = 8;
pub const VARCHAR: i16 = 12;
pub const TYPE_DATE: i16 = 91;
pub const TYPE_TIME: i16 = 92;
pub const TYPE_TIMESTAMP: i16 = 93;
pub const LONGVARCHAR: i16 = -1;
pub const BINARY: i16 = -2;
pub const VARBINARY: i16 = -3;
pub const LONGVARBINARY: i16 = -4;
pub const BIGINT: i16 = -5;
pub const TINYINT: i16 = -6;
pub const BIT: i16 = -7;
pub const WCHAR: i16 = -8;
pub const WVARCHAR: i16 = -9;
pub const WLONGVARCHAR: i16 = -10;
/// The type of a parameter or column the server cannot describe.
pub const UNKNOWN: i16 = 0;
