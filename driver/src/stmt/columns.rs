//! What SQLDescribeCol, SQLColAttribute(s) and the IRD report about a result column.

use twofactor_protocol::{sql_type, ColumnDesc};

use crate::convert::to_c::display_size;
use crate::convert::{is_binary_sql, is_character_sql};
use crate::desc::{verbose_type, FieldValue};
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// SQLColAttribute field identifiers, ODBC 3 and the ODBC 2 SQL_COLUMN_* ones a driver
/// manager passes through (0..=18 overlap where the meaning is the same).
pub mod field {
    pub const COLUMN_COUNT: u16 = 0;
    pub const COLUMN_NAME: u16 = 1;
    pub const CONCISE_TYPE: u16 = 2;
    pub const COLUMN_LENGTH: u16 = 3;
    pub const COLUMN_PRECISION: u16 = 4;
    pub const COLUMN_SCALE: u16 = 5;
    pub const DISPLAY_SIZE: u16 = 6;
    pub const COLUMN_NULLABLE: u16 = 7;
    pub const UNSIGNED: u16 = 8;
    pub const FIXED_PREC_SCALE: u16 = 9;
    pub const UPDATABLE: u16 = 10;
    pub const AUTO_UNIQUE_VALUE: u16 = 11;
    pub const CASE_SENSITIVE: u16 = 12;
    pub const SEARCHABLE: u16 = 13;
    pub const TYPE_NAME: u16 = 14;
    pub const TABLE_NAME: u16 = 15;
    pub const SCHEMA_NAME: u16 = 16;
    pub const CATALOG_NAME: u16 = 17;
    pub const LABEL: u16 = 18;
    pub const BASE_COLUMN_NAME: u16 = 22;
    pub const BASE_TABLE_NAME: u16 = 23;
    pub const LITERAL_PREFIX: u16 = 27;
    pub const LITERAL_SUFFIX: u16 = 28;
    pub const LOCAL_TYPE_NAME: u16 = 29;
    pub const NUM_PREC_RADIX: u16 = 32;
    pub const COUNT: u16 = 1001;
    pub const TYPE: u16 = 1002;
    pub const LENGTH: u16 = 1003;
    pub const PRECISION: u16 = 1005;
    pub const SCALE: u16 = 1006;
    pub const NULLABLE: u16 = 1008;
    pub const NAME: u16 = 1011;
    pub const UNNAMED: u16 = 1012;
    pub const OCTET_LENGTH: u16 = 1013;
}

/// The SQL type an application of `odbc_version` expects: ODBC 2 knows dates as 9..11.
pub fn app_sql_type(sql: i16, odbc_version: u32) -> i16 {
    if odbc_version == 2 {
        match sql {
            sql_type::TYPE_DATE => 9,
            sql_type::TYPE_TIME => 10,
            sql_type::TYPE_TIMESTAMP => 11,
            other => other,
        }
    } else {
        sql
    }
}

fn is_numeric(sql: i16) -> bool {
    matches!(
        sql,
        sql_type::NUMERIC
            | sql_type::DECIMAL
            | sql_type::INTEGER
            | sql_type::SMALLINT
            | sql_type::FLOAT
            | sql_type::REAL
            | sql_type::DOUBLE
            | sql_type::BIGINT
            | sql_type::TINYINT
    )
}

/// Bytes transferred for the column in its default C type.
pub fn octet_length(c: &ColumnDesc) -> i64 {
    let size = i64::from(c.column_size);
    match c.sql_type {
        sql_type::WCHAR | sql_type::WVARCHAR | sql_type::WLONGVARCHAR => {
            size.saturating_mul(crate::ffi::text::wide_unit_size() as i64)
        }
        sql_type::BIT | sql_type::TINYINT => 1,
        sql_type::SMALLINT => 2,
        sql_type::INTEGER | sql_type::REAL => 4,
        sql_type::BIGINT | sql_type::DOUBLE | sql_type::FLOAT => 8,
        sql_type::DECIMAL | sql_type::NUMERIC => size + 2,
        sql_type::TYPE_DATE | sql_type::TYPE_TIME => 6,
        sql_type::TYPE_TIMESTAMP => 16,
        _ => size,
    }
}

/// SQLDescribeCol's column size.
pub fn column_size(c: &ColumnDesc) -> u64 {
    u64::from(c.column_size)
}

