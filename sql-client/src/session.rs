//! The open connection: odbc-api's connection handle (for the raw calls of odbc_raw.rs)
//! with what `\conninfo` and the prompt show.

use odbc_api::handles::Connection;
use odbc_api::sys::InfoType;
use odbc_api::ConnectionOptions;

use crate::error::SqlError;
use crate::odbc_raw;
use crate::two_factor::TwoFactorState;

pub struct Session {
    conn: Connection<'static>,
    /// The DSN name, or "" for a DSN-less connection string.
    pub dsn: String,
}

impl Session {
    /// SQLDriverConnectW with `conn_str` (it may hold the password: never printed).
    pub fn connect(conn_str: &str, dsn: &str) -> Result<Session, SqlError> {
        let env = odbc_api::environment()?;
        let conn = env.connect_with_connection_string(conn_str, ConnectionOptions::default())?;
        // The handle layer: the attribute calls need the raw handle, which odbc-api's
        // connection does not lend. Session's Drop disconnects, as odbc-api's would.
        Ok(Session { conn: conn.into_handle(), dsn: dsn.to_owned() })
    }

    pub fn handle(&self) -> &Connection<'static> {
        &self.conn
    }

    /// Attribute 1002: whether the server still waits for the second factor.
    pub fn second_factor_pending(&self) -> Result<bool, SqlError> {
        Ok(odbc_raw::connect_attr_u32(&self.conn, odbc_raw::SQL_ATTR_TWO_FACTOR)? == 1)
    }

    pub fn two_factor_state(&self) -> Result<TwoFactorState, SqlError> {
        TwoFactorState::read(&self.conn)
    }

    pub fn submit_code(&self, code: &str) -> Result<(), SqlError> {
        odbc_raw::submit_code(&self.conn, code)
    }

    /// `\conninfo`: (label, value) lines.
    pub fn info(&self) -> Vec<(&'static str, String)> {
        let text = |info| odbc_raw::info_text(&self.conn, info).unwrap_or_else(|e| e.to_string());
        let two_factor = self.two_factor_state().map_or_else(|e| e.to_string(), |s| s.description);
        vec![
            ("Data source", if self.dsn.is_empty() { "(connection string)".to_owned() } else { self.dsn.clone() }),
            ("Server", text(InfoType::ServerName)),
            ("DBMS", format!("{} {}", text(InfoType::DbmsName), text(InfoType::DbmsVer))),
            ("User", text(InfoType::UserName)),
            ("Two-factor", two_factor),
        ]
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Errors are of no use now (a dead link disconnects all the same).
        let _ = self.conn.disconnect();
    }
}
