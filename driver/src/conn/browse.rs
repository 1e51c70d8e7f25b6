//! SQLBrowseConnect: a login in steps, for tools that discover what a data source needs
//! by asking. Each call adds the keys it was given and either answers what is still
//! missing (SQL_NEED_DATA with `KEY:Prompt=?` pairs, as ODBC defines the browse result)
//! or completes. The first factor goes through `Connection::connect` and the second
//! through the same path as attribute 1002, so nothing here logs in on its own.
//!
//! 1. `DSN=x` or `DRIVER=...;Server=...` → `UID:User name=?;PWD:Password=?` (with
//!    `Server:Server=?` first when neither the string nor the DSN names a server);
//! 2. `UID=...;PWD=...` → connected; if the server waits for a second factor,
//!    `TwoFactorCode:One-time code=?`;
//! 3. `TwoFactorCode=...` → SQL_SUCCESS, and the caller returns the full connection string.
//!
//! An error at any step ends the browse: a connection made for it is closed.

use super::config::Settings;
use super::{connection_string, lock, Connection};
use crate::diag::{OdbcError, OdbcResult, SqlState};

pub const NEED_SERVER: &str = "Server:Server=?";
pub const NEED_USER: &str = "UID:User name=?";
pub const NEED_PASSWORD: &str = "PWD:Password=?";
pub const NEED_CODE: &str = "TwoFactorCode:One-time code=?";

/// The keys gathered so far, in the order they came (a later value replaces an earlier).
#[derive(Debug, Default)]
pub struct Browse {
    pairs: Vec<(String, String)>,
}

impl Browse {
    fn merge(&mut self, new: Vec<(String, String)>) {
        for (k, v) in new {
            match self.pairs.iter_mut().find(|(old, _)| old.eq_ignore_ascii_case(&k)) {
                Some(slot) => slot.1 = v,
                None => self.pairs.push((k, v)),
            }
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
}

/// What one SQLBrowseConnect call ends with.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// SQL_NEED_DATA with this browse result string.
    NeedData(String),
    /// Connected and verified: the keys to build the output connection string from.
    Connected(Vec<(String, String)>),
}

fn starts_over(pairs: &[(String, String)]) -> bool {
    pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("DSN") || k.eq_ignore_ascii_case("Driver"))
}

impl Connection {
    /// One SQLBrowseConnect call with `input`. `add_dsn` reads a DSN's keys below the
    /// given ones (the same reading SQLDriverConnect does).
    pub fn browse_connect(
        &self,
        input: &str,
        add_dsn: impl FnOnce(&mut Settings, &str, bool) -> OdbcResult<()>,
        warn: &mut dyn FnMut(OdbcError),
    ) -> OdbcResult<Step> {
        let new = connection_string::parse(input)?;
        let mut state = lock(&self.browse).take().unwrap_or_default();
        if self.is_open() {
            return self.browse_second_factor(state, new, warn);
        }
        if starts_over(&new) {
            state = Browse::default();
        }
        state.merge(new);
        let mut settings = Settings::default();
        settings.extend(state.pairs.iter().cloned());
        if let Some(d) = settings.get("DSN").filter(|d| !d.is_empty()).map(str::to_string) {
            let driver_given = settings.get("Driver").is_some();
            add_dsn(&mut settings, &d, driver_given)?;
        }
        let present = |key: &str| settings.get(key).is_some_and(|v| !v.trim().is_empty());
        let mut missing = Vec::new();
        if !present("Server") {
            missing.push(NEED_SERVER);
        }
        if !present("UID") && !present("User") {
            missing.push(NEED_USER);
        }
        if settings.get_any(&["PWD", "Password"]).is_none() {
            missing.push(NEED_PASSWORD);
        }
        if !missing.is_empty() {
            *lock(&self.browse) = Some(state);
            return Ok(Step::NeedData(missing.join(";")));
        }
        self.connect(&settings, false)?;
        if self.second_factor_pending() {
            state.pairs.retain(|(k, _)| !k.eq_ignore_ascii_case("TwoFactorCode"));
            *lock(&self.browse) = Some(state);
            return Ok(Step::NeedData(NEED_CODE.to_string()));
        }
        Ok(Step::Connected(state.pairs))
    }

    /// Connected with the second factor pending: the code, submitted as attribute 1002
    /// would be. A rejected code ends the browse and closes the connection.
    fn browse_second_factor(
        &self,
        mut state: Browse,
        new: Vec<(String, String)>,
        warn: &mut dyn FnMut(OdbcError),
    ) -> OdbcResult<Step> {
        if !self.second_factor_pending() || state.pairs.is_empty() {
            return Err(OdbcError::new(SqlState::CONNECTION_IN_USE, "connection already open"));
        }
        state.merge(new);
        let Some(code) = state.get("TwoFactorCode").filter(|c| !c.trim().is_empty()).map(str::to_string) else {
            *lock(&self.browse) = Some(state);
            return Ok(Step::NeedData(NEED_CODE.to_string()));
        };
        state.pairs.retain(|(k, _)| !k.eq_ignore_ascii_case("TwoFactorCode"));
        if let Err(e) = self.submit_code(code, warn) {
            let _ = self.disconnect();
            return Err(e);
        }
        Ok(Step::Connected(state.pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn conn() -> Connection {
        Connection::new(Arc::new(crate::env::Environment::new()), 0)
    }

    fn no_dsn(_: &mut Settings, _: &str, _: bool) -> OdbcResult<()> {
        Ok(())
    }

    fn step(c: &Connection, input: &str) -> OdbcResult<Step> {
        c.browse_connect(input, no_dsn, &mut |_| {})
    }

    #[test]
    fn the_first_steps_ask_for_what_is_missing() {
        let c = conn();
        assert_eq!(
            step(&c, "DRIVER=/x.so").unwrap(),
            Step::NeedData("Server:Server=?;UID:User name=?;PWD:Password=?".into())
        );
        assert_eq!(step(&c, "Server=db").unwrap(), Step::NeedData("UID:User name=?;PWD:Password=?".into()));
        assert_eq!(step(&c, "UID=alice").unwrap(), Step::NeedData("PWD:Password=?".into()));
        // A new DSN or DRIVER starts over.
        assert_eq!(
            step(&c, "DRIVER=/x.so;Server=db").unwrap(),
            Step::NeedData("UID:User name=?;PWD:Password=?".into())
        );
    }

    #[test]
    fn a_dsn_that_names_the_server_needs_only_the_credentials() {
        let c = conn();
        let dsn = |s: &mut Settings, name: &str, _: bool| {
            assert_eq!(name, "prod");
            s.push("Server", "db.example");
            Ok(())
        };
        let out = c.browse_connect("DSN=prod", dsn, &mut |_| {}).unwrap();
        assert_eq!(out, Step::NeedData("UID:User name=?;PWD:Password=?".into()));
    }

    #[test]
    fn a_malformed_string_is_an_error_and_a_later_call_starts_fresh() {
        let c = conn();
        assert!(step(&c, "DRIVER={unterminated").is_err());
        assert_eq!(step(&c, "DSN=x;Server=s").unwrap(), Step::NeedData("UID:User name=?;PWD:Password=?".into()));
    }
}
