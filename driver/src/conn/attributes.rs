//! Connection attributes (SQLSetConnectAttr / SQLGetConnectAttr), including 1002, the
//! two-factor attribute.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use twofactor_protocol::{ClientMessage, Secret, ServerMessage, SessionOptions};

use super::{lock, Connection};
use crate::diag::{OdbcError, OdbcResult, SqlState};

pub const SQL_ATTR_ASYNC_ENABLE: i32 = 4;
pub const SQL_ATTR_ACCESS_MODE: i32 = 101;
pub const SQL_ATTR_AUTOCOMMIT: i32 = 102;
pub const SQL_ATTR_LOGIN_TIMEOUT: i32 = 103;
pub const SQL_ATTR_TRACE: i32 = 104;
pub const SQL_ATTR_TRACEFILE: i32 = 105;
pub const SQL_ATTR_TRANSLATE_LIB: i32 = 106;
pub const SQL_ATTR_TRANSLATE_OPTION: i32 = 107;
pub const SQL_ATTR_TXN_ISOLATION: i32 = 108;
pub const SQL_ATTR_CURRENT_CATALOG: i32 = 109;
pub const SQL_ATTR_ODBC_CURSORS: i32 = 110;
pub const SQL_ATTR_QUIET_MODE: i32 = 111;
pub const SQL_ATTR_PACKET_SIZE: i32 = 112;
pub const SQL_ATTR_CONNECTION_TIMEOUT: i32 = 113;
pub const SQL_ATTR_DISCONNECT_BEHAVIOR: i32 = 114;
pub const SQL_ATTR_ANSI_APP: i32 = 115;
pub const SQL_ATTR_RESET_CONNECTION: i32 = 116;
pub const SQL_ATTR_ASYNC_DBC_FUNCTIONS_ENABLE: i32 = 117;
/// The two-factor attribute (as InterSystems IRIS numbers it).
pub const SQL_ATTR_TWO_FACTOR: i32 = 1002;
pub const SQL_ATTR_ENLIST_IN_DTC: i32 = 1207;
pub const SQL_ATTR_CONNECTION_DEAD: i32 = 1209;
pub const SQL_ATTR_AUTO_IPD: i32 = 10001;
pub const SQL_ATTR_METADATA_ID: i32 = 10014;

/// SQL_CD_TRUE / SQL_CD_FALSE.
pub const SQL_CD_TRUE: u32 = 1;
pub const SQL_CD_FALSE: u32 = 0;
/// The only value of SQL_ATTR_RESET_CONNECTION.
pub const SQL_RESET_CONNECTION_YES: usize = 1;

pub const SQL_MODE_READ_WRITE: u32 = 0;
pub const SQL_MODE_READ_ONLY: u32 = 1;
pub const SQL_TXN_READ_UNCOMMITTED: u32 = 1;
pub const SQL_TXN_READ_COMMITTED: u32 = 2;
pub const SQL_TXN_REPEATABLE_READ: u32 = 4;
pub const SQL_TXN_SERIALIZABLE: u32 = 8;

/// Statement attributes an ODBC 2 application may set on the connection
/// (SQLSetConnectOption), inherited by statements: QUERY_TIMEOUT .. ROW_NUMBER.
const STATEMENT_ATTRS: std::ops::RangeInclusive<i32> = 0..=14;

/// The warning for a code nobody asked for.
const NOTHING_PENDING: &str = "no two-factor code is pending on this connection; the code was not used";

#[derive(Debug)]
pub struct Attributes {
    pub autocommit: bool,
    /// `None`: not set, the DSN's LoginTimeout (or 30 s) applies.
    pub login_timeout: Option<u32>,
    pub connection_timeout: u32,
    pub access_mode: u32,
    pub txn_isolation: u32,
    pub metadata_id: bool,
    pub ansi_app: bool,
    pub quiet_mode: usize,
    pub packet_size: u32,
    /// The DSN's `LongColumnSize`, sent to the server with the access mode.
    pub long_column_size: u32,
    /// Attribute 1002 set before connecting: used after the first factor, then dropped.
    pub code_before_connect: Option<Secret<String>>,
    pub statement_defaults: BTreeMap<i32, usize>,
    /// Attributes set while not connected (by the application or the driver manager's
    /// own DMConnAttr): a DMConnAttr the driver reads itself does not override them.
    pub set_before_connect: BTreeSet<i32>,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            autocommit: true,
            login_timeout: None,
            connection_timeout: 0,
            access_mode: SQL_MODE_READ_WRITE,
            txn_isolation: SQL_TXN_SERIALIZABLE,
            metadata_id: false,
            ansi_app: false,
            quiet_mode: 0,
            packet_size: 0,
            long_column_size: SessionOptions::DEFAULT.long_column_size,
            code_before_connect: None,
            statement_defaults: BTreeMap::new(),
            set_before_connect: BTreeSet::new(),
        }
    }
}

