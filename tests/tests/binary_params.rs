//! Bytes stay bytes and text stays text, through the narrow entry points as PHP's
//! ext/odbc, PDO_ODBC and Perl's DBD::ODBC call them; read-only sessions; the type
//! names and sizes catalog calls report.

use odbc_sys::CDataType;
use twofactor_e2e::raw::{Charset, Dbc, Env, Failure};
use twofactor_e2e::raw_stmt::{set_connect_attr, Statement};
use twofactor_e2e::TestServer;

const SQL_VARCHAR: i16 = 12;
const SQL_LONGVARBINARY: i16 = -4;
const SQL_ATTR_ACCESS_MODE: i32 = 101;

fn every_byte() -> Vec<u8> {
    (0..=255).collect()
}

fn connect<'e>(env: &'e Env, server: &TestServer, name: &str, extra: &str) -> Dbc<'e> {
    let user = server.user_without_two_factor(name);
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, extra)).unwrap_or_else(|e| panic!("connect: {e}"));
    dbc
}

fn exec(dbc: &Dbc<'_>, sql: &str) {
    dbc.exec(sql).unwrap_or_else(|e| panic!("`{sql}`: {e}"));
}

/// The one value `sql` selects, read as `ctype`.
fn select(dbc: &Dbc<'_>, sql: &str, ctype: CDataType) -> Result<Option<Vec<u8>>, Failure> {
    let stmt = Statement::new(dbc.handle())?;
    stmt.exec_direct(sql)?;
    assert!(stmt.fetch()?, "`{sql}` returned no row");
    stmt.get_data(1, ctype, 100)
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|b| format!("{b:02X}").into_bytes()).collect()
}

#[test]
fn a_blob_of_every_byte_bound_as_sql_c_char_with_the_described_type_round_trips_unchanged() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "php_way", "");
    exec(&dbc, "CREATE TABLE files (id INTEGER PRIMARY KEY, name VARCHAR(40), body BLOB)");

    // PHP's odbc_execute: describe each parameter, bind SQL_C_CHAR with the described type.
    let mut stmt = Statement::new(dbc.handle()).unwrap();
    stmt.prepare("INSERT INTO files (id, name, body) VALUES (1, ?, ?)").unwrap();
    let name = stmt.describe_param(1).unwrap();
    assert_eq!((name.sql_type, name.size), (SQL_VARCHAR, 40), "the target column's type and size");
    let body = stmt.describe_param(2).unwrap();
    assert_eq!(body.sql_type, SQL_LONGVARBINARY, "a BLOB target is described as binary");
    stmt.bind(1, CDataType::Char, name.sql_type, name.size, Some("häuser".as_bytes())).unwrap();
    stmt.bind(2, CDataType::Char, body.sql_type, body.size, Some(&every_byte())).unwrap();
    stmt.execute().unwrap();
    drop(stmt);

    assert_eq!(select(&dbc, "SELECT typeof(body) FROM files", CDataType::Char).unwrap(), Some(b"blob".to_vec()));
    assert_eq!(select(&dbc, "SELECT body FROM files", CDataType::Binary).unwrap(), Some(every_byte()));
    // SQL_C_CHAR of a BLOB is hex, as the ODBC appendix says, in pieces with SQLGetData.
    assert_eq!(select(&dbc, "SELECT body FROM files", CDataType::Char).unwrap(), Some(hex(&every_byte())));
    assert_eq!(select(&dbc, "SELECT name FROM files", CDataType::Char).unwrap(), Some("häuser".as_bytes().to_vec()));
}

#[test]
fn sql_c_binary_is_always_a_blob_and_sql_c_char_for_a_blob_column_stays_bytes() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "binary_always", "");
    exec(&dbc, "CREATE TABLE t (id INTEGER, note TEXT, body BLOB)");
    let mut stmt = Statement::new(dbc.handle()).unwrap();
    // Bound as VARCHAR by an application that names a character type: still bytes.
    stmt.prepare("INSERT INTO t (id, note, body) VALUES (1, ?, ?)").unwrap();
    stmt.bind(1, CDataType::Binary, SQL_VARCHAR, 256, Some(&every_byte())).unwrap();
    stmt.bind(2, CDataType::Char, SQL_VARCHAR, 256, Some(&[0x00, 0x01, 0xFE, 0xFF])).unwrap();
    stmt.execute().unwrap();
    drop(stmt);
    assert_eq!(
        select(&dbc, "SELECT typeof(note) || ',' || typeof(body) FROM t", CDataType::Char).unwrap(),
        Some(b"blob,blob".to_vec())
    );
    assert_eq!(select(&dbc, "SELECT note FROM t", CDataType::Binary).unwrap(), Some(every_byte()));
    assert_eq!(select(&dbc, "SELECT hex(body) FROM t", CDataType::Char).unwrap(), Some(b"0001FEFF".to_vec()));
}

