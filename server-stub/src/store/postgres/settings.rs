//! What `[store]` says about a PostgreSQL store, checked: the URL (never with a password,
//! TLS unless explicitly switched off), where the password and the CA come from, the pool
//! size and the timeout that bounds every wait for PostgreSQL.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::crypto::SecretBytes;
use crate::pg_link::{self, PasswordSource};
use crate::store::StoreError;

/// The environment variable a PostgreSQL store's password may come from (when
/// `store.password_file` is not set).
pub const PASSWORD_ENV: &str = "TWOFACTOR_STORE_PG_PASSWORD";

/// A PostgreSQL store's connection settings, as `[store]` gives them.
#[derive(Debug, Clone)]
pub struct PgStoreSettings {
    /// As configured: it carries no password (refused by [`check_url`]).
    pub url: String,
    /// PEM file of the CA(s) that sign PostgreSQL's certificate; None: the public web roots.
    pub ca_file: Option<PathBuf>,
    pub password: Option<SecretBytes>,
    pub pool_size: u32,
    /// Bounds connecting, waiting for a pooled connection, and each statement.
    pub connect_timeout: Duration,
    /// `sslmode=disable` is allowed only with this.
    pub insecure_no_tls: bool,
}

impl PgStoreSettings {
    /// The settings `[store]` names, or None when it names no URL (the SQLite store).
    pub fn from_config(config: &Config) -> Result<Option<PgStoreSettings>, StoreError> {
        let s = &config.store;
        let Some(url) = s.url.clone() else {
            return Ok(None);
        };
        check_url(&url, s.insecure_no_tls).map_err(StoreError::Backend)?;
        let file = s.password_file.as_ref().map(|f| config.path(f));
        let password = pg_link::read_password(file.as_deref(), PASSWORD).map_err(StoreError::Backend)?;
        Ok(Some(PgStoreSettings {
            url,
            ca_file: s.ca_file.as_ref().map(|f| config.path(f)),
            password,
            pool_size: s.pool_size,
            connect_timeout: Duration::from_secs(s.connect_timeout_secs),
            insecure_no_tls: s.insecure_no_tls,
        }))
    }

    /// The URL as messages show it (without any password, though it should carry none).
    pub fn display_url(&self) -> String {
        pg_link::redact_url(&self.url)
    }

    /// The client configuration: the URL's, plus the password, TLS required unless
    /// switched off, and every timeout bounded by `connect_timeout`.
    pub fn client_config(&self) -> Result<postgres::Config, StoreError> {
        let mut c = pg_link::parse_url(&self.url, PASSWORD, self.insecure_no_tls).map_err(StoreError::Backend)?;
        if c.get_ssl_mode() != postgres::config::SslMode::Disable {
            // `prefer` (the client's default) would fall back to plain text: never.
            c.ssl_mode(postgres::config::SslMode::Require);
        }
        if let Some(p) = &self.password {
            c.password(p.expose());
        }
        let t = self.connect_timeout;
        c.connect_timeout(t);
        // A PostgreSQL that vanished from the network (no reset) is noticed within the
        // timeout instead of when TCP gives up minutes later.
        c.tcp_user_timeout(t);
        c.keepalives(true);
        c.keepalives_idle(t.max(Duration::from_secs(1)));
        // A statement waiting on a row lock or a slow disk ends with an error in bounded
        // time, so a login fails closed rather than hanging.
        let ms = t.as_millis();
        c.options(&format!(
            "-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms}"
        ));
        if c.get_application_name().is_none() {
            c.application_name("twofactor-server");
        }
        Ok(c)
    }
}

/// Where the store's password may come from, for messages.
const PASSWORD: PasswordSource<'static> = PasswordSource { file_key: "store.password_file", env: PASSWORD_ENV };

/// Why `url` cannot be a store URL, if it cannot (see [`pg_link::parse_url`]).
pub fn check_url(url: &str, insecure_no_tls: bool) -> Result<(), String> {
    pg_link::parse_url(url, PASSWORD, insecure_no_tls).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_password_or_without_tls_is_refused_without_echoing_the_password() {
        let e = check_url("postgres://tf:s3cret@db1/tf", false).unwrap_err();
        assert!(e.contains("password_file") && !e.contains("s3cret"), "{e}");
        let e = check_url("postgres://tf@db1/tf?password=s3cret", false).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        let e = check_url("postgres://tf@db1/tf?sslmode=disable", false).unwrap_err();
        assert!(e.contains("insecure_no_tls"), "{e}");
        assert!(check_url("postgres://tf@db1/tf?sslmode=disable", true).is_ok());
        assert!(check_url("postgres://tf@db1/tf?sslmode=verify-full", false).is_ok());
        assert!(check_url("host=db1 user=tf", false).is_err(), "only URLs");
    }

    #[test]
    fn the_password_comes_from_a_private_file_or_else_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.store.url = Some("postgres://tf@db1/tf".into());
        // The only test that sets this variable; no other reads it.
        std::env::set_var(PASSWORD_ENV, "from-env");
        let s = PgStoreSettings::from_config(&config).unwrap().unwrap();
        assert_eq!(s.password.as_ref().map(|p| p.expose().to_vec()), Some(b"from-env".to_vec()));
        assert_eq!(format!("{s:?}").matches("from-env").count(), 0, "Debug never shows it");
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        config.store.password_file = Some("pw".into());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = PgStoreSettings::from_config(&config).unwrap_err().to_string();
            assert!(e.contains("chmod 600") && !e.contains("from-file"), "{e}");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let s = PgStoreSettings::from_config(&config).unwrap().unwrap();
        assert_eq!(s.password.map(|p| p.expose().to_vec()), Some(b"from-file".to_vec()), "the file wins, newline cut");
        std::env::remove_var(PASSWORD_ENV);
        config.store.url = None;
        assert!(PgStoreSettings::from_config(&config).unwrap().is_none(), "no url: SQLite");
    }

    #[test]
    fn tls_is_required_unless_disabled_and_timeouts_are_bounded() {
        let s = |url: &str| PgStoreSettings {
            url: url.into(),
            ca_file: None,
            password: Some(SecretBytes::new(b"pw".to_vec())),
            pool_size: 4,
            connect_timeout: Duration::from_secs(3),
            insecure_no_tls: true,
        };
        let c = s("postgres://tf@db1/tf").client_config().unwrap();
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Require, "prefer is not kept");
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(c.get_password(), Some(&b"pw"[..]));
        let c = s("postgres://tf@db1/tf?sslmode=disable").client_config().unwrap();
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Disable);
    }
}