/// What SQLSetConnectAttr received, decoded by the FFI layer per attribute.
#[derive(Debug)]
pub enum AttrIn {
    /// The `ValuePtr` itself is the value (integer attributes).
    Integer(usize),
    /// A character string attribute.
    Text(String),
    /// Attribute 1002's token, already decoded from narrow or UTF-16 bytes.
    Token(String),
}

/// What SQLGetConnectAttr writes.
#[derive(Debug, PartialEq, Eq)]
pub enum AttrOut {
    U32(u32),
    Usize(usize),
    Text(String),
}

/// Whether the value of `attr` is a character string (decides how the FFI reads it).
pub fn is_string_attr(attr: i32) -> bool {
    matches!(attr, SQL_ATTR_CURRENT_CATALOG | SQL_ATTR_TRACEFILE | SQL_ATTR_TRANSLATE_LIB)
        || super::two_factor_state::is_state_text_attr(attr)
}

/// Checks a decoded 1002 token (the FFI layer decodes narrow, UTF-16 and UTF-32 input
/// and integers, `ffi/token.rs`): surrounding blanks and NULs dropped, then 1 to 64
/// letters, digits or '-'.
pub fn check_token(text: &str) -> OdbcResult<String> {
    let code = text.trim_end_matches('\0').trim();
    // unixODBC hands over `DMConnAttr=[1002]="012345"` with its quotes (the quotes are
    // how a code keeps its leading zeros there; unquoted, the DM passes an integer).
    let code = code.strip_prefix('"').and_then(|c| c.strip_suffix('"')).unwrap_or(code);
    if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(invalid_token());
    }
    Ok(code.to_string())
}

fn invalid_token() -> OdbcError {
    OdbcError::new(
        SqlState::INVALID_ATTRIBUTE_VALUE,
        "invalid two-factor code: expected digits (or a backup code of letters, digits and '-')",
    )
}

fn bool_value(attr: &str, v: usize) -> OdbcResult<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(OdbcError::invalid_value(attr, other as i64)),
    }
}

fn u32_value(attr: &str, v: usize) -> OdbcResult<u32> {
    u32::try_from(v).map_err(|_| OdbcError::invalid_value(attr, v as i64))
}