#[test]
fn invalid_utf8_in_sql_c_char_is_refused_with_22018_naming_the_parameter() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "bad_utf8", "");
    exec(&dbc, "CREATE TABLE t (id INTEGER, note TEXT)");
    let mut stmt = Statement::new(dbc.handle()).unwrap();
    stmt.prepare("INSERT INTO t (id, note) VALUES (?, ?)").unwrap();
    stmt.bind(1, CDataType::Char, SQL_VARCHAR, 10, Some(b"1")).unwrap();
    stmt.bind(2, CDataType::Char, SQL_VARCHAR, 10, Some(&[0x00, 0x01, 0xFE, 0xFF])).unwrap();
    let e = stmt.execute().unwrap_err();
    assert_eq!(e.state(), "22018", "{e}");
    assert!(e.message().contains("parameter 2"), "{e}");
    drop(stmt);
    // Nothing was stored, re-encoded or otherwise.
    assert_eq!(select(&dbc, "SELECT count(*) FROM t", CDataType::Char).unwrap(), Some(b"0".to_vec()));
}

#[test]
fn text_another_program_stored_as_invalid_utf8_is_22018_as_characters_and_intact_as_binary() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "foreign_text", "");
    exec(&dbc, "CREATE TABLE t (note TEXT)");
    // Latin-1 "aÿb", stored as TEXT without any check, as another SQLite client may.
    exec(&dbc, "INSERT INTO t VALUES (CAST(X'61FF62' AS TEXT))");
    let e = select(&dbc, "SELECT note FROM t", CDataType::Char).unwrap_err();
    assert_eq!(e.state(), "22018", "{e}");
    assert_eq!(select(&dbc, "SELECT note FROM t", CDataType::Binary).unwrap(), Some(vec![0x61, 0xFF, 0x62]));
}

#[test]
fn read_only_refuses_writes_with_25006_and_allows_reads() {
    let server = TestServer::start();
    let env = Env::new();
    let writer = connect(&env, &server, "writer", "");
    exec(&writer, "CREATE TABLE t (v INTEGER)");
    exec(&writer, "INSERT INTO t VALUES (1)");

    let reader = connect(&env, &server, "reader", "ReadOnly=1");
    assert_eq!(reader.query_i64("SELECT count(*) FROM t").unwrap(), Some(1));
    let e = reader.exec("INSERT INTO t VALUES (2)").unwrap_err();
    assert_eq!(e.state(), "25006", "{e}");
    assert!(e.message().contains("read-only"), "{e}");
    assert_eq!(reader.exec("CREATE TABLE u (x)").unwrap_err().state(), "25006");
    // The session's own SQL cannot switch it back.
    assert_eq!(reader.exec("PRAGMA query_only = 0").unwrap_err().state(), "25006");
    assert_eq!(reader.exec("INSERT INTO t VALUES (2)").unwrap_err().state(), "25006");

    // SQL_ATTR_ACCESS_MODE does the same on an open connection, both ways.
    set_connect_attr(writer.handle(), SQL_ATTR_ACCESS_MODE, 1).unwrap();
    assert_eq!(writer.exec("DELETE FROM t").unwrap_err().state(), "25006");
    set_connect_attr(writer.handle(), SQL_ATTR_ACCESS_MODE, 0).unwrap();
    exec(&writer, "INSERT INTO t VALUES (3)");
    assert_eq!(writer.query_i64("SELECT count(*) FROM t").unwrap(), Some(2));
}

#[test]
fn sqlcolumns_type_name_is_bare_and_unbounded_columns_report_the_configured_size() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "catalog_sizes", "");
    exec(&dbc, "CREATE TABLE t (name VARCHAR(40), note TEXT, body BLOB, bin VARBINARY(16))");
    let cols = Statement::new(dbc.handle()).unwrap().columns("t").unwrap();
    assert_eq!(
        cols,
        vec![("VARCHAR".into(), 40), ("TEXT".into(), 65_536), ("BLOB".into(), 65_536), ("VARBINARY".into(), 16)]
    );

    let small = connect(&env, &server, "catalog_small", "LongColumnSize=1000");
    let cols = Statement::new(small.handle()).unwrap().columns("t").unwrap();
    assert_eq!(cols[1], ("TEXT".into(), 1000));
    // The size is a description, not a limit: a longer value comes back whole.
    let long = "x".repeat(5000);
    exec(&small, &format!("INSERT INTO t (note) VALUES ('{long}')"));
    let stmt = Statement::new(small.handle()).unwrap();
    stmt.exec_direct("SELECT note FROM t").unwrap();
    assert_eq!(stmt.describe_col(1).unwrap().size, 1000);
    assert!(stmt.fetch().unwrap());
    assert_eq!(stmt.get_data(1, CDataType::Char, 700).unwrap(), Some(long.into_bytes()));
    let bad = env.dbc(Charset::Narrow).driver_connect(
        &server.connection_string(&server.user_without_two_factor("catalog_bad"), "LongColumnSize=2000000000"),
    );
    assert!(bad.unwrap_err().message().contains("LongColumnSize"));
}

#[test]
fn sqldescribeparam_of_a_where_marker_follows_the_compared_column() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "where_marker", "");
    exec(&dbc, "CREATE TABLE t (id INTEGER, body BLOB)");
    let stmt = Statement::new(dbc.handle()).unwrap();
    stmt.prepare("UPDATE t SET body = ? WHERE id = ?").unwrap();
    assert_eq!(stmt.describe_param(1).unwrap().sql_type, SQL_LONGVARBINARY);
    assert_eq!(stmt.describe_param(2).unwrap().sql_type, 4, "SQL_INTEGER");
    let stmt = Statement::new(dbc.handle()).unwrap();
    stmt.prepare("SELECT length(?)").unwrap();
    assert_eq!(stmt.describe_param(1).unwrap().sql_type, SQL_VARCHAR, "unknown: VARCHAR");
}
