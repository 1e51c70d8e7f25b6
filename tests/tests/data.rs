//! Data through the driver with odbc-api (wide entry points): parameters of every type,
//! long text in pieces, catalog functions.

use odbc_api::parameter::{VarCharSlice, WithDataType};
use odbc_api::sys::{Date, Timestamp};
use odbc_api::{Cursor, DataType, IntoParameter, Nullable};
use twofactor_e2e::odbc::{exec, login};
use twofactor_e2e::raw::{Charset, Env};
use twofactor_e2e::TestServer;

#[test]
fn parameters_of_every_type_round_trip() {
    let server = TestServer::start();
    let user = server.user("params");
    let conn = login(&server, &user);
    exec(
        &conn,
        "CREATE TABLE p (i INTEGER, b BIGINT, d DOUBLE, s VARCHAR(200), bin BLOB, n INTEGER, \
         dt DATE, ts TIMESTAMP, dec NUMERIC(12,4), nt VARCHAR(10))",
    );
    let text = "Grüße, Καλημέρα, こんにちは ✓ 🦀";
    let binary: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    let date = Date { year: 2024, month: 2, day: 29 };
    let ts = Timestamp { year: 1999, month: 12, day: 31, hour: 23, minute: 59, second: 58, fraction: 125_000_000 };
    let decimal = WithDataType {
        value: VarCharSlice::new(b"-12345.6789"),
        data_type: DataType::Decimal { precision: 12, scale: 4 },
    };
    let text_param = text.into_parameter();
    let binary_param = binary.as_slice().into_parameter();
    let null_int: Nullable<i32> = Nullable::null();
    // Timestamps need a precision: 3 fractional digits here.
    let ts_param = WithDataType { value: ts, data_type: DataType::Timestamp { precision: 3 } };
    let narrow = VarCharSlice::new("naïve".as_bytes());
    conn.execute(
        "INSERT INTO p VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            &-2_000_000_000i32,
            &9_007_199_254_740_993i64,
            &-1.25e-300f64,
            &text_param,
            &binary_param,
            &null_int,
            &date,
            &ts_param,
            &decimal,
            &narrow,
        ),
        None,
    )
    .expect("insert with ten typed parameters");

    let mut cursor = conn.execute("SELECT i, b, d, s, bin, n, dt, ts, dec, nt FROM p", (), None).unwrap().unwrap();
    let mut row = cursor.next_row().unwrap().expect("the inserted row");
    let (mut i, mut b, mut d) = (0i32, 0i64, 0f64);
    row.get_data(1, &mut i).unwrap();
    row.get_data(2, &mut b).unwrap();
    row.get_data(3, &mut d).unwrap();
    assert_eq!((i, b, d), (-2_000_000_000, 9_007_199_254_740_993, -1.25e-300));
    let mut wide = Vec::new();
    assert!(row.get_wide_text(4, &mut wide).unwrap());
    assert_eq!(String::from_utf16(&wide).unwrap(), text, "text as SQL_C_WCHAR");
    let mut bytes = Vec::new();
    assert!(row.get_binary(5, &mut bytes).unwrap());
    assert_eq!(bytes, binary);
    let mut n = Nullable::<i32>::null();
    row.get_data(6, &mut n).unwrap();
    assert!(n.as_opt().is_none(), "NULL came back as {:?}", n.as_opt());
    let mut dt = Date::default();
    row.get_data(7, &mut dt).unwrap();
    assert_eq!(dt, date);
    let mut t = Timestamp::default();
    row.get_data(8, &mut t).unwrap();
    assert_eq!(t, ts);
    let mut dec = Vec::new();
    row.get_text(9, &mut dec).unwrap();
    assert_eq!(String::from_utf8(dec).unwrap(), "-12345.6789");
    let mut nt = Vec::new();
    row.get_text(10, &mut nt).unwrap();
    assert_eq!(String::from_utf8(nt).unwrap(), "naïve");
    assert!(cursor.next_row().unwrap().is_none());
}

#[test]
fn non_ascii_text_reads_back_through_the_narrow_entry_points_as_utf8() {
    let server = TestServer::start();
    let user = server.user("narrow_text");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()))).unwrap();
    dbc.exec("CREATE TABLE t (s TEXT)").unwrap();
    dbc.exec("INSERT INTO t VALUES ('Grüße ✓')").unwrap();
    assert_eq!(dbc.query_text("SELECT s FROM t").unwrap().as_deref(), Some("Grüße ✓"));
    let mut wide = env.dbc(Charset::Wide);
    wide.driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()))).unwrap();
    assert_eq!(wide.query_text("SELECT s FROM t").unwrap().as_deref(), Some("Grüße ✓"));
}

