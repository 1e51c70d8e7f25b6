//! The settings every PostgreSQL session starts from, and opening one: TLS to the server,
//! the login role's password, then `SET ROLE` to the user's mapped role.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;
use twofactor_protocol::ErrorInfo;

use super::errors::{backend_unavailable, quote_ident};
use crate::config::{redacted_url, Config, SqlPostgresSection, PASSWORD_ENV};
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
        let shown_url = redacted_url(&section.url);
        let mut pg: postgres::Config =
            section.url.parse().map_err(|e| format!("url `{shown_url}` does not parse: {e}"))?;
        // rustls verifies the certificate chain and the host name: sslmode=require with
        // this connector means what libpq calls verify-full.
        pg.ssl_mode(SslMode::Require);
        pg.connect_timeout(Duration::from_secs(section.connect_timeout_secs));
        pg.application_name("twofactor-server");
        pg.password(read_password(config, &section)?);
        let tls = tls_trusting(&config.path(&section.ca_file))?;
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

fn read_password(config: &Config, section: &SqlPostgresSection) -> Result<Vec<u8>, String> {
    match &section.password_file {
        Some(file) => {
            let path = config.path(file);
            check_private(&path)?;
            let text = std::fs::read_to_string(&path).map_err(|e| format!("password_file {}: {e}", path.display()))?;
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(format!("password_file {} is empty", path.display()));
            }
            Ok(password.as_bytes().to_vec())
        }
        None => match std::env::var(PASSWORD_ENV) {
            Ok(p) if !p.is_empty() => Ok(p.into_bytes()),
            _ => Err(format!("no password: set password_file or the environment variable {PASSWORD_ENV}")),
        },
    }
}

/// A password file others can read is refused, as an SSH key would be.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("password_file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!("password_file {} is readable by others (mode {mode:o}); chmod 600 it", path.display()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// A rustls connector that trusts only the certificates in `ca_file`.
fn tls_trusting(ca_file: &Path) -> Result<MakeRustlsConnect, String> {
    let shown = ca_file.display();
    let pem = std::fs::read(ca_file).map_err(|e| format!("ca_file {shown}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| format!("ca_file {shown}: {e}"))?;
        roots.add(cert).map_err(|e| format!("ca_file {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("ca_file {shown} holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// An open PostgreSQL session running as the user's role.
pub struct PgSession {
    pub client: Client,
    /// The role user SQL runs as (unquoted).
    pub role: String,
    /// The ODBC user, for messages.
    pub user: String,
}

/// Connects and takes on the user's role. The refusals say which rule refused.
pub fn open_session(settings: &PgSettings, user: &str) -> Result<PgSession, StartError> {
    let Some(role) = settings.role_for(user).map(str::to_owned) else {
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
