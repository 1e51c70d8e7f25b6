//! The keys of a connection: connection string over DSN, with the documented defaults.

use std::time::Duration;

use twofactor_protocol::{Secret, SessionOptions};

use super::code_source::{PromptMode, DEFAULT_CODE_ENV, DEFAULT_COMMAND_TIMEOUT};
use super::tickets::TicketMode;
use crate::diag::{OdbcError, OdbcResult, SqlState};

pub const DEFAULT_PORT: u16 = 7443;
pub const DEFAULT_LOGIN_TIMEOUT: u64 = 30;
pub const DEFAULT_FETCH_ROWS: u32 = 4096;
/// The largest `LongColumnSize`: what a TEXT or BLOB column can hold (2^30 - 1).
pub const MAX_LONG_COLUMN_SIZE: u32 = 1_073_741_823;

/// Keys this driver understands (lower case); others are logged at debug and ignored.
const KNOWN_KEYS: &[&str] = &[
    "driver",
    "dsn",
    "uid",
    "user",
    "pwd",
    "password",
    "server",
    "port",
    "cafile",
    "tlsverify",
    "tlsservername",
    "logintimeout",
    "connectiontimeout",
    "querytimeout",
    "fetchrows",
    "staticcursormaxbytes",
    "twofactorcode",
    "twofactorcodeenv",
    "twofactorcodecommand",
    "twofactorcodecommandtimeout",
    "twofactorprompt",
    "twofactorticket",
    "passwordcodeseparator",
    "logfile",
    "loglevel",
    "description",
    "database",
    "dmconnattr",
    "readonly",
    "longcolumnsize",
    "servicekeyfile",
    "clientcertificate",
    "clientkey",
];

/// Key/value pairs, first occurrence wins (as ODBC specifies for repeated keywords);
/// connection-string pairs go in before the DSN's so they override them.
#[derive(Default, Clone)]
pub struct Settings {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&super::connection_string::mask_secrets(&self.to_connection_string()))
    }
}

impl Settings {
    pub fn push(&mut self, key: &str, value: &str) {
        if self.get(key).is_none() {
            self.pairs.push((key.trim().to_string(), value.to_string()));
        }
    }

    pub fn extend(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        for (k, v) in pairs {
            self.push(&k, &v);
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// The first of several spellings present (`UID` / `User`).
    pub fn get_any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    pub fn unknown_keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str()).filter(|k| !KNOWN_KEYS.contains(&k.to_ascii_lowercase().as_str()))
    }

    pub fn to_connection_string(&self) -> String {
        super::connection_string::build(self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

fn bad_key(key: &str, value: &str, expected: &str) -> OdbcError {
    OdbcError::new(SqlState::GENERAL_ERROR, format!("invalid value {value:?} for {key}: expected {expected}"))
}

fn parse_u64(s: &Settings, key: &str) -> OdbcResult<Option<u64>> {
    match s.get(key).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| bad_key(key, v, "a whole number")),
    }
}

/// The longest timeout a key may set, in seconds: the range of the ODBC attributes
/// (SQLUINTEGER), about 136 years. A larger number is taken as this, so that no deadline
/// computed from it can overflow.
pub const MAX_TIMEOUT_SECS: u64 = u32::MAX as u64;

/// A timeout key in whole seconds, clamped to MAX_TIMEOUT_SECS.
fn parse_seconds(s: &Settings, key: &str) -> OdbcResult<Option<u64>> {
    Ok(parse_u64(s, key)?.map(|v| {
        if v > MAX_TIMEOUT_SECS {
            log::debug!("{key}={v} is beyond the longest timeout; {MAX_TIMEOUT_SECS} s is used");
        }
        v.min(MAX_TIMEOUT_SECS)
    }))
}

fn parse_bool(s: &Settings, key: &str, default: bool) -> OdbcResult<bool> {
    match s.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => match v.as_str() {
            "yes" | "y" | "true" | "1" | "on" => Ok(true),
            "no" | "n" | "false" | "0" | "off" => Ok(false),
            _ => Err(bad_key(key, &v, "Yes or No")),
        },
    }
}

