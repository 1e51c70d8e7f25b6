//! odbc-api (built with its `wide` feature: every call goes to a `SQL...W` entry point of
//! the driver manager) as a client of the driver.

use std::sync::OnceLock;

use odbc_api::{
    BindParamDesc, Connection, ConnectionOptions, Cursor, DriverSpecificConnectionOptions, Environment,
    SetConnectionAttributeArgs,
};

use crate::raw::SQL_ATTR_TWO_FACTOR;
use crate::{TestServer, User};

/// The process's ODBC environment (after isolating the unixODBC configuration).
pub fn environment() -> &'static Environment {
    static ENV: OnceLock<Environment> = OnceLock::new();
    ENV.get_or_init(|| {
        crate::isolate_odbc_config();
        Environment::new().expect("ODBC environment")
    })
}

/// Connects with a connection string; the caller decides where the code comes from.
pub fn connect(conn_str: &str) -> Result<Connection<'static>, odbc_api::Error> {
    environment().connect_with_connection_string(conn_str, ConnectionOptions::default())
}

/// Logs `user` in with password and a fresh TOTP code in `TwoFactorCode`.
pub fn login(server: &TestServer, user: &User) -> Connection<'static> {
    let conn_str = server.connection_string(user, &format!("TwoFactorCode={}", user.fresh_code()));
    connect(&conn_str).unwrap_or_else(|e| panic!("two-factor login of {} failed: {e}", user.name))
}

/// Attribute 1002 set on the connection handle before SQLDriverConnectW, as pyodbc's
/// `attrs_before={1002: code}` does: a UTF-16 string with SQL_NTS.
pub struct TwoFactorBefore<'a> {
    pub code: &'a [u16],
}

impl<'c> DriverSpecificConnectionOptions<'c> for TwoFactorBefore<'c> {
    fn attributes(&self) -> impl Iterator<Item = SetConnectionAttributeArgs<'c>> {
        // Safety: the token is a NUL-terminated UTF-16 string borrowed for 'c, and the
        // driver copies it during the call.
        std::iter::once(unsafe {
            SetConnectionAttributeArgs::new(
                odbc_sys::ConnectionAttribute(SQL_ATTR_TWO_FACTOR),
                self.code.as_ptr() as odbc_sys::Pointer,
                -3, // SQL_NTS
            )
        })
    }
}

pub fn utf16z(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Connects with attribute 1002 set before connecting.
pub fn connect_with_code_before<'a>(conn_str: &str, code: &'a [u16]) -> Result<Connection<'a>, odbc_api::Error> {
    // Safety: the driver under test understands attribute 1002.
    unsafe {
        environment().connect_with_connection_string_and_driver_specific_options(
            conn_str,
            ConnectionOptions::default(),
            TwoFactorBefore { code },
        )
    }
}

/// SQLSTATE, native code and message of an odbc-api error (panics on other errors).
pub fn sqlstate(error: &odbc_api::Error) -> (String, i32, String) {
    match error {
        odbc_api::Error::Diagnostics { record, .. } => {
            let message = String::from_utf16_lossy(&record.message);
            (record.state.as_str().to_owned(), record.native_error, message)
        }
        other => panic!("expected an error with a diagnostic record, got: {other}"),
    }
}

/// Runs `sql` without a result set; panics with the diagnostics on failure.
pub fn exec(conn: &Connection<'_>, sql: &str) {
    if let Err(e) = conn.execute(sql, (), None) {
        panic!("`{sql}` failed: {e}");
    }
}

/// The first column of the first row of `sql`, as an integer.
pub fn single_i64(conn: &Connection<'_>, sql: &str) -> i64 {
    let mut cursor = conn.execute(sql, (), None).unwrap_or_else(|e| panic!("`{sql}`: {e}")).expect("a result set");
    let mut row = cursor.next_row().unwrap().expect("a row");
    let mut value = 0i64;
    row.get_data(1, &mut value).unwrap();
    value
}

/// Inserts rows 1..=`total` into `bulk (id, name, score)` with parameter arrays of
/// `batch` rows: name `näme-<id>`, score `id / 4`, NULL for every tenth id. The bulk
/// tests on both backends check the table against exactly this rule.
pub fn insert_bulk_rows(conn: &Connection<'_>, total: usize, batch: usize) {
    let prepared = conn.prepare("INSERT INTO bulk (id, name, score) VALUES (?, ?, ?)").unwrap();
    let descs = [BindParamDesc::i64(false), BindParamDesc::text(40), BindParamDesc::f64(true)];
    let mut inserter = prepared.into_column_inserter(batch, descs).unwrap();
    let mut next = 0usize;
    while next < total {
        let rows = batch.min(total - next);
        inserter.set_num_rows(rows);
        let ids = inserter.column_mut(0).as_slice::<i64>().unwrap();
        for (k, id) in ids.iter_mut().enumerate().take(rows) {
            *id = (next + k + 1) as i64;
        }
        let mut names = inserter.column_mut(1).as_text().unwrap();
        for k in 0..rows {
            names.set_cell(k, Some(format!("näme-{}", next + k + 1).as_bytes()));
        }
        let mut scores = inserter.column_mut(2).as_nullable_slice::<f64>().unwrap();
        for k in 0..rows {
            let id = next + k + 1;
            // `%`: is_multiple_of needs Rust 1.87; the workspace's rust-version is 1.85.
            #[allow(clippy::manual_is_multiple_of)]
            let null = id % 10 == 0;
            scores.set_cell(k, if null { None } else { Some(id as f64 / 4.0) });
        }
        inserter.execute().unwrap_or_else(|e| panic!("parameter array at row {next}: {e}"));
        next += rows;
    }
}
