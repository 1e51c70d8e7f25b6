//! Errors as the user sees them: the SQLSTATE, the driver's native code and its message.

use std::fmt;

use odbc_api::handles::{Diagnostics, Record};

/// The driver refused a code it had already sent (`twofactor_odbc.h`): nothing was
/// sent or counted, so the client may ask again.
pub const NATIVE_CODE_ALREADY_USED: i32 = 1020;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// "28000"; "" when the failure did not come from ODBC (a file that cannot be read).
    pub state: String,
    pub native: i32,
    pub message: String,
}

impl SqlError {
    /// A failure of the client itself, not of the driver.
    pub fn client(message: impl Into<String>) -> SqlError {
        SqlError { state: String::new(), native: 0, message: message.into() }
    }

    /// The first diagnostic record of `handle` (a generic one when it has none).
    pub fn from_handle(handle: &(impl Diagnostics + ?Sized), function: &str) -> SqlError {
        let mut record = Record::with_capacity(512);
        if record.fill_from(handle, 1) {
            SqlError {
                state: record.state.as_str().to_owned(),
                native: record.native_error,
                message: String::from_utf16_lossy(&record.message),
            }
        } else {
            SqlError { state: "HY000".into(), native: 0, message: format!("{function} failed without a diagnostic") }
        }
    }
}

impl From<odbc_api::Error> for SqlError {
    fn from(e: odbc_api::Error) -> SqlError {
        match e {
            odbc_api::Error::Diagnostics { record, .. } => SqlError {
                state: record.state.as_str().to_owned(),
                native: record.native_error,
                message: String::from_utf16_lossy(&record.message),
            },
            other => SqlError { state: "HY000".into(), native: 0, message: other.to_string() },
        }
    }
}

impl fmt::Display for SqlError {
    /// `ERROR [28000] (1002): [TwoFactor][ODBC] two-factor code rejected`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state.as_str(), self.native) {
            ("", _) => write!(f, "ERROR: {}", self.message),
            (state, 0) => write!(f, "ERROR [{state}]: {}", self.message),
            (state, native) => write!(f, "ERROR [{state}] ({native}): {}", self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_with_their_sqlstate_and_native_code() {
        let e = SqlError { state: "28000".into(), native: 1002, message: "two-factor code rejected".into() };
        assert_eq!(e.to_string(), "ERROR [28000] (1002): two-factor code rejected");
        let e = SqlError { state: "42000".into(), native: 0, message: "syntax".into() };
        assert_eq!(e.to_string(), "ERROR [42000]: syntax");
        assert_eq!(SqlError::client("no such file").to_string(), "ERROR: no such file");
    }
}