/// What a connect needs, resolved from the settings.
#[derive(Debug)]
pub struct ConnectConfig {
    pub dsn: Option<String>,
    pub host: String,
    pub port: u16,
    pub ca_file: Option<String>,
    pub tls_verify: bool,
    pub tls_server_name: String,
    pub login_timeout: Option<Duration>,
    pub connection_timeout: Option<Duration>,
    pub query_timeout: Option<u64>,
    pub fetch_rows: u32,
    /// StaticCursorMaxBytes: the most a static cursor keeps (`stmt::scroll`).
    pub static_cursor_max_bytes: usize,
    pub user: String,
    /// The password to send: PWD without a code suffix when PasswordCodeSeparator is set.
    pub password: Secret<String>,
    pub password_suffix: Option<Secret<String>>,
    pub code_key: Option<Secret<String>>,
    pub code_env: String,
    pub code_command: Option<String>,
    pub code_command_timeout: Duration,
    pub prompt: PromptMode,
    /// `ReadOnly`: the session refuses writes (as SQL_ATTR_ACCESS_MODE = SQL_MODE_READ_ONLY).
    pub read_only: bool,
    /// `LongColumnSize`: the size reported for columns declared without one.
    pub long_column_size: u32,
    /// Service accounts (`service_login.rs`): `ServiceKeyFile`, or `ClientCertificate` and
    /// `ClientKey`.
    pub service_key_file: Option<String>,
    pub client_certificate: Option<String>,
    pub client_key: Option<String>,
    /// `TwoFactorTicket`: whether and where two-factor tickets are kept.
    pub ticket_mode: TicketMode,
}