impl Connection {
    /// SQLSetConnectAttr. Warnings (01S02, 01000) go to `warn`.
    pub fn set_attr(&self, attr: i32, value: AttrIn, warn: &mut dyn FnMut(OdbcError)) -> OdbcResult<()> {
        if !self.is_open() {
            lock(&self.attributes).set_before_connect.insert(attr);
        }
        if attr == SQL_ATTR_TWO_FACTOR {
            return match value {
                AttrIn::Token(code) => self.submit_code(code, warn),
                _ => Err(invalid_token()),
            };
        }
        let int = |what: &str| match value {
            AttrIn::Integer(v) => Ok(v),
            _ => Err(OdbcError::invalid_value(what, -1)),
        };
        match attr {
            SQL_ATTR_AUTOCOMMIT => {
                let on = bool_value("SQL_ATTR_AUTOCOMMIT", int("SQL_ATTR_AUTOCOMMIT")?)?;
                // While the second factor is pending the server runs nothing, not even
                // SET AUTOCOMMIT; the setting is applied once the code is verified, so
                // clients that set it right after connecting (pyodbc) can still get to
                // attribute 1002.
                if self.is_open() && !self.second_factor_pending() && on != self.autocommit() {
                    self.with_session(|s| match s.request(&ClientMessage::SetAutocommit { on })? {
                        ServerMessage::Ok => Ok(()),
                        other => Err(super::unexpected(&other)),
                    })?;
                }
                lock(&self.attributes).autocommit = on;
            }
            SQL_ATTR_LOGIN_TIMEOUT => {
                if self.is_open() {
                    return Err(OdbcError::new(
                        SqlState::ATTRIBUTE_CANNOT_BE_SET_NOW,
                        "SQL_ATTR_LOGIN_TIMEOUT cannot be set on an open connection",
                    ));
                }
                lock(&self.attributes).login_timeout =
                    Some(u32_value("SQL_ATTR_LOGIN_TIMEOUT", int("SQL_ATTR_LOGIN_TIMEOUT")?)?);
            }
            SQL_ATTR_CONNECTION_TIMEOUT => {
                lock(&self.attributes).connection_timeout =
                    u32_value("SQL_ATTR_CONNECTION_TIMEOUT", int("SQL_ATTR_CONNECTION_TIMEOUT")?)?;
            }
            SQL_ATTR_ACCESS_MODE => {
                let v = u32_value("SQL_ATTR_ACCESS_MODE", int("SQL_ATTR_ACCESS_MODE")?)?;
                if v > 1 {
                    return Err(OdbcError::invalid_value("SQL_ATTR_ACCESS_MODE", v.into()));
                }
                let changed = std::mem::replace(&mut lock(&self.attributes).access_mode, v) != v;
                // Enforced by the server (SQLite's query_only on this session's connection);
                // like autocommit, applied once SQL may run.
                if changed && self.is_open() && !self.second_factor_pending() {
                    if let Err(e) = self.send_session_options(self.session_options()) {
                        lock(&self.attributes).access_mode ^= 1;
                        return Err(e);
                    }
                }
            }
            SQL_ATTR_TXN_ISOLATION => {
                let v = u32_value("SQL_ATTR_TXN_ISOLATION", int("SQL_ATTR_TXN_ISOLATION")?)?;
                if ![SQL_TXN_READ_UNCOMMITTED, SQL_TXN_READ_COMMITTED, SQL_TXN_REPEATABLE_READ, SQL_TXN_SERIALIZABLE]
                    .contains(&v)
                {
                    return Err(OdbcError::invalid_value("SQL_ATTR_TXN_ISOLATION", v.into()));
                }
                if v != SQL_TXN_SERIALIZABLE {
                    warn(OdbcError::new(
                        SqlState::OPTION_VALUE_CHANGED,
                        "option value changed: SQLite transactions are always serializable",
                    ));
                }
            }
            SQL_ATTR_CURRENT_CATALOG => match value {
                AttrIn::Text(ref name) if name.eq_ignore_ascii_case("main") || name.is_empty() => {}
                _ => return Err(OdbcError::not_capable("a catalog other than \"main\"")),
            },
            SQL_ATTR_ANSI_APP => {
                lock(&self.attributes).ansi_app = int("SQL_ATTR_ANSI_APP")? == 1;
            }
            SQL_ATTR_METADATA_ID => {
                lock(&self.attributes).metadata_id = bool_value("SQL_ATTR_METADATA_ID", int("SQL_ATTR_METADATA_ID")?)?;
            }
            SQL_ATTR_QUIET_MODE => lock(&self.attributes).quiet_mode = int("SQL_ATTR_QUIET_MODE")?,
            SQL_ATTR_PACKET_SIZE => {
                let v = u32_value("SQL_ATTR_PACKET_SIZE", int("SQL_ATTR_PACKET_SIZE")?)?;
                if self.is_open() {
                    return Err(OdbcError::new(
                        SqlState::ATTRIBUTE_CANNOT_BE_SET_NOW,
                        "SQL_ATTR_PACKET_SIZE cannot be set on an open connection",
                    ));
                }
                lock(&self.attributes).packet_size = v;
            }
            // Off is the only value; asking for it is fine, asking for more is not.
            SQL_ATTR_ODBC_CURSORS
            | SQL_ATTR_TRACE
            | SQL_ATTR_ASYNC_ENABLE
            | SQL_ATTR_ASYNC_DBC_FUNCTIONS_ENABLE
            | SQL_ATTR_AUTO_IPD => {
                let v = int("attribute")?;
                let off = if attr == SQL_ATTR_ODBC_CURSORS { 2 } else { 0 }; // SQL_CUR_USE_DRIVER
                if v != off && !(attr == SQL_ATTR_ODBC_CURSORS && v == 0) {
                    return Err(OdbcError::not_capable(&format!("attribute {attr} = {v}")));
                }
            }
            SQL_ATTR_TRACEFILE
            | SQL_ATTR_TRANSLATE_LIB
            | SQL_ATTR_TRANSLATE_OPTION
            | SQL_ATTR_DISCONNECT_BEHAVIOR
            | SQL_ATTR_ENLIST_IN_DTC => {}
            SQL_ATTR_RESET_CONNECTION => {
                let v = int("SQL_ATTR_RESET_CONNECTION")?;
                if v != SQL_RESET_CONNECTION_YES {
                    return Err(OdbcError::invalid_value("SQL_ATTR_RESET_CONNECTION", v as i64));
                }
                self.reset_for_pool()?;
            }
            SQL_ATTR_CONNECTION_DEAD => {
                return Err(OdbcError::new(SqlState::INVALID_ATTRIBUTE, "SQL_ATTR_CONNECTION_DEAD is read-only"))
            }
            a if super::two_factor_state::is_state_attr(a) => {
                return Err(OdbcError::new(
                    SqlState::INVALID_ATTRIBUTE,
                    "the two-factor state attributes are read-only",
                ))
            }
            a if STATEMENT_ATTRS.contains(&a) => {
                let v = int("statement attribute")?;
                lock(&self.attributes).statement_defaults.insert(a, v);
            }
            other => return Err(OdbcError::unknown_attribute(other)),
        }
        Ok(())
    }

