//! PostgreSQL types as ODBC SQL types: what SQLDescribeCol, SQLDescribeParam and the
//! catalogs report, and how each column's binary values are decoded (`values.rs`).

use postgres::types::{Kind as PgKind, Type};
use twofactor_protocol::{sql_type as st, ColumnDesc, Nullability, ParamDesc};

use crate::sql::column_size::{UnboundedSize, LONG_SIZE};

/// How a column's binary values become protocol values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decode {
    Int2,
    Int4,
    Int8,
    /// oid and its aliases (regclass, ...): unsigned 32-bit.
    Oid,
    Float4,
    Float8,
    Numeric,
    Bool,
    /// UTF-8 text as PostgreSQL sends it: text, varchar, char(n), name, json, xml, enums.
    Text,
    /// jsonb: a version byte, then the text.
    Jsonb,
    Bytes,
    Date,
    Time,
    Timestamp,
    /// Sent as the UTC timestamp (sessions run with TimeZone = UTC).
    TimestampTz,
    /// time with time zone: text, as PostgreSQL prints it (`13:45:01+02`).
    TimeTz,
    Uuid,
    Interval,
    /// "char": one byte.
    Char1,
    /// Arrays become PostgreSQL's text form, `{1,2,NULL}`.
    Array(Box<Decode>),
    /// Anything else: its binary form, as text when it is UTF-8.
    Other,
}

/// An ODBC description of a PostgreSQL type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTypeInfo {
    pub sql_type: i16,
    pub size: u32,
    pub digits: i16,
    pub decode: Decode,
}

fn t(sql_type: i16, size: u32, digits: i16, decode: Decode) -> PgTypeInfo {
    PgTypeInfo { sql_type, size, digits, decode }
}

/// Precision and scale reported for `numeric` declared without them (psqlODBC's default).
pub const NUMERIC_DEFAULT: (u32, i16) = (28, 6);

/// The ODBC type of a PostgreSQL type with its type modifier (`-1`: none).
pub fn info(ty: &Type, typmod: i32) -> PgTypeInfo {
    let has_mod = typmod >= 0;
    match *ty {
        Type::INT2 => t(st::SMALLINT, 5, 0, Decode::Int2),
        Type::INT4 => t(st::INTEGER, 10, 0, Decode::Int4),
        Type::INT8 => t(st::BIGINT, 19, 0, Decode::Int8),
        Type::OID | Type::REGCLASS | Type::REGPROC | Type::REGTYPE | Type::XID | Type::CID => {
            t(st::BIGINT, 10, 0, Decode::Oid)
        }
        Type::FLOAT4 => t(st::REAL, 7, 0, Decode::Float4),
        Type::FLOAT8 => t(st::DOUBLE, 15, 0, Decode::Float8),
        Type::NUMERIC => {
            // typmod = ((precision << 16) | scale) + 4
            let (p, s) = if typmod >= 4 {
                let m = typmod - 4;
                (((m >> 16) & 0xffff) as u32, (m & 0xffff) as i16)
            } else {
                NUMERIC_DEFAULT
            };
            t(st::NUMERIC, p, s, Decode::Numeric)
        }
        Type::BOOL => t(st::BIT, 1, 0, Decode::Bool),
        // char(n), varchar(n): typmod = n + 4.
        Type::BPCHAR => t(st::CHAR, if has_mod { (typmod - 4).max(1) as u32 } else { 1 }, 0, Decode::Text),
        Type::VARCHAR => t(st::VARCHAR, if has_mod { (typmod - 4).max(1) as u32 } else { LONG_SIZE }, 0, Decode::Text),
        Type::NAME => t(st::VARCHAR, 63, 0, Decode::Text),
        Type::CHAR => t(st::CHAR, 1, 0, Decode::Char1),
        Type::TEXT | Type::JSON | Type::XML | Type::UNKNOWN => t(st::LONGVARCHAR, LONG_SIZE, 0, Decode::Text),
        Type::JSONB => t(st::LONGVARCHAR, LONG_SIZE, 0, Decode::Jsonb),
        Type::BYTEA => t(st::LONGVARBINARY, LONG_SIZE, 0, Decode::Bytes),
        Type::DATE => t(st::TYPE_DATE, 10, 0, Decode::Date),
        // time(p)/timestamp(p): typmod = p; the default is microseconds.
        Type::TIME => {
            let p = if has_mod { typmod.min(6) as i16 } else { 6 };
            t(st::TYPE_TIME, 8 + if p > 0 { 1 + p as u32 } else { 0 }, p, Decode::Time)
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let p = if has_mod { typmod.min(6) as i16 } else { 6 };
            let decode = if *ty == Type::TIMESTAMP { Decode::Timestamp } else { Decode::TimestampTz };
            t(st::TYPE_TIMESTAMP, 19 + if p > 0 { 1 + p as u32 } else { 0 }, p, decode)
        }
        Type::UUID => t(st::CHAR, 36, 0, Decode::Uuid),
        Type::TIMETZ => t(st::VARCHAR, 21, 0, Decode::TimeTz),
        Type::INTERVAL => t(st::VARCHAR, 255, 0, Decode::Interval),
        _ => match ty.kind() {
            PgKind::Array(inner) => t(st::LONGVARCHAR, LONG_SIZE, 0, Decode::Array(Box::new(info(inner, -1).decode))),
            PgKind::Enum(_) => t(st::VARCHAR, 255, 0, Decode::Text),
            PgKind::Domain(inner) => info(inner, typmod),
            _ => t(st::LONGVARCHAR, LONG_SIZE, 0, Decode::Other),
        },
    }
}

