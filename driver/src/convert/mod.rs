//! Conversions between the protocol's values and the C types of application buffers, as
//! the ODBC appendices "Converting Data from SQL to C Data Types" and "from C to SQL"
//! define them.
//!
//! Everything here is safe code over byte slices: the FFI layer turns an application's
//! pointer and length into a `&mut [u8]` (or `&[u8]`) and calls in, so every rule is
//! unit-testable without a driver manager.

pub mod format;
pub mod from_c;
pub mod to_c;

use twofactor_protocol::sql_type;

pub use from_c::{param_value, ParamScratch};
pub use to_c::{to_c, Piece, Target};

/// `StrLen_or_IndPtr` values with a meaning of their own.
pub const SQL_NULL_DATA: isize = -1;
pub const SQL_DATA_AT_EXEC: isize = -2;
pub const SQL_NTS: isize = -3;
pub const SQL_NO_TOTAL: isize = -4;
pub const SQL_LEN_DATA_AT_EXEC_OFFSET: isize = -100;

/// ODBC C type codes, including the ODBC 2 names drivers still receive.
pub mod code {
    pub const CHAR: i16 = 1;
    pub const WCHAR: i16 = -8;
    pub const BINARY: i16 = -2;
    pub const BIT: i16 = -7;
    pub const TINYINT: i16 = -6;
    pub const STINYINT: i16 = -26;
    pub const UTINYINT: i16 = -28;
    pub const SHORT: i16 = 5;
    pub const SSHORT: i16 = -15;
    pub const USHORT: i16 = -17;
    pub const LONG: i16 = 4;
    pub const SLONG: i16 = -16;
    pub const ULONG: i16 = -18;
    pub const SBIGINT: i16 = -25;
    pub const UBIGINT: i16 = -27;
    pub const FLOAT: i16 = 7;
    pub const DOUBLE: i16 = 8;
    pub const NUMERIC: i16 = 2;
    pub const DATE: i16 = 9;
    pub const TIME: i16 = 10;
    pub const TIMESTAMP: i16 = 11;
    pub const TYPE_DATE: i16 = 91;
    pub const TYPE_TIME: i16 = 92;
    pub const TYPE_TIMESTAMP: i16 = 93;
    pub const GUID: i16 = -11;
    pub const DEFAULT: i16 = 99;
    pub const ARD_TYPE: i16 = -99;
    pub const APD_TYPE: i16 = -100;
}

/// The C types the driver converts to and from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CType {
    Char,
    WChar,
    Binary,
    Bit,
    STinyInt,
    UTinyInt,
    SShort,
    UShort,
    SLong,
    ULong,
    SBigInt,
    UBigInt,
    Float,
    Double,
    Numeric,
    Date,
    Time,
    Timestamp,
    Guid,
    /// SQL_C_DEFAULT: the C type the column's SQL type implies.
    Default,
}

impl CType {
    /// `None` for codes the driver does not know (HY003) or cannot convert to
    /// (intervals: 07006 is raised by the caller when it knows the column).
    pub fn from_code(code: i16) -> Option<CType> {
        use self::code as c;
        Some(match code {
            c::CHAR => CType::Char,
            c::WCHAR => CType::WChar,
            c::BINARY => CType::Binary,
            c::BIT => CType::Bit,
            c::TINYINT | c::STINYINT => CType::STinyInt,
            c::UTINYINT => CType::UTinyInt,
            c::SHORT | c::SSHORT => CType::SShort,
            c::USHORT => CType::UShort,
            c::LONG | c::SLONG => CType::SLong,
            c::ULONG => CType::ULong,
            c::SBIGINT => CType::SBigInt,
            c::UBIGINT => CType::UBigInt,
            c::FLOAT => CType::Float,
            c::DOUBLE => CType::Double,
            c::NUMERIC => CType::Numeric,
            c::DATE | c::TYPE_DATE => CType::Date,
            c::TIME | c::TYPE_TIME => CType::Time,
            c::TIMESTAMP | c::TYPE_TIMESTAMP => CType::Timestamp,
            c::GUID => CType::Guid,
            c::DEFAULT => CType::Default,
            _ => return None,
        })
    }

    /// The size of the C object for fixed-size types; `None` for variable-length ones,
    /// whose buffer length the application gives.
    pub fn fixed_size(self) -> Option<usize> {
        Some(match self {
            CType::Char | CType::WChar | CType::Binary | CType::Default => return None,
            CType::Bit | CType::STinyInt | CType::UTinyInt => 1,
            CType::SShort | CType::UShort => 2,
            CType::SLong | CType::ULong | CType::Float => 4,
            CType::SBigInt | CType::UBigInt | CType::Double => 8,
            CType::Numeric => 19,
            CType::Date | CType::Time => 6,
            CType::Timestamp | CType::Guid => 16,
        })
    }

