//! PostgreSQL's types through the server's PostgreSQL backend, the driver and unixODBC
//! (odbc-api, wide entry points): what SQLDescribeCol says each column is, every value
//! read back as the C type an application would use, written both as SQL literals and as
//! typed parameters, and NULL in every column.
//!
//! Needs the PostgreSQL test cluster (`TWOFACTOR_TEST_PG_DIR`); without one each test
//! says so and returns.

use odbc_api::parameter::{VarCharSlice, WithDataType};
use odbc_api::sys::{Date, Time, Timestamp};
use odbc_api::{Bit, ColumnDescription, Cursor, CursorRow, DataType, IntoParameter, ResultSetMetadata};
use twofactor_e2e::odbc::{exec, login};
use twofactor_e2e::pg::PgTestServer;

const TABLE: &str = "CREATE TABLE every_type (
    id int4 PRIMARY KEY, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, num numeric(20,6),
    t text, vc varchar(40), ch char(5), b bytea, flag bool, d date, tm time, ts timestamp,
    tstz timestamptz, u uuid, j json, jb jsonb, iv interval, arr int4[], tarr text[])";

const COLUMNS: &str = "i2, i4, i8, f4, f8, num, t, vc, ch, b, flag, d, tm, ts, tstz, u, j, jb, iv, arr, tarr";

const TEXT: &str = "Grüße, Καλημέρα, こんにちは ✓ 🦀";
const UUID: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
const JSON: &str = r#"{"b": "ü", "a": [1, 2, 3]}"#;
/// jsonb's own rendering of JSON: keys sorted by length then bytes, ", " and ": ".
const JSONB: &str = r#"{"a": [1, 2, 3], "b": "ü"}"#;

fn every_byte() -> Vec<u8> {
    (0..=255u8).chain([0, 0, 255, b'\\', b'x']).collect()
}

/// The row of literals: PostgreSQL parses every value itself.
fn literal_row() -> String {
    let hex: String = every_byte().iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "INSERT INTO every_type (id, {COLUMNS}) VALUES (1, -32768, -2147483648, 9223372036854775807, \
         1.5, -1.25e-300, -12345678901234.567891, '{TEXT}', 'naïve', 'ab', '\\x{hex}'::bytea, true, \
         '2024-02-29', '23:59:58', '1999-12-31 23:59:58.125', '2024-02-29 12:34:56.789+02', '{UUID}', \
         '{JSON}', '{JSON}', '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds', \
         '{{1,2,NULL,4}}', '{{\"a b\",c,\"\\\"q\\\"\"}}')"
    )
}

fn describe(cursor: &mut impl ResultSetMetadata, column: u16) -> (String, i16, usize, i16) {
    let mut d = ColumnDescription::default();
    cursor.describe_col(column, &mut d).unwrap();
    let name = d.name_to_string().unwrap();
    let dt: DataType = d.data_type;
    (name, dt.data_type().0, dt.column_size().map_or(0, |n| n.get()), dt.decimal_digits())
}

fn text(row: &mut CursorRow<'_>, column: u16) -> Option<String> {
    let mut buf = Vec::new();
    row.get_wide_text(column, &mut buf).unwrap().then(|| String::from_utf16(&buf).unwrap())
}

const SMALLINT: i16 = 5;
const INTEGER: i16 = 4;
const BIGINT: i16 = -5;
const REAL: i16 = 7;
const FLOAT: i16 = 6;
const DOUBLE: i16 = 8;
const NUMERIC: i16 = 2;
const DECIMAL: i16 = 3;
const CHAR: i16 = 1;
const VARCHAR: i16 = 12;
const LONGVARCHAR: i16 = -1;
const WCHAR: i16 = -8;
const WVARCHAR: i16 = -9;
const WLONGVARCHAR: i16 = -10;
const BINARY_TYPES: [i16; 3] = [-2, -3, -4];
const BIT: i16 = -7;
const TYPE_DATE: i16 = 91;
const TYPE_TIME: i16 = 92;
const TYPE_TIMESTAMP: i16 = 93;
const GUID: i16 = -11;
const TEXT_TYPES: [i16; 6] = [CHAR, VARCHAR, LONGVARCHAR, WCHAR, WVARCHAR, WLONGVARCHAR];

