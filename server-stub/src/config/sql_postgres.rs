//! `[sql] backend`, `[sql.postgres]` and `[sql.roles]`: where sessions run their SQL when
//! it is PostgreSQL, and which PostgreSQL role each ODBC user runs as.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The environment variable that may hold the login role's password instead of a file.
pub const PASSWORD_ENV: &str = "TWOFACTOR_SQL_PG_PASSWORD";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlBackend {
    /// The embedded SQLite database `[sql] database` (today's behaviour).
    #[default]
    Sqlite,
    Postgres,
}

/// How an ODBC user name becomes the PostgreSQL role its session runs as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleMap {
    /// ODBC user `alice` runs as role `alice`, unless `[sql.roles]` names another.
    #[default]
    Same,
    /// Only users listed in `[sql.roles]` may run SQL.
    Table,
}

/// What an error inside a manual-commit transaction undoes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackOnError {
    /// Only the failed statement (a savepoint per statement, psqlODBC's statement-level
    /// rollback): what ODBC applications written for other databases expect.
    #[default]
    Statement,
    /// PostgreSQL's own rule: the transaction is aborted until the application rolls
    /// it back (25P02 meanwhile).
    Transaction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlPostgresSection {
    /// `postgres://LOGIN_ROLE@HOST:PORT/DB?sslmode=require`; a password in it is refused.
    pub url: String,
    /// The CA that signed PostgreSQL's certificate (PEM), relative to the data dir.
    pub ca_file: PathBuf,
    /// The login role's password (one line, 0600), relative to the data dir; when unset,
    /// the environment variable [`PASSWORD_ENV`].
    pub password_file: Option<PathBuf>,
    pub role_map: RoleMap,
    pub connect_timeout_secs: u64,
    pub rollback_on_error: RollbackOnError,
}

impl Default for SqlPostgresSection {
    fn default() -> Self {
        SqlPostgresSection {
            url: String::new(),
            ca_file: "pg-ca.crt".into(),
            password_file: None,
            role_map: RoleMap::Same,
            connect_timeout_secs: 5,
            rollback_on_error: RollbackOnError::Statement,
        }
    }
}

impl SqlPostgresSection {
    /// The role `user` runs as, if any: `[sql.roles]` first, then the `role_map` rule.
    pub fn role_for<'a>(&self, roles: &'a BTreeMap<String, String>, user: &'a str) -> Option<&'a str> {
        match roles.get(user) {
            Some(role) => Some(role.as_str()),
            None if self.role_map == RoleMap::Same => Some(user),
            None => None,
        }
    }

    /// Checks what can be checked without PostgreSQL: the URL parses, holds no password,
    /// and does not turn TLS off. Returns the key at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.url.is_empty() {
            return Err(("sql.postgres.url", "is required when sql.backend = \"postgres\"".into()));
        }
        let parsed: postgres::Config = self
            .url
            .parse()
            .map_err(|e| ("sql.postgres.url", format!("`{}` is not a PostgreSQL URL: {e}", redacted_url(&self.url))))?;
        if parsed.get_password().is_some() {
            return Err((
                "sql.postgres.url",
                format!(
                    "`{}` holds a password; put it in sql.postgres.password_file or {PASSWORD_ENV}",
                    redacted_url(&self.url)
                ),
            ));
        }
        if parsed.get_user().is_none_or(str::is_empty) {
            return Err(("sql.postgres.url", "names no login role (postgres://ROLE@host/db)".into()));
        }
        if parsed.get_ssl_mode() != postgres::config::SslMode::Require && self.url.contains("sslmode") {
            return Err((
                "sql.postgres.url",
                "sslmode must be `require` (TLS with the certificate verified against ca_file) or left out".into(),
            ));
        }
        if self.connect_timeout_secs == 0 {
            return Err(("sql.postgres.connect_timeout_secs", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Key=value form: hide the value of `password=`.
        return url
            .split_whitespace()
            .map(|kv| if kv.to_ascii_lowercase().starts_with("password=") { "password=***" } else { kv })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<&str> = query
                .split('&')
                .map(|kv| if kv.to_ascii_lowercase().starts_with("password=") { "password=***" } else { kv })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_hidden() {
        assert_eq!(redacted_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(
            redacted_url("postgres://u@h/db?password=secret&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(redacted_url("host=h password=secret user=u"), "host=h password=*** user=u");
        assert_eq!(redacted_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn a_url_with_a_password_or_without_tls_is_refused() {
        let mut s = SqlPostgresSection { url: "postgres://u:pw@127.0.0.1/db".into(), ..Default::default() };
        assert_eq!(s.validate().unwrap_err().0, "sql.postgres.url");
        assert!(!s.validate().unwrap_err().1.contains("pw@"));
        s.url = "postgres://u@127.0.0.1/db?sslmode=disable".into();
        assert!(s.validate().unwrap_err().1.contains("sslmode"));
        s.url = "postgres://u@127.0.0.1/db?sslmode=require".into();
        assert!(s.validate().is_ok());
    }

    #[test]
    fn roles_map_explicitly_first_then_by_rule() {
        let roles: BTreeMap<String, String> = [("alice".to_string(), "app_reader".to_string())].into();
        let mut s = SqlPostgresSection::default();
        assert_eq!(s.role_for(&roles, "alice"), Some("app_reader"));
        assert_eq!(s.role_for(&roles, "bob"), Some("bob"));
        s.role_map = RoleMap::Table;
        assert_eq!(s.role_for(&roles, "bob"), None);
    }
}
