//! The second factor as the driver reports it (attributes 0x4000-0x4004), and the
//! prompt built from it.

use odbc_api::handles::Connection;

use crate::error::SqlError;
use crate::odbc_raw::{self, *};

/// SQL_TWO_FACTOR_STATE_* values (twofactor_odbc.h) the client acts on.
pub const STATE_REJECTED: u32 = 6;
pub const STATE_LOCKED: u32 = 7;
pub const STATE_EXPIRED: u32 = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorState {
    pub state: u32,
    /// "TOTP", "SMS", "e-mail", ...
    pub method: String,
    /// "SMS to +1 ***-***-4567"; "" for TOTP.
    pub destination: String,
    pub seconds_left: u32,
    /// One English sentence.
    pub description: String,
}

impl TwoFactorState {
    pub fn read(conn: &Connection<'_>) -> Result<TwoFactorState, SqlError> {
        Ok(TwoFactorState {
            state: odbc_raw::connect_attr_u32(conn, SQL_ATTR_TWO_FACTOR_STATE)?,
            method: odbc_raw::connect_attr_text(conn, SQL_ATTR_TWO_FACTOR_METHOD)?,
            destination: odbc_raw::connect_attr_text(conn, SQL_ATTR_TWO_FACTOR_DESTINATION)?,
            seconds_left: odbc_raw::connect_attr_u32(conn, SQL_ATTR_TWO_FACTOR_SECONDS_LEFT)?,
            description: odbc_raw::connect_attr_text(conn, SQL_ATTR_TWO_FACTOR_DESCRIPTION)?,
        })
    }

    /// "SMS code sent to +1 ***-***-4567 (287 s left): ", "TOTP code (87 s left): ".
    pub fn prompt(&self) -> String {
        let method = if self.method.is_empty() { "Two-factor" } else { self.method.as_str() };
        // The destination starts with the method ("SMS to ..."): the prompt names it once.
        let to = self.destination.split_once(" to ").map_or(self.destination.as_str(), |(_, to)| to);
        if to.is_empty() {
            format!("{method} code ({} s left): ", self.seconds_left)
        } else {
            format!("{method} code sent to {to} ({} s left): ", self.seconds_left)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(method: &str, destination: &str, left: u32) -> TwoFactorState {
        TwoFactorState {
            state: 2, // pending
            method: method.into(),
            destination: destination.into(),
            seconds_left: left,
            description: String::new(),
        }
    }

    #[test]
    fn the_prompt_names_the_method_the_masked_destination_and_the_time_left() {
        assert_eq!(
            state("SMS", "SMS to +1 ***-***-4567", 287).prompt(),
            "SMS code sent to +1 ***-***-4567 (287 s left): "
        );
        assert_eq!(
            state("e-mail", "e-mail to j***@example.org", 5).prompt(),
            "e-mail code sent to j***@example.org (5 s left): "
        );
        assert_eq!(state("TOTP", "", 87).prompt(), "TOTP code (87 s left): ");
        assert_eq!(state("", "", 0).prompt(), "Two-factor code (0 s left): ");
    }
}
