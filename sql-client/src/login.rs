//! From the command line to a usable session: the connection string, the password
//! (prompted without echo unless given or in the DSN), the connect, and the second
//! factor (prompted with the method, destination and time left the driver reports).

use std::io::IsTerminal;
use std::process::Command;

use crate::error::SqlError;
use crate::session::Session;
use crate::two_factor::{STATE_EXPIRED, STATE_LOCKED, STATE_REJECTED};

/// What the user named: a DSN, or a whole connection string (it has a '=').
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Dsn(String),
    ConnectionString(String),
}

impl Target {
    pub fn parse(arg: &str) -> Target {
        if arg.contains('=') {
            Target::ConnectionString(arg.to_owned())
        } else {
            Target::Dsn(arg.to_owned())
        }
    }

    pub fn dsn_name(&self) -> String {
        match self {
            Target::Dsn(name) => name.clone(),
            Target::ConnectionString(s) => key_value(s, "DSN").unwrap_or_default(),
        }
    }
}

/// The pairs of a connection string; a value in braces may hold ';' ("}}" is a '}').
fn pairs(conn_str: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = conn_str;
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else { break };
        let after = after.trim_start();
        let (value, next) = if let Some(braced) = after.strip_prefix('{') {
            let mut value = String::new();
            let mut chars = braced.char_indices().peekable();
            let mut end = braced.len();
            while let Some((i, c)) = chars.next() {
                if c == '}' {
                    if chars.peek().is_some_and(|&(_, n)| n == '}') {
                        chars.next();
                    } else {
                        end = i + 1;
                        break;
                    }
                }
                value.push(c);
            }
            let tail = &braced[end..];
            (value, tail.split_once(';').map_or("", |(_, t)| t))
        } else {
            let (v, t) = after.split_once(';').unwrap_or((after, ""));
            (v.trim().to_owned(), t)
        };
        out.push((k.trim().trim_start_matches(';').trim().to_owned(), value));
        rest = next;
    }
    out
}

/// The value of `key` (case-insensitive) in a connection string, braces removed.
pub fn key_value(conn_str: &str, key: &str) -> Option<String> {
    pairs(conn_str).into_iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// A connection-string value, in braces when it needs them ('}' doubled).
pub fn quote(value: &str) -> String {
    if value.contains([';', '{', '}', '=']) || value.starts_with(' ') || value.ends_with(' ') {
        format!("{{{}}}", value.replace('}', "}}"))
    } else {
        value.to_owned()
    }
}

/// The DSN's keys as unixODBC's `odbcinst -q -s -n NAME` prints them (`Key=Value`
/// lines); empty when the tool or the DSN is missing.
fn dsn_keys(name: &str) -> Vec<(String, String)> {
    let Ok(out) = Command::new("odbcinst").args(["-q", "-s", "-n", name]).output() else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect()
}

fn has_key(keys: &[(String, String)], names: &[&str]) -> bool {
    keys.iter().any(|(k, v)| !v.is_empty() && names.iter().any(|n| k.eq_ignore_ascii_case(n)))
}

fn key<'a>(keys: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    keys.iter().find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n))).map(|(_, v)| v.as_str())
}

/// A prompt that could not be read; Ctrl-C there (the read is interrupted) ends the
/// program as SIGINT would.
fn read_failed(e: std::io::Error, what: &str) -> SqlError {
    if e.kind() == std::io::ErrorKind::Interrupted {
        crate::cancel::exit_interrupted();
    }
    SqlError::client(format!("cannot read {what}: {e}"))
}

/// Why the login did not give a session, and how the program should end.
#[derive(Debug)]
pub struct LoginFailed {
    pub error: SqlError,
    /// A sentence on the second factor after a refused code (the driver's description).
    pub two_factor: Option<String>,
}

impl From<SqlError> for LoginFailed {
    fn from(error: SqlError) -> Self {
        LoginFailed { error, two_factor: None }
    }
}