    /// SQLGetConnectAttr.
    pub fn get_attr(&self, attr: i32) -> OdbcResult<AttrOut> {
        if attr == SQL_ATTR_CONNECTION_DEAD {
            // Before the attributes are locked: the probe takes the session's lock.
            return Ok(AttrOut::U32(if self.is_reusable() { SQL_CD_FALSE } else { SQL_CD_TRUE }));
        }
        if let Some(value) = self.two_factor_attribute(attr) {
            return Ok(value);
        }
        let a = lock(&self.attributes);
        Ok(match attr {
            SQL_ATTR_TWO_FACTOR => {
                if !self.is_open() {
                    return Err(OdbcError::not_connected());
                }
                if self.is_dead() {
                    return Err(super::session::closed_by_server());
                }
                AttrOut::U32(u32::from(self.second_factor_pending()))
            }
            SQL_ATTR_AUTOCOMMIT => AttrOut::U32(u32::from(a.autocommit)),
            SQL_ATTR_LOGIN_TIMEOUT => {
                AttrOut::U32(a.login_timeout.unwrap_or(super::config::DEFAULT_LOGIN_TIMEOUT as u32))
            }
            SQL_ATTR_CONNECTION_TIMEOUT => AttrOut::U32(a.connection_timeout),
            SQL_ATTR_ACCESS_MODE => AttrOut::U32(a.access_mode),
            SQL_ATTR_TXN_ISOLATION => AttrOut::U32(SQL_TXN_SERIALIZABLE),
            SQL_ATTR_CURRENT_CATALOG => AttrOut::Text("main".into()),
            SQL_ATTR_ANSI_APP => AttrOut::U32(u32::from(a.ansi_app)),
            SQL_ATTR_METADATA_ID => AttrOut::U32(u32::from(a.metadata_id)),
            SQL_ATTR_QUIET_MODE => AttrOut::Usize(a.quiet_mode),
            SQL_ATTR_PACKET_SIZE => AttrOut::U32(a.packet_size),
            SQL_ATTR_ODBC_CURSORS => AttrOut::Usize(2),
            SQL_ATTR_TRACE | SQL_ATTR_ASYNC_ENABLE | SQL_ATTR_ASYNC_DBC_FUNCTIONS_ENABLE | SQL_ATTR_AUTO_IPD => {
                AttrOut::U32(0)
            }
            SQL_ATTR_TRACEFILE | SQL_ATTR_TRANSLATE_LIB => AttrOut::Text(String::new()),
            SQL_ATTR_TRANSLATE_OPTION => AttrOut::U32(0),
            s if STATEMENT_ATTRS.contains(&s) => AttrOut::Usize(a.statement_defaults.get(&s).copied().unwrap_or(0)),
            other => return Err(OdbcError::unknown_attribute(other)),
        })
    }

    /// Attribute 1002 set: before connect, kept for the login; connected with a factor
    /// pending, sent to the server; otherwise refused with a warning.
    pub(super) fn submit_code(&self, code: String, warn: &mut dyn FnMut(OdbcError)) -> OdbcResult<()> {
        let code = Secret::new(code);
        if !self.is_open() {
            lock(&self.attributes).code_before_connect = Some(code);
            log::debug!("two-factor code stored for the next connect");
            return Ok(());
        }
        if self.is_dead() {
            return Err(super::session::closed_by_server());
        }
        if !self.second_factor_pending() {
            warn(OdbcError::new(SqlState::GENERAL_WARNING, NOTHING_PENDING));
            return Ok(());
        }
        if let Some(info) = self.info() {
            super::code_ledger::claim(&format!("{}:{}", info.host, info.port), &info.user, code.expose())?;
        }
        let backup_code = super::two_factor_state::is_backup_code(code.expose());
        self.with_session_unchecked(|s| super::connect::send_second_factor(s, code)).inspect_err(|e| {
            self.two_factor().mark_failed(e.native);
        })?;
        self.two_factor().mark_verified(backup_code);
        self.ticket_after_late_code(warn)?;
        self.second_factor_verified()
    }

