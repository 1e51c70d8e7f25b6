//! SQLGetTypeInfo: one row per type the server maps, in the ODBC 3 layout.

use twofactor_protocol::{sql_type as st, Value};

use super::types;
use crate::sql::catalog_layout::{self as layout, is_char, opt_int, radix, small, text, verbose_type, Table};

/// One row per type the server maps, as SQLGetTypeInfo describes them.
pub(super) fn type_info(data_type: i16) -> Table {
    let columns = layout::type_info();
    // ODBC 2 date/time codes ask for the ODBC 3 types.
    let wanted = match data_type {
        9 => st::TYPE_DATE,
        10 => st::TYPE_TIME,
        11 => st::TYPE_TIMESTAMP,
        t => t,
    };
    // (name, type, size, prefix/suffix, create params)
    type Entry<'a> = (&'a str, i16, u32, Option<&'a str>, Option<&'a str>);
    let list: &[Entry<'_>] = &[
        ("BOOLEAN", st::BIT, 1, None, None),
        ("TINYINT", st::TINYINT, 3, None, None),
        ("BIGINT", st::BIGINT, 19, None, None),
        ("BLOB", st::LONGVARBINARY, types::LONG_SIZE, Some("X'"), None),
        ("VARBINARY", st::VARBINARY, 255, Some("X'"), Some("max length")),
        ("BINARY", st::BINARY, 255, Some("X'"), Some("length")),
        ("TEXT", st::LONGVARCHAR, types::LONG_SIZE, Some("'"), None),
        ("CHAR", st::CHAR, 255, Some("'"), Some("length")),
        ("DECIMAL", st::DECIMAL, 38, None, Some("precision,scale")),
        ("INTEGER", st::INTEGER, 10, None, None),
        ("SMALLINT", st::SMALLINT, 5, None, None),
        ("REAL", st::REAL, 7, None, None),
        ("DOUBLE", st::DOUBLE, 15, None, None),
        ("VARCHAR", st::VARCHAR, 255, Some("'"), Some("max length")),
        ("DATE", st::TYPE_DATE, 10, Some("'"), None),
        ("TIME", st::TYPE_TIME, 8, Some("'"), None),
        ("TIMESTAMP", st::TYPE_TIMESTAMP, 26, Some("'"), None),
    ];
    let mut rows: Vec<(i16, Vec<Value>)> = Vec::new();
    for &(name, t, size, quote, create) in list {
        if wanted != 0 && wanted != t {
            continue;
        }
        let numeric = radix(t).is_some();
        let (sql_data_type, sub) = verbose_type(t);
        let suffix = quote.map(|_| "'");
        let (min_scale, max_scale) = match t {
            st::DECIMAL => (Some(0), Some(38)),
            st::TYPE_TIMESTAMP => (Some(0), Some(9)),
            st::INTEGER | st::BIGINT | st::SMALLINT | st::TINYINT => (Some(0), Some(0)),
            _ => (None, None),
        };
        rows.push((
            t,
            vec![
                text(name),
                small(t as i64),
                Value::Int(size as i64),
                quote.map_or(Value::Null, text),
                suffix.map_or(Value::Null, text),
                create.map_or(Value::Null, text),
                small(1),
                small(i64::from(is_char(t) && !matches!(t, st::BINARY | st::VARBINARY | st::LONGVARBINARY))),
                small(if matches!(t, st::LONGVARBINARY | st::LONGVARCHAR) { 2 } else { 3 }),
                if numeric { small(0) } else { Value::Null },
                small(0),
                if numeric { small(0) } else { Value::Null },
                text(name),
                opt_int(min_scale),
                opt_int(max_scale),
                small(sql_data_type),
                opt_int(sub),
                opt_int(radix(t)),
                Value::Null,
            ],
        ));
    }
    rows.sort_by_key(|(t, _)| *t);
    (columns, rows.into_iter().map(|(_, r)| r).collect())
}
