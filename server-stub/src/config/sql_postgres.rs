//! `[sql] backend`, `[sql.postgres]` and `[sql.roles]`: where sessions run their SQL when
//! it is PostgreSQL, and which PostgreSQL role each ODBC user runs as.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::pg_link::{parse_url, PasswordSource};

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
    /// names a role, and does not turn TLS off. Returns the key at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.url.is_empty() {
            return Err(("sql.postgres.url", "is required when sql.backend = \"postgres\"".into()));
        }
        parse_url(&self.url, PASSWORD, false).map_err(|e| ("sql.postgres.url", e))?;
        if self.connect_timeout_secs == 0 {
            return Err(("sql.postgres.connect_timeout_secs", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Where the login role's password may come from, for messages.
pub const PASSWORD: PasswordSource<'static> =
    PasswordSource { file_key: "sql.postgres.password_file", env: PASSWORD_ENV };

#[cfg(test)]
mod tests {
    use super::*;

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