#[test]
fn long_text_comes_back_through_sqlgetdata_in_pieces() {
    let server = TestServer::start();
    let user = server.user("long_text");
    let conn = login(&server, &user);
    exec(&conn, "CREATE TABLE long_text (id INTEGER PRIMARY KEY, body TEXT, blob BLOB)");
    // 100 KB with multi-byte characters, so pieces end inside a character somewhere.
    let unit = "0123456789abcdefghijklmnopqrstuvwxyzäöü€✓-";
    let body: String = unit.chars().cycle().take(100_000).collect();
    let blob: Vec<u8> = (0..150_000u32).map(|n| (n * 31 % 251) as u8).collect();
    conn.execute(
        "INSERT INTO long_text VALUES (1, ?, ?)",
        (&body.as_str().into_parameter(), &blob.as_slice().into_parameter()),
        None,
    )
    .unwrap();

    let mut cursor = conn.execute("SELECT body, blob FROM long_text", (), None).unwrap().unwrap();
    let mut row = cursor.next_row().unwrap().unwrap();
    // odbc-api starts with a small buffer and calls SQLGetData again after each 01004.
    let mut wide = Vec::with_capacity(16);
    assert!(row.get_wide_text(1, &mut wide).unwrap());
    assert_eq!(String::from_utf16(&wide).unwrap(), body);
    let mut bytes = Vec::with_capacity(16);
    assert!(row.get_binary(2, &mut bytes).unwrap());
    assert_eq!(bytes, blob);
    drop(row);
    drop(cursor);

    let mut cursor = conn.execute("SELECT body FROM long_text", (), None).unwrap().unwrap();
    let mut row = cursor.next_row().unwrap().unwrap();
    let mut narrow = Vec::with_capacity(10);
    assert!(row.get_text(1, &mut narrow).unwrap());
    assert_eq!(String::from_utf8(narrow).unwrap(), body, "as SQL_C_CHAR (UTF-8) in pieces");
}

#[test]
fn catalog_functions_describe_tables_columns_and_keys() {
    let server = TestServer::start();
    let user = server.user("catalog");
    let conn = login(&server, &user);
    exec(&conn, "CREATE TABLE orders (id INTEGER NOT NULL, line INTEGER NOT NULL, item VARCHAR(40), price NUMERIC(10,2), PRIMARY KEY (id, line))");
    exec(&conn, "CREATE TABLE customers (cid BIGINT PRIMARY KEY, name TEXT)");

    let tables: Vec<_> = conn.tables("", "", "", "").unwrap().map(|r| r.unwrap()).collect();
    let names: Vec<String> = tables.iter().map(|t| t.table.as_str().unwrap().unwrap_or("").to_owned()).collect();
    assert!(names.contains(&"orders".to_owned()) && names.contains(&"customers".to_owned()), "{names:?}");
    let orders = tables.iter().find(|t| t.table.as_str().unwrap() == Some("orders")).unwrap();
    assert_eq!(orders.table_type.as_str().unwrap(), Some("TABLE"));

    let columns: Vec<_> = conn.columns("", "", "orders", "").unwrap().map(|r| r.unwrap()).collect();
    let described: Vec<(String, i16, i32)> = columns
        .iter()
        .map(|c| (c.column_name.as_str().unwrap().unwrap().to_owned(), c.data_type, c.ordinal_position))
        .collect();
    assert_eq!(
        described,
        vec![("id".into(), 4, 1), ("line".into(), 4, 2), ("item".into(), 12, 3), ("price".into(), 3, 4)],
        "name, SQL type (INTEGER 4, VARCHAR 12, DECIMAL 3), ordinal"
    );
    let item = &columns[2];
    assert_eq!(item.column_size.as_opt().copied(), Some(40));
    assert_eq!(columns[0].nullable, 0, "id is NOT NULL");

    let keys: Vec<_> = conn.primary_keys(None, None, "orders").unwrap().map(|r| r.unwrap()).collect();
    let keys: Vec<(String, i16)> =
        keys.iter().map(|k| (k.column.as_str().unwrap().unwrap().to_owned(), k.key_seq)).collect();
    assert_eq!(keys, vec![("id".into(), 1), ("line".into(), 2)]);

    let env = Env::new();
    for cs in [Charset::Narrow, Charset::Wide] {
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()))).unwrap();
        let types = dbc.type_info().unwrap_or_else(|e| panic!("{cs:?}: SQLGetTypeInfo: {e}"));
        let codes: Vec<i16> = types.iter().map(|(_, t)| *t).collect();
        for wanted in [4i16, -5, 8, 12, -3, 91, 93, 3] {
            assert!(codes.contains(&wanted), "{cs:?}: SQLGetTypeInfo lacks SQL type {wanted}: {types:?}");
        }
    }
}