impl ConnectConfig {
    pub fn from_settings(s: &Settings) -> OdbcResult<Self> {
        let host = s.get("Server").map(str::trim).filter(|h| !h.is_empty()).unwrap_or("localhost").to_string();
        let port = match s.get("Port").map(str::trim).filter(|p| !p.is_empty()) {
            None => DEFAULT_PORT,
            Some(p) => p.parse().ok().filter(|&p| p != 0).ok_or_else(|| bad_key("Port", p, "a TCP port 1-65535"))?,
        };
        let pwd = s.get_any(&["PWD", "Password"]).unwrap_or("").to_string();
        let separator = s.get("PasswordCodeSeparator").filter(|sep| !sep.is_empty());
        let (password, password_suffix) = match separator.and_then(|sep| pwd.rfind(sep).map(|i| (i, sep.len()))) {
            Some((i, n)) => (pwd[..i].to_string(), Some(Secret::new(pwd[i + n..].to_string()))),
            None => (pwd, None),
        };
        let path_key = |key: &str| s.get(key).map(str::trim).filter(|p| !p.is_empty()).map(str::to_string);
        let seconds = |key: &str| -> OdbcResult<Option<Duration>> {
            Ok(parse_seconds(s, key)?.filter(|&v| v > 0).map(Duration::from_secs))
        };
        Ok(ConnectConfig {
            dsn: s.get("DSN").map(str::to_string).filter(|d| !d.is_empty()),
            tls_server_name: s
                .get("TLSServerName")
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .unwrap_or(&host)
                .to_string(),
            host,
            port,
            ca_file: s.get("CAFile").map(str::trim).filter(|f| !f.is_empty()).map(str::to_string),
            tls_verify: parse_bool(s, "TLSVerify", true)?,
            login_timeout: match parse_seconds(s, "LoginTimeout")? {
                None => Some(Duration::from_secs(DEFAULT_LOGIN_TIMEOUT)),
                Some(0) => None,
                Some(v) => Some(Duration::from_secs(v)),
            },
            connection_timeout: seconds("ConnectionTimeout")?,
            query_timeout: parse_seconds(s, "QueryTimeout")?,
            fetch_rows: match parse_u64(s, "FetchRows")? {
                None | Some(0) => DEFAULT_FETCH_ROWS,
                Some(v) => u32::try_from(v).map_err(|_| bad_key("FetchRows", &v.to_string(), "at most 4294967295"))?,
            },
            static_cursor_max_bytes: match parse_u64(s, "StaticCursorMaxBytes")? {
                None | Some(0) => crate::stmt::scroll::STATIC_CURSOR_MAX_BYTES,
                Some(v) => usize::try_from(v).unwrap_or(usize::MAX),
            },
            user: s.get_any(&["UID", "User"]).unwrap_or("").to_string(),
            password: Secret::new(password),
            password_suffix,
            code_key: s.get("TwoFactorCode").filter(|c| !c.trim().is_empty()).map(|c| Secret::new(c.to_string())),
            code_env: s
                .get("TwoFactorCodeEnv")
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .unwrap_or(DEFAULT_CODE_ENV)
                .to_string(),
            code_command: s.get("TwoFactorCodeCommand").map(str::to_string).filter(|c| !c.trim().is_empty()),
            code_command_timeout: seconds("TwoFactorCodeCommandTimeout")?.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
            prompt: PromptMode::parse(s.get("TwoFactorPrompt").unwrap_or(""))?,
            read_only: parse_bool(s, "ReadOnly", false)?,
            long_column_size: match parse_u64(s, "LongColumnSize")? {
                None => SessionOptions::DEFAULT.long_column_size,
                Some(v) => u32::try_from(v)
                    .ok()
                    .filter(|&v| v <= MAX_LONG_COLUMN_SIZE)
                    .ok_or_else(|| bad_key("LongColumnSize", &v.to_string(), "0 to 1073741823"))?,
            },
            service_key_file: path_key("ServiceKeyFile"),
            client_certificate: path_key("ClientCertificate"),
            client_key: path_key("ClientKey"),
            ticket_mode: TicketMode::parse(s.get("TwoFactorTicket").unwrap_or(""))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(s: &str) -> Settings {
        let mut out = Settings::default();
        out.extend(super::super::connection_string::parse(s).unwrap());
        out
    }

    #[test]
    fn defaults_apply_when_keys_are_absent() {
        let c = ConnectConfig::from_settings(&settings("UID=a;PWD=b")).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.tls_verify), ("localhost", DEFAULT_PORT, true));
        assert_eq!(c.tls_server_name, "localhost");
        assert_eq!(c.login_timeout, Some(Duration::from_secs(30)));
        assert_eq!(c.fetch_rows, 4096);
        assert_eq!(c.code_env, "TWOFACTOR_CODE");
        assert_eq!(c.prompt, PromptMode::No);
        assert_eq!(c.ticket_mode, TicketMode::Off);
        let c = ConnectConfig::from_settings(&settings("UID=a;TwoFactorTicket=Keyring")).unwrap();
        assert_eq!(c.ticket_mode, TicketMode::Keyring);
    }

    #[test]
    fn the_connection_string_overrides_the_dsn_and_the_first_occurrence_wins() {
        let mut s = settings("Server=cs;uid=x;UID=y");
        s.extend(vec![("server".to_string(), "dsn".to_string()), ("Port".to_string(), "9000".to_string())]);
        let c = ConnectConfig::from_settings(&s).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_str()), ("cs", 9000, "x"));
    }

    #[test]
    fn the_code_is_split_from_the_password_at_the_last_separator() {
        let c = ConnectConfig::from_settings(&settings("PWD=pa:ss:123456;PasswordCodeSeparator=:")).unwrap();
        assert_eq!(c.password.expose(), "pa:ss");
        assert_eq!(c.password_suffix.unwrap().expose(), "123456");
        let c = ConnectConfig::from_settings(&settings("PWD=plain;PasswordCodeSeparator=:")).unwrap();
        assert_eq!(c.password.expose(), "plain");
        assert!(c.password_suffix.is_none());
    }

    #[test]
    fn bad_values_are_errors_naming_the_key() {
        for (s, key) in [("Port=http", "Port"), ("TLSVerify=maybe", "TLSVerify"), ("LoginTimeout=-1", "LoginTimeout")] {
            let e = ConnectConfig::from_settings(&settings(s)).unwrap_err();
            assert!(e.message.contains(key), "{}", e.message);
        }
    }

    #[test]
    fn timeouts_beyond_the_longest_are_clamped_not_overflowed() {
        let max = u64::MAX;
        let c = ConnectConfig::from_settings(&settings(&format!(
            "LoginTimeout={max};ConnectionTimeout={max};QueryTimeout={max};TwoFactorCodeCommandTimeout={max}"
        )))
        .unwrap();
        let longest = Duration::from_secs(MAX_TIMEOUT_SECS);
        assert_eq!(c.login_timeout, Some(longest));
        assert_eq!(c.connection_timeout, Some(longest));
        assert_eq!(c.query_timeout, Some(MAX_TIMEOUT_SECS));
        assert_eq!(c.code_command_timeout, longest);
        assert!(std::time::Instant::now().checked_add(longest).is_some(), "a deadline from it exists");
    }

    #[test]
    fn a_timeout_too_big_for_a_number_is_an_error_naming_the_key() {
        let e = ConnectConfig::from_settings(&settings("LoginTimeout=99999999999999999999999")).unwrap_err();
        assert!(e.message.contains("LoginTimeout"), "{}", e.message);
    }

    #[test]
    fn read_only_and_long_column_size_have_defaults_and_bounds() {
        let c = ConnectConfig::from_settings(&settings("UID=a")).unwrap();
        assert_eq!((c.read_only, c.long_column_size), (false, 65_536));
        let c = ConnectConfig::from_settings(&settings("ReadOnly=1;LongColumnSize=0")).unwrap();
        assert_eq!((c.read_only, c.long_column_size), (true, 0));
        for s in ["LongColumnSize=1073741824", "LongColumnSize=big", "ReadOnly=perhaps"] {
            let e = ConnectConfig::from_settings(&settings(s)).unwrap_err();
            assert!(e.message.contains(s.split('=').next().unwrap()), "{}", e.message);
        }
    }

    #[test]
    fn debug_output_of_settings_masks_secrets() {
        let s = settings("UID=u;PWD={x;y};TwoFactorCode=123456");
        let shown = format!("{s:?}");
        assert!(!shown.contains("123456") && !shown.contains("x;y"), "{shown}");
    }
}