/// What SQLColAttribute returns for `id` of column `c`.
pub fn attribute(c: &ColumnDesc, id: u16, column_count: usize, odbc_version: u32) -> OdbcResult<FieldValue> {
    use field::*;
    let int = |v: i64| Ok(FieldValue::Int(v));
    let text = |s: &str| Ok(FieldValue::Str(s.to_owned()));
    let sql = c.sql_type;
    match id {
        COLUMN_COUNT | COUNT => int(column_count as i64),
        COLUMN_NAME | NAME | LABEL | BASE_COLUMN_NAME => text(&c.name),
        CONCISE_TYPE => int(app_sql_type(sql, odbc_version).into()),
        TYPE if odbc_version == 2 => int(app_sql_type(sql, odbc_version).into()),
        TYPE => int(verbose_type(sql).0.into()),
        COLUMN_LENGTH => int(octet_length(c)),
        COLUMN_PRECISION => int(i64::from(c.column_size)),
        COLUMN_SCALE => int(c.decimal_digits.into()),
        DISPLAY_SIZE => int(display_size(sql, c.column_size, c.decimal_digits)),
        COLUMN_NULLABLE | NULLABLE => int(c.nullable.odbc_code().into()),
        UNSIGNED => int(i64::from(!is_numeric(sql))),
        FIXED_PREC_SCALE => int(0),
        UPDATABLE => int(2),
        AUTO_UNIQUE_VALUE => int(0),
        CASE_SENSITIVE => int(i64::from(is_character_sql(sql))),
        SEARCHABLE => int(if is_binary_sql(sql) { 2 } else { 3 }),
        TYPE_NAME => text(&c.type_name),
        LOCAL_TYPE_NAME => text(""),
        TABLE_NAME | BASE_TABLE_NAME => text(&c.table_name),
        SCHEMA_NAME | CATALOG_NAME => text(""),
        LITERAL_PREFIX | LITERAL_SUFFIX => {
            let quote = is_character_sql(sql)
                || matches!(sql, sql_type::TYPE_DATE | sql_type::TYPE_TIME | sql_type::TYPE_TIMESTAMP);
            match (id, is_binary_sql(sql)) {
                (LITERAL_PREFIX, true) => text("X'"),
                (_, true) => text("'"),
                _ => text(if quote { "'" } else { "" }),
            }
        }
        NUM_PREC_RADIX => int(match sql {
            sql_type::FLOAT | sql_type::REAL | sql_type::DOUBLE => 2,
            s if is_numeric(s) => 10,
            _ => 0,
        }),
        LENGTH => int(i64::from(c.column_size)),
        PRECISION => int(match sql {
            sql_type::TYPE_TIME | sql_type::TYPE_TIMESTAMP => c.decimal_digits.into(),
            _ => i64::from(c.column_size),
        }),
        SCALE => int(c.decimal_digits.into()),
        UNNAMED => int(i64::from(c.name.is_empty())),
        OCTET_LENGTH => int(octet_length(c)),
        other => Err(OdbcError::new(
            SqlState::INVALID_DESCRIPTOR_FIELD,
            format!("invalid descriptor field identifier {other}"),
        )),
    }
}

/// An IRD record field (SQLGetDescField on the IRD).
pub fn descriptor_field(c: &ColumnDesc, id: i16, odbc_version: u32) -> OdbcResult<FieldValue> {
    let id = u16::try_from(id).map_err(|_| {
        OdbcError::new(SqlState::INVALID_DESCRIPTOR_FIELD, format!("invalid descriptor field identifier {id}"))
    })?;
    if id == crate::desc::field::DATETIME_INTERVAL_CODE as u16 {
        return Ok(FieldValue::Int(verbose_type(c.sql_type).1.into()));
    }
    attribute(c, id, 0, odbc_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use twofactor_protocol::Nullability;

    fn col(sql: i16, size: u32, digits: i16) -> ColumnDesc {
        ColumnDesc {
            name: "c".into(),
            sql_type: sql,
            type_name: "T".into(),
            column_size: size,
            decimal_digits: digits,
            nullable: Nullability::Nullable,
            table_name: "t".into(),
        }
    }

    #[test]
    fn odbc2_applications_see_odbc2_date_types() {
        let c = col(sql_type::TYPE_TIMESTAMP, 26, 6);
        assert_eq!(attribute(&c, field::CONCISE_TYPE, 1, 2).unwrap(), FieldValue::Int(11));
        assert_eq!(attribute(&c, field::CONCISE_TYPE, 1, 3).unwrap(), FieldValue::Int(93));
        assert_eq!(attribute(&c, field::TYPE, 1, 3).unwrap(), FieldValue::Int(9));
    }

    #[test]
    fn numbers_are_signed_and_text_is_not_numeric() {
        assert_eq!(attribute(&col(sql_type::INTEGER, 10, 0), field::UNSIGNED, 1, 3).unwrap(), FieldValue::Int(0));
        assert_eq!(attribute(&col(sql_type::VARCHAR, 10, 0), field::UNSIGNED, 1, 3).unwrap(), FieldValue::Int(1));
        assert_eq!(attribute(&col(sql_type::VARCHAR, 10, 0), field::DISPLAY_SIZE, 1, 3).unwrap(), FieldValue::Int(10));
        assert_eq!(attribute(&col(sql_type::WVARCHAR, 10, 0), field::OCTET_LENGTH, 1, 3).unwrap(), FieldValue::Int(20));
        assert_eq!(
            attribute(&col(sql_type::INTEGER, 10, 0), 4242, 1, 3).unwrap_err().state,
            SqlState::INVALID_DESCRIPTOR_FIELD
        );
    }
}