    /// SQL_C_DEFAULT resolved for a column of `sql`.
    pub fn default_for(sql: i16) -> CType {
        match sql {
            sql_type::WCHAR | sql_type::WVARCHAR | sql_type::WLONGVARCHAR => CType::WChar,
            sql_type::BIT => CType::Bit,
            sql_type::TINYINT => CType::STinyInt,
            sql_type::SMALLINT => CType::SShort,
            sql_type::INTEGER => CType::SLong,
            sql_type::BIGINT => CType::SBigInt,
            sql_type::REAL => CType::Float,
            sql_type::FLOAT | sql_type::DOUBLE => CType::Double,
            sql_type::BINARY | sql_type::VARBINARY | sql_type::LONGVARBINARY => CType::Binary,
            sql_type::TYPE_DATE | 9 => CType::Date,
            sql_type::TYPE_TIME | 10 => CType::Time,
            sql_type::TYPE_TIMESTAMP | 11 => CType::Timestamp,
            _ => CType::Char,
        }
    }

    /// Character and binary data can be read in pieces by SQLGetData.
    pub fn is_variable(self) -> bool {
        matches!(self, CType::Char | CType::WChar | CType::Binary)
    }
}

/// The SQL type codes this driver accepts from applications (SQLBindParameter,
/// SQLGetTypeInfo), ODBC 2 date codes included.
pub fn is_known_sql_type(sql: i16) -> bool {
    matches!(sql, -11 | -10..=-1 | 0..=8 | 9..=12 | 91..=93)
}

/// Normalises the ODBC 2 date/time SQL type codes to the ODBC 3 ones.
pub fn odbc3_sql_type(sql: i16) -> i16 {
    match sql {
        9 => sql_type::TYPE_DATE,
        10 => sql_type::TYPE_TIME,
        11 => sql_type::TYPE_TIMESTAMP,
        other => other,
    }
}

/// SQL types whose values are characters.
pub fn is_character_sql(sql: i16) -> bool {
    matches!(
        sql,
        sql_type::CHAR
            | sql_type::VARCHAR
            | sql_type::LONGVARCHAR
            | sql_type::WCHAR
            | sql_type::WVARCHAR
            | sql_type::WLONGVARCHAR
    )
}

pub fn is_binary_sql(sql: i16) -> bool {
    matches!(sql, sql_type::BINARY | sql_type::VARBINARY | sql_type::LONGVARBINARY)
}

/// The SQL type a parameter's value is converted for: the type the application bound,
/// except that character data bound for a marker the server described as binary (a BLOB
/// column) is kept as bytes, whatever character type the application named.
pub fn param_sql_type(bound: i16, described: Option<i16>) -> i16 {
    match described {
        Some(d) if is_binary_sql(d) && is_character_sql(odbc3_sql_type(bound)) => d,
        _ => bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odbc2_c_type_names_map_to_their_signed_odbc3_twins() {
        assert_eq!(CType::from_code(code::LONG), Some(CType::SLong));
        assert_eq!(CType::from_code(code::SHORT), Some(CType::SShort));
        assert_eq!(CType::from_code(code::TINYINT), Some(CType::STinyInt));
        assert_eq!(CType::from_code(code::TIMESTAMP), Some(CType::Timestamp));
        assert_eq!(CType::from_code(12345), None);
    }

    #[test]
    fn character_data_for_a_marker_described_as_binary_is_converted_as_binary() {
        use sql_type::*;
        assert_eq!(param_sql_type(VARCHAR, Some(LONGVARBINARY)), LONGVARBINARY);
        assert_eq!(param_sql_type(WLONGVARCHAR, Some(VARBINARY)), VARBINARY);
        assert_eq!(param_sql_type(VARCHAR, Some(INTEGER)), VARCHAR, "only binary targets override");
        assert_eq!(param_sql_type(INTEGER, Some(LONGVARBINARY)), INTEGER, "only character bindings");
        assert_eq!(param_sql_type(VARCHAR, None), VARCHAR);
    }

    #[test]
    fn c_default_follows_the_sql_type() {
        assert_eq!(CType::default_for(sql_type::INTEGER), CType::SLong);
        assert_eq!(CType::default_for(sql_type::DECIMAL), CType::Char);
        assert_eq!(CType::default_for(sql_type::WVARCHAR), CType::WChar);
        assert_eq!(CType::default_for(sql_type::VARBINARY), CType::Binary);
    }
}
