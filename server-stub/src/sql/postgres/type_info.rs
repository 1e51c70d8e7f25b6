//! SQLGetTypeInfo on PostgreSQL: one row per PostgreSQL type the backend maps, named as
//! PostgreSQL names them, in the ODBC 3 layout.

use twofactor_protocol::{sql_type as st, Value};

use crate::sql::catalog_layout::{self as layout, is_char, opt_int, radix, small, text, verbose_type, Table};
use crate::sql::column_size::LONG_SIZE;

/// (name, ODBC type, size, quoted, create params, auto-unique)
type Entry = (&'static str, i16, u32, bool, Option<&'static str>, bool);

const TYPES: &[Entry] = &[
    ("bool", st::BIT, 1, true, None, false),
    ("int8", st::BIGINT, 19, false, None, false),
    ("bigserial", st::BIGINT, 19, false, None, true),
    ("bytea", st::LONGVARBINARY, LONG_SIZE, true, None, false),
    ("text", st::LONGVARCHAR, LONG_SIZE, true, None, false),
    ("json", st::LONGVARCHAR, LONG_SIZE, true, None, false),
    ("jsonb", st::LONGVARCHAR, LONG_SIZE, true, None, false),
    ("bpchar", st::CHAR, 10_485_760, true, Some("length"), false),
    ("uuid", st::CHAR, 36, true, None, false),
    ("numeric", st::NUMERIC, 1000, false, Some("precision,scale"), false),
    ("int4", st::INTEGER, 10, false, None, false),
    ("serial", st::INTEGER, 10, false, None, true),
    ("int2", st::SMALLINT, 5, false, None, false),
    ("float4", st::REAL, 7, false, None, false),
    ("float8", st::DOUBLE, 15, false, None, false),
    ("varchar", st::VARCHAR, 10_485_760, true, Some("max length"), false),
    ("interval", st::VARCHAR, 255, true, None, false),
    ("date", st::TYPE_DATE, 10, true, None, false),
    ("time", st::TYPE_TIME, 15, true, None, false),
    ("timestamp", st::TYPE_TIMESTAMP, 26, true, None, false),
    ("timestamptz", st::TYPE_TIMESTAMP, 26, true, None, false),
];

pub fn type_info(data_type: i16) -> Table {
    // ODBC 2 date/time codes ask for the ODBC 3 types.
    let wanted = match data_type {
        9 => st::TYPE_DATE,
        10 => st::TYPE_TIME,
        11 => st::TYPE_TIMESTAMP,
        t => t,
    };
    let mut rows: Vec<(i16, Vec<Value>)> = Vec::new();
    for &(name, t, size, quoted, create, auto) in TYPES {
        if wanted != 0 && wanted != t {
            continue;
        }
        let numeric = radix(t).is_some();
        let (sql_data_type, sub) = verbose_type(t);
        let quote = quoted.then_some("'");
        let (min_scale, max_scale) = match t {
            st::NUMERIC => (Some(0), Some(1000)),
            st::TYPE_TIMESTAMP | st::TYPE_TIME => (Some(0), Some(6)),
            st::INTEGER | st::BIGINT | st::SMALLINT => (Some(0), Some(0)),
            _ => (None, None),
        };
        rows.push((
            t,
            vec![
                text(name),
                small(t.into()),
                Value::Int(size.into()),
                quote.map_or(Value::Null, text),
                quote.map_or(Value::Null, text),
                create.map_or(Value::Null, text),
                small(1),
                small(i64::from(is_char(t) && !matches!(t, st::BINARY | st::VARBINARY | st::LONGVARBINARY))),
                small(if matches!(t, st::LONGVARBINARY | st::LONGVARCHAR) { 2 } else { 3 }),
                if numeric { small(0) } else { Value::Null },
                small(0),
                if numeric { small(i64::from(auto)) } else { Value::Null },
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
    // Ordered by DATA_TYPE, then by how closely the type maps (the list's order).
    rows.sort_by_key(|(t, _)| *t);
    (layout::type_info(), rows.into_iter().map(|(_, r)| r).collect())
}