    /// After the server accepted the second factor: SQL may run now, so apply what the
    /// application set before.
    pub(super) fn second_factor_verified(&self) -> OdbcResult<()> {
        self.second_factor_pending.store(false, Ordering::Release);
        log::info!("second factor verified");
        if !self.autocommit() {
            self.with_session(|s| match s.request(&ClientMessage::SetAutocommit { on: false })? {
                ServerMessage::Ok => Ok(()),
                other => Err(super::unexpected(&other)),
            })?;
        }
        let options = self.session_options();
        if options != SessionOptions::DEFAULT {
            self.send_session_options(options)?;
        }
        Ok(())
    }

    /// The session settings the server enforces: ReadOnly / SQL_ATTR_ACCESS_MODE, and
    /// LongColumnSize.
    pub(super) fn session_options(&self) -> SessionOptions {
        let a = lock(&self.attributes);
        SessionOptions { read_only: a.access_mode == SQL_MODE_READ_ONLY, long_column_size: a.long_column_size }
    }

    /// Whether connecting has settings to apply once SQL may run.
    pub(super) fn has_settings_to_apply(&self) -> bool {
        !self.autocommit() || self.session_options() != SessionOptions::DEFAULT
    }

    fn send_session_options(&self, options: SessionOptions) -> OdbcResult<()> {
        self.with_session(|s| match s.request(&ClientMessage::SessionOptions(options))? {
            ServerMessage::Ok => Ok(()),
            other => Err(super::unexpected(&other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_and_kept_to_letters_digits_and_dashes() {
        assert_eq!(check_token(" 123456 ").unwrap(), "123456");
        assert_eq!(check_token("abcd-efgh\0\0").unwrap(), "abcd-efgh");
        for bad in ["", "   ", "12 34", "12;34", "12\u{e9}4", &"1".repeat(65)] {
            assert_eq!(check_token(bad).unwrap_err().state, SqlState::INVALID_ATTRIBUTE_VALUE, "{bad:?}");
        }
    }

    use crate::conn::unconnected as conn;

    #[test]
    fn two_factor_attribute_reads_need_a_connection() {
        assert_eq!(conn().get_attr(SQL_ATTR_TWO_FACTOR).unwrap_err().state, SqlState::CONNECTION_NOT_OPEN);
    }

    #[test]
    fn a_code_set_before_connect_is_stored_for_the_login() {
        let c = conn();
        c.set_attr(SQL_ATTR_TWO_FACTOR, AttrIn::Token("123456".into()), &mut |_| panic!("no warning")).unwrap();
        assert_eq!(lock(&c.attributes).code_before_connect.as_ref().unwrap().expose(), "123456");
    }

    #[test]
    fn unknown_attributes_are_hy092_and_isolation_levels_other_than_serializable_warn() {
        let c = conn();
        assert_eq!(c.get_attr(4242).unwrap_err().state, SqlState::INVALID_ATTRIBUTE);
        assert_eq!(c.set_attr(4242, AttrIn::Integer(1), &mut |_| {}).unwrap_err().state, SqlState::INVALID_ATTRIBUTE);
        let mut warned = Vec::new();
        c.set_attr(SQL_ATTR_TXN_ISOLATION, AttrIn::Integer(2), &mut |w| warned.push(w.state)).unwrap();
        assert_eq!(warned, vec![SqlState::OPTION_VALUE_CHANGED]);
        assert_eq!(c.get_attr(SQL_ATTR_TXN_ISOLATION).unwrap(), AttrOut::U32(8));
    }

    #[test]
    fn autocommit_is_stored_before_connect() {
        let c = conn();
        c.set_attr(SQL_ATTR_AUTOCOMMIT, AttrIn::Integer(0), &mut |_| {}).unwrap();
        assert!(!c.autocommit());
        assert_eq!(
            c.set_attr(SQL_ATTR_AUTOCOMMIT, AttrIn::Integer(7), &mut |_| {}).unwrap_err().state,
            SqlState::INVALID_ATTRIBUTE_VALUE
        );
    }

    #[test]
    fn a_quoted_token_from_the_driver_manager_is_unquoted() {
        assert_eq!(check_token("\"012345\"").unwrap(), "012345");
    }
}