#[test]
fn every_postgresql_type_is_described_and_reads_back_as_written() {
    let Some(pg) = PgTestServer::start(&["types"]) else { return };
    let user = pg.user("types");
    let conn = login(&pg, &user);
    exec(&conn, TABLE);
    // The session's zone decides how timestamptz is shown; the test does not depend on
    // the cluster's.
    exec(&conn, "SET TIME ZONE 'UTC'");
    exec(&conn, &literal_row());
    exec(&conn, "INSERT INTO every_type (id) VALUES (3)");

    let mut cursor =
        conn.execute(&format!("SELECT {COLUMNS} FROM every_type ORDER BY id"), (), None).unwrap().expect("rows");
    let described: Vec<_> = (1..=21).map(|c| describe(&mut cursor, c)).collect();
    eprintln!("(column, SQL type, size, digits): {described:?}");
    let of = |name: &str| described.iter().find(|d| d.0 == name).unwrap_or_else(|| panic!("{name}: {described:?}"));
    assert_eq!(of("i2").1, SMALLINT, "{described:?}");
    assert_eq!(of("i4").1, INTEGER);
    assert_eq!(of("i8").1, BIGINT);
    assert!([REAL, FLOAT].contains(&of("f4").1), "float4: {:?}", of("f4"));
    assert!([DOUBLE, FLOAT].contains(&of("f8").1), "float8: {:?}", of("f8"));
    let num = of("num");
    assert!([NUMERIC, DECIMAL].contains(&num.1) && num.2 == 20 && num.3 == 6, "numeric(20,6): {num:?}");
    assert!(TEXT_TYPES.contains(&of("t").1), "text: {:?}", of("t"));
    let vc = of("vc");
    assert!([VARCHAR, WVARCHAR].contains(&vc.1) && vc.2 == 40, "varchar(40): {vc:?}");
    let ch = of("ch");
    assert!([CHAR, WCHAR].contains(&ch.1) && ch.2 == 5, "char(5): {ch:?}");
    assert!(BINARY_TYPES.contains(&of("b").1), "bytea: {:?}", of("b"));
    assert_eq!(of("flag").1, BIT, "bool");
    assert_eq!(of("d").1, TYPE_DATE);
    assert_eq!(of("tm").1, TYPE_TIME);
    assert_eq!(of("ts").1, TYPE_TIMESTAMP);
    assert!(TEXT_TYPES.contains(&of("tstz").1) || of("tstz").1 == TYPE_TIMESTAMP, "{:?}", of("tstz"));
    assert!(TEXT_TYPES.contains(&of("u").1) || of("u").1 == GUID, "uuid: {:?}", of("u"));
    for name in ["j", "jb", "arr", "tarr"] {
        assert!(TEXT_TYPES.contains(&of(name).1), "{name} is text to ODBC: {:?}", of(name));
    }
    assert!(TEXT_TYPES.contains(&of("iv").1) || (101..=113).contains(&of("iv").1), "interval: {:?}", of("iv"));

    let mut row = cursor.next_row().unwrap().expect("the row of literals");
    let (mut i2, mut i4, mut i8, mut f4, mut f8) = (0i16, 0i32, 0i64, 0f32, 0f64);
    row.get_data(1, &mut i2).unwrap();
    row.get_data(2, &mut i4).unwrap();
    row.get_data(3, &mut i8).unwrap();
    row.get_data(4, &mut f4).unwrap();
    row.get_data(5, &mut f8).unwrap();
    assert_eq!((i2, i4, i8, f4, f8), (i16::MIN, i32::MIN, i64::MAX, 1.5, -1.25e-300));
    assert_eq!(text(&mut row, 6).as_deref(), Some("-12345678901234.567891"), "numeric, every digit");
    assert_eq!(text(&mut row, 7).as_deref(), Some(TEXT));
    assert_eq!(text(&mut row, 8).as_deref(), Some("naïve"));
    assert_eq!(text(&mut row, 9).as_deref(), Some("ab   "), "char(5) is blank-padded");
    let mut bytes = Vec::new();
    assert!(row.get_binary(10, &mut bytes).unwrap());
    assert_eq!(bytes, every_byte(), "bytea, every byte value, as SQL_C_BINARY");
    let mut flag = Bit(0);
    row.get_data(11, &mut flag).unwrap();
    assert_eq!(flag.0, 1);
    let mut d = Date::default();
    row.get_data(12, &mut d).unwrap();
    assert_eq!(d, Date { year: 2024, month: 2, day: 29 });
    let mut tm = Time::default();
    row.get_data(13, &mut tm).unwrap();
    assert_eq!(tm, Time { hour: 23, minute: 59, second: 58 });
    let mut ts = Timestamp::default();
    row.get_data(14, &mut ts).unwrap();
    assert_eq!(
        ts,
        Timestamp { year: 1999, month: 12, day: 31, hour: 23, minute: 59, second: 58, fraction: 125_000_000 }
    );
    let tstz = text(&mut row, 15).unwrap();
    assert!(tstz.starts_with("2024-02-29 10:34:56.789"), "timestamptz in UTC: {tstz}");
    assert_eq!(text(&mut row, 16).as_deref(), Some(UUID));
    assert_eq!(text(&mut row, 17).as_deref(), Some(JSON), "json keeps its text");
    assert_eq!(text(&mut row, 18).as_deref(), Some(JSONB), "jsonb is normalised by PostgreSQL");
    assert_eq!(text(&mut row, 19).as_deref(), Some("1 year 2 mons 3 days 04:05:06.5"));
    assert_eq!(text(&mut row, 20).as_deref(), Some("{1,2,NULL,4}"));
    assert_eq!(text(&mut row, 21).as_deref(), Some(r#"{"a b",c,"\"q\""}"#));

    let mut row = cursor.next_row().unwrap().expect("the row of NULLs");
    for column in 1..=21 {
        assert_eq!(text(&mut row, column), None, "column {column} of the NULL row");
    }
    assert!(cursor.next_row().unwrap().is_none());
}

#[test]
fn typed_parameters_reach_postgresql_columns_of_every_type() {
    let Some(pg) = PgTestServer::start(&["typed"]) else { return };
    let user = pg.user("typed");
    let conn = login(&pg, &user);
    exec(&conn, TABLE);
    exec(&conn, "SET TIME ZONE 'UTC'");
    let numeric = WithDataType {
        value: VarCharSlice::new(b"-12345678901234.567891"),
        data_type: DataType::Numeric { precision: 20, scale: 6 },
    };
    let text_param = TEXT.into_parameter();
    let bytes = every_byte();
    let bytes_param = bytes.as_slice().into_parameter();
    let ts = WithDataType {
        value: Timestamp { year: 1999, month: 12, day: 31, hour: 23, minute: 59, second: 58, fraction: 125_000_000 },
        data_type: DataType::Timestamp { precision: 3 },
    };
    // Text into uuid, json, jsonb, interval and array columns: PostgreSQL must be left to
    // infer the parameter's type from the column (a parameter typed varchar would be
    // refused: "column u is of type uuid but expression is of type character varying").
    let tstz = "2024-02-29 12:34:56.789+02".into_parameter();
    let uuid = UUID.into_parameter();
    let json = JSON.into_parameter();
    let interval = "P1Y2M3DT4H5M6.5S".into_parameter();
    let array = "{1,2,NULL,4}".into_parameter();
    let text_array = r#"{"a b",c,"\"q\""}"#.into_parameter();
    let narrow = VarCharSlice::new("naïve".as_bytes());
    let ch = VarCharSlice::new(b"ab");
    let time =
        WithDataType { value: Time { hour: 23, minute: 59, second: 58 }, data_type: DataType::Time { precision: 0 } };
    conn.execute(
        &format!("INSERT INTO every_type (id, {COLUMNS}) VALUES (2, {})", vec!["?"; 21].join(", ")),
        (
            &i16::MIN,
            &i32::MIN,
            &i64::MAX,
            &1.5f32,
            &-1.25e-300f64,
            &numeric,
            &text_param,
            &narrow,
            &ch,
            &bytes_param,
            &Bit(1),
            &Date { year: 2024, month: 2, day: 29 },
            &time,
            &ts,
            &tstz,
            &uuid,
            &json,
            &json,
            &interval,
            &array,
            &text_array,
        ),
        None,
    )
    .expect("insert with 21 typed parameters");

    // PostgreSQL compares what it stored with the same literals the first test reads.
    exec(&conn, &literal_row());
    let mut cursor = conn
        .execute(
            &format!(
                "SELECT {} FROM every_type a, every_type b WHERE a.id = 1 AND b.id = 2",
                COLUMNS.split(", ").map(|c| format!("(a.{c}::text = b.{c}::text)::int")).collect::<Vec<_>>().join(", ")
            ),
            (),
            None,
        )
        .unwrap()
        .expect("a result set");
    let mut row = cursor.next_row().unwrap().expect("both rows");
    let names: Vec<&str> = COLUMNS.split(", ").collect();
    let mut differ = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let mut same = 0i32;
        row.get_data(k as u16 + 1, &mut same).unwrap();
        if same != 1 {
            differ.push(*name);
        }
    }
    drop(cursor);
    let detail = if differ.is_empty() {
        String::new()
    } else {
        let mut c = conn
            .execute(&format!("SELECT {} FROM every_type WHERE id = 2", differ.join(", ")), (), None)
            .unwrap()
            .unwrap();
        let mut r = c.next_row().unwrap().unwrap();
        (1..=differ.len() as u16).map(|k| format!("{:?} ", text(&mut r, k))).collect()
    };
    assert!(differ.is_empty(), "parameters stored differently from the literals in {differ:?}: {detail}");
}
