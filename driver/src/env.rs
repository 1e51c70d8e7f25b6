//! The environment handle: the ODBC version the application asked for (it decides
//! ODBC 2 or 3 SQLSTATEs and catalog column names) and the connections allocated on it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::diag::{DiagArea, OdbcError, OdbcResult};
use crate::handles::RawHandle;

pub const SQL_ATTR_ODBC_VERSION: i32 = 200;
pub const SQL_ATTR_CONNECTION_POOLING: i32 = 201;
pub const SQL_ATTR_CP_MATCH: i32 = 202;
pub const SQL_ATTR_OUTPUT_NTS: i32 = 10001;
/// unixODBC passes these to drivers; they need no action.
const SQL_ATTR_UNIXODBC_SYSPATH: i32 = 65001;
const SQL_ATTR_UNIXODBC_VERSION: i32 = 65002;
const SQL_ATTR_UNIXODBC_ENVATTR: i32 = 65003;

pub const SQL_OV_ODBC2: u32 = 2;
pub const SQL_OV_ODBC3: u32 = 3;
pub const SQL_OV_ODBC3_80: u32 = 380;

pub struct Environment {
    pub(crate) diagnostics: DiagArea,
    odbc_version: AtomicU32,
    connection_pooling: AtomicU32,
    cp_match: AtomicU32,
    /// Connection handles allocated on this environment (SQLFreeHandle(ENV) refuses
    /// while there are any; SQLEndTran(ENV) walks them).
    pub(crate) connections: Mutex<Vec<RawHandle>>,
}

impl Environment {
    pub fn new() -> Self {
        crate::log::install_from_environment();
        Environment {
            diagnostics: DiagArea::default(),
            // The DM always sets the version before allocating a connection; ODBC 3 is the
            // safer default for a caller that talks to us directly.
            odbc_version: AtomicU32::new(SQL_OV_ODBC3),
            connection_pooling: AtomicU32::new(0),
            cp_match: AtomicU32::new(0),
            connections: Mutex::default(),
        }
    }

    /// 2 for an ODBC 2 application, else 3 (3.80 behaves as 3 here).
    pub fn odbc_version(&self) -> u32 {
        match self.odbc_version.load(Ordering::Relaxed) {
            SQL_OV_ODBC2 => 2,
            _ => 3,
        }
    }

    pub fn set_attr(&self, attr: i32, value: usize) -> OdbcResult<()> {
        match attr {
            SQL_ATTR_ODBC_VERSION => {
                let v = u32::try_from(value).ok().filter(|v| [SQL_OV_ODBC2, SQL_OV_ODBC3, SQL_OV_ODBC3_80].contains(v));
                let v = v.ok_or_else(|| OdbcError::invalid_value("SQL_ATTR_ODBC_VERSION", value as i64))?;
                self.odbc_version.store(v, Ordering::Relaxed);
            }
            SQL_ATTR_CONNECTION_POOLING => {
                let v = u32::try_from(value).ok().filter(|v| *v <= 4);
                let v = v.ok_or_else(|| OdbcError::invalid_value("SQL_ATTR_CONNECTION_POOLING", value as i64))?;
                self.connection_pooling.store(v, Ordering::Relaxed);
            }
            SQL_ATTR_CP_MATCH => {
                let v = u32::try_from(value).ok().filter(|v| *v <= 1);
                let v = v.ok_or_else(|| OdbcError::invalid_value("SQL_ATTR_CP_MATCH", value as i64))?;
                self.cp_match.store(v, Ordering::Relaxed);
            }
            // Output strings are always NUL-terminated; turning that off is not offered.
            SQL_ATTR_OUTPUT_NTS if value == 1 => {}
            SQL_ATTR_OUTPUT_NTS => return Err(OdbcError::not_capable("SQL_ATTR_OUTPUT_NTS = SQL_FALSE")),
            SQL_ATTR_UNIXODBC_SYSPATH | SQL_ATTR_UNIXODBC_VERSION | SQL_ATTR_UNIXODBC_ENVATTR => {}
            other => return Err(OdbcError::unknown_attribute(other)),
        }
        Ok(())
    }

    pub fn get_attr(&self, attr: i32) -> OdbcResult<u32> {
        Ok(match attr {
            SQL_ATTR_ODBC_VERSION => self.odbc_version.load(Ordering::Relaxed),
            SQL_ATTR_CONNECTION_POOLING => self.connection_pooling.load(Ordering::Relaxed),
            SQL_ATTR_CP_MATCH => self.cp_match.load(Ordering::Relaxed),
            SQL_ATTR_OUTPUT_NTS => 1,
            other => return Err(OdbcError::unknown_attribute(other)),
        })
    }

    pub fn connection_handles(&self) -> Vec<RawHandle> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Default for Environment {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SqlState;

    #[test]
    fn odbc_version_2_and_3_80_are_accepted_and_others_refused() {
        let env = Environment::new();
        env.set_attr(SQL_ATTR_ODBC_VERSION, 2).unwrap();
        assert_eq!(env.odbc_version(), 2);
        assert_eq!(env.get_attr(SQL_ATTR_ODBC_VERSION).unwrap(), 2);
        env.set_attr(SQL_ATTR_ODBC_VERSION, 380).unwrap();
        assert_eq!(env.odbc_version(), 3);
        assert_eq!(env.set_attr(SQL_ATTR_ODBC_VERSION, 7).unwrap_err().state, SqlState::INVALID_ATTRIBUTE_VALUE);
        assert_eq!(env.get_attr(12345).unwrap_err().state, SqlState::INVALID_ATTRIBUTE);
    }
}