/// The connection string for `target`, with `user` and the password: from `password`, the
/// connection string or the DSN, else prompted on the terminal (never echoed).
pub fn connection_string(target: &Target, user: Option<&str>, password: Option<String>) -> Result<String, SqlError> {
    let mut conn_str = match target {
        Target::Dsn(name) => format!("DSN={}", quote(name)),
        Target::ConnectionString(s) => s.trim_end_matches(';').to_owned(),
    };
    let dsn_name = target.dsn_name();
    let dsn_keys = if dsn_name.is_empty() { Vec::new() } else { dsn_keys(&dsn_name) };
    if let Some(user) = user {
        conn_str.push_str(&format!(";UID={}", quote(user)));
    }
    let has_password = key_value(&conn_str, "PWD").is_some()
        || key_value(&conn_str, "Password").is_some()
        || has_key(&dsn_keys, &["PWD", "Password"]);
    let password = match password {
        Some(p) => Some(p),
        None if has_password => None,
        None if std::io::stdin().is_terminal() => {
            let who = user
                .map(str::to_owned)
                .or_else(|| key_value(&conn_str, "UID"))
                .or_else(|| key(&dsn_keys, &["UID", "User", "Username"]).map(str::to_owned))
                .unwrap_or_default();
            let prompt = if who.is_empty() { "Password: ".to_owned() } else { format!("Password for {who}: ") };
            Some(rpassword::prompt_password(prompt).map_err(|e| read_failed(e, "the password"))?)
        }
        // No terminal: the driver reports the missing password (28000).
        None => None,
    };
    if let Some(p) = password {
        conn_str.push_str(&format!(";PWD={}", quote(&p)));
    }
    Ok(conn_str)
}

/// Connects and, while the server waits for the second factor, prompts for the code on
/// the terminal and submits it (attribute 1002). A refused code ends the session.
pub fn login(conn_str: &str, dsn: &str) -> Result<Session, LoginFailed> {
    let session = Session::connect(conn_str, dsn)?;
    if !session.second_factor_pending()? {
        return Ok(session);
    }
    if !std::io::stdin().is_terminal() {
        return Err(SqlError::client(
            "the server waits for a second factor and there is no terminal to ask for it: give it with \
             TwoFactorCode=, TWOFACTOR_CODE or TwoFactorCodeCommand (docs/dsn-keys.md)",
        )
        .into());
    }
    loop {
        let state = session.two_factor_state()?;
        let code = rpassword::prompt_password(state.prompt()).map_err(|e| read_failed(e, "the code"))?;
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        return match session.submit_code(code) {
            Ok(()) => Ok(session),
            Err(error) => {
                let after = session.two_factor_state().ok();
                let ended =
                    after.as_ref().is_some_and(|s| [STATE_REJECTED, STATE_LOCKED, STATE_EXPIRED].contains(&s.state));
                if !ended && error.state == "28000" && error.native == crate::error::NATIVE_CODE_ALREADY_USED {
                    // Refused by the driver before sending (already used): ask again.
                    eprintln!("{error}");
                    continue;
                }
                Err(LoginFailed { error, two_factor: after.map(|s| s.description) })
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_with_an_equals_sign_is_a_connection_string() {
        assert_eq!(Target::parse("Sales"), Target::Dsn("Sales".into()));
        let t = Target::parse("DSN=Sales;UID=ann");
        assert_eq!(t, Target::ConnectionString("DSN=Sales;UID=ann".into()));
        assert_eq!(t.dsn_name(), "Sales");
        assert_eq!(Target::parse("Driver=/x.so;Server=h").dsn_name(), "");
    }

    #[test]
    fn values_are_quoted_only_when_they_need_it() {
        assert_eq!(quote("alice"), "alice");
        assert_eq!(quote("p;w}d"), "{p;w}}d}");
        assert_eq!(key_value("DSN=x; pwd = {a;b}}c} ;UID=u", "PWD").as_deref(), Some("a;b}c"));
        assert_eq!(key_value("DSN=x; pwd = {a;b}}c} ;UID=u", "uid").as_deref(), Some("u"));
        assert_eq!(key_value("DSN=x", "PWD"), None);
    }

    #[test]
    fn a_given_password_and_user_are_appended() {
        let s = connection_string(&Target::ConnectionString("Driver=/d.so;".into()), Some("ann"), Some("s;x".into()))
            .unwrap();
        assert_eq!(s, "Driver=/d.so;UID=ann;PWD={s;x}");
    }
}
