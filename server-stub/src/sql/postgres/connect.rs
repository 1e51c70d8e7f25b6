//! The settings every PostgreSQL session starts from, and opening one: TLS to the server,
//! the login role's password, then `SET ROLE` to the user's mapped role.

use std::collections::BTreeMap;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;
use twofactor_protocol::ErrorInfo;

use super::errors::{backend_unavailable, quote_ident};
use crate::config::SQL_PG_PASSWORD as PASSWORD;
use crate::config::{Config, SqlPostgresSection};
use crate::pg_link;
use crate::sql::StartError;

/// What each PostgreSQL session is opened with; built once at server start.
pub struct PgSettings {
    /// The URL's settings plus the password (never printed: see the Debug impl).
    config: postgres::Config,
    pub(super) tls: MakeRustlsConnect,
    /// The URL as messages and logs show it, without a password.
    pub shown_url: String,
    section: SqlPostgresSection,
    roles: BTreeMap<String, String>,
    pub(super) default_fetch: u32,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings").field("url", &self.shown_url).finish_non_exhaustive()
    }
}

impl PgSettings {
    /// Reads the CA file and the password (file or environment); PostgreSQL itself is not
    /// contacted until a session needs it.
    pub fn from_config(config: &Config) -> Result<PgSettings, String> {
        let section = config.sql.postgres.clone().ok_or("missing while sql.backend = \"postgres\"")?;
        let shown_url = pg_link::redact_url(&section.url);
        let mut pg = pg_link::parse_url(&section.url, PASSWORD, false)?;
        // rustls verifies the certificate chain and the host name: sslmode=require with
        // this connector means what libpq calls verify-full.
        pg.ssl_mode(SslMode::Require);
        pg.connect_timeout(Duration::from_secs(section.connect_timeout_secs));
        pg.application_name("twofactor-server");
        let file = section.password_file.as_ref().map(|f| config.path(f));
        let password = pg_link::read_password(file.as_deref(), PASSWORD)?
            .ok_or_else(|| format!("no password: set password_file or the environment variable {}", PASSWORD.env))?;
        pg.password(password.expose());
        let ca_file = config.path(&section.ca_file);
        let tls = MakeRustlsConnect::new(pg_link::tls_config(Some(&ca_file), "sql.postgres.ca_file")?);
        Ok(PgSettings {
            config: pg,
            tls,
            shown_url,
            section,
            roles: config.sql.roles.clone(),
            default_fetch: config.sql.fetch_rows,
        })
    }

    /// The role `user` runs as, if the mapping gives one.
    pub fn role_for<'a>(&'a self, user: &'a str) -> Option<&'a str> {
        self.section.role_for(&self.roles, user)
    }

    /// What an error inside a manual-commit transaction undoes.
    pub fn rollback_on_error(&self) -> crate::config::RollbackOnError {
        self.section.rollback_on_error
    }
}

/// An open PostgreSQL session running as the user's role.
pub struct PgSession {
    pub client: Client,
    /// The role user SQL runs as (unquoted).
    pub role: String,
    /// The ODBC user, for messages.
    pub user: String,
}

/// Connects and takes on the user's role: `own_role` (a service account's) or the
/// mapping's. The refusals say which rule refused.
pub fn open_session(settings: &PgSettings, user: &str, own_role: Option<&str>) -> Result<PgSession, StartError> {
    let Some(role) = own_role.or_else(|| settings.role_for(user)).map(str::to_owned) else {
        return Err(StartError::new(
            ErrorInfo::new(
                b"28000",
                0,
                format!("user `{user}` has no PostgreSQL role: ask the administrator to map one in [sql.roles]"),
            ),
            format!("user `{user}` has no mapped PostgreSQL role (role_map = \"table\")"),
        ));
    };
    let mut client = settings.config.connect(settings.tls.clone()).map_err(|e| {
        StartError::new(
            backend_unavailable(),
            format!("cannot connect to PostgreSQL at {}: {}", settings.shown_url, errors_text(&e)),
        )
    })?;
    // UTC and ISO keep timestamptz and text dates the same for every session whatever
    // the server's defaults; the role comes last so the settings are the login role's.
    let setup = format!(
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET ROLE {}",
        quote_ident(&role)
    );
    if let Err(e) = client.batch_execute(&setup) {
        let why = errors_text(&e);
        return Err(StartError::new(
            ErrorInfo::new(
                b"42501",
                0,
                format!("user `{user}` cannot run as PostgreSQL role `{role}`: the role is missing or not granted to the server's login role"),
            ),
            format!("SET ROLE for user `{user}` to `{role}` failed: {why}"),
        ));
    }
    Ok(PgSession { client, role, user: user.to_owned() })
}

/// An error's text with the database's message when there is one.
pub fn errors_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}