/// The type name reported with a column: PostgreSQL's own (`int4`, `varchar`), as
/// SQLGetTypeInfo lists it.
pub fn type_name(ty: &Type) -> String {
    match ty.kind() {
        PgKind::Domain(inner) => inner.name().to_owned(),
        _ => ty.name().to_owned(),
    }
}

pub fn column_desc(
    name: &str,
    ty: &Type,
    typmod: i32,
    nullable: Nullability,
    table: &str,
    unbounded: UnboundedSize,
) -> ColumnDesc {
    let i = info(ty, typmod);
    ColumnDesc {
        name: name.to_owned(),
        sql_type: i.sql_type,
        type_name: type_name(ty),
        column_size: unbounded.reported(i.size),
        decimal_digits: i.digits,
        nullable,
        table_name: table.to_owned(),
    }
}

/// SQLDescribeParam from the type PostgreSQL inferred for a parameter marker.
/// A marker of an unbounded type (text, bytea, json, ...) has size 0, "no limit", as on
/// SQLite: pyodbc's fast_executemany then sends such values as data-at-execution, where
/// a size would make it refuse longer values or allocate that size for every row.
pub fn param_desc(ty: &Type) -> ParamDesc {
    let i = info(ty, -1);
    ParamDesc {
        sql_type: i.sql_type,
        column_size: if i.size == LONG_SIZE { 0 } else { i.size },
        decimal_digits: i.digits,
        nullable: Nullability::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_modifiers_give_sizes_and_digits() {
        assert_eq!(info(&Type::VARCHAR, 44).size, 40);
        assert_eq!(info(&Type::BPCHAR, 14).size, 10);
        let n = info(&Type::NUMERIC, ((12 << 16) | 3) + 4);
        assert_eq!((n.sql_type, n.size, n.digits), (st::NUMERIC, 12, 3));
        assert_eq!((info(&Type::NUMERIC, -1).size, info(&Type::NUMERIC, -1).digits), NUMERIC_DEFAULT);
        assert_eq!(info(&Type::TIMESTAMP, 0).size, 19);
        assert_eq!(info(&Type::TIMESTAMPTZ, -1).digits, 6);
        assert_eq!(info(&Type::INT4_ARRAY, -1).decode, Decode::Array(Box::new(Decode::Int4)));
        assert_eq!(info(&Type::UUID, -1).sql_type, st::CHAR);
    }
}
