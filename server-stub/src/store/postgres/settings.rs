//! What `[store]` says about a PostgreSQL store, checked: the URL (never with a password,
//! TLS unless explicitly switched off), where the password and the CA come from, the pool
//! size and the timeout that bounds every wait for PostgreSQL.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::config::Config;
use crate::crypto::SecretBytes;
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
        let password = match &s.password_file {
            Some(file) => Some(read_password_file(&config.path(file))?),
            None => std::env::var_os(PASSWORD_ENV).map(|v| SecretBytes::new(v.into_encoded_bytes())),
        };
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
        redact_url(&self.url)
    }

    /// The client configuration: the URL's, plus the password, TLS required unless
    /// switched off, and every timeout bounded by `connect_timeout`.
    pub fn client_config(&self) -> Result<postgres::Config, StoreError> {
        let mut c = parse_url(&self.url).map_err(StoreError::Backend)?;
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

fn read_password_file(path: &Path) -> Result<SecretBytes, StoreError> {
    let err = |m: String| StoreError::Backend(format!("store.password_file {}: {m}", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(err(format!("is readable by others (mode {:o}); chmod 600 it", mode & 0o777)));
        }
    }
    let mut bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    // One line: the trailing newline an editor adds is not part of the password.
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    let secret = SecretBytes::new(bytes);
    if secret.expose().is_empty() {
        return Err(err("is empty".into()));
    }
    Ok(secret)
}

/// libpq's `verify-ca` and `verify-full` mean what `require` does here (rustls always
/// checks the chain and the host name); the client library knows only `require`.
fn parse_url(url: &str) -> Result<postgres::Config, String> {
    let normalised =
        url.replace("sslmode=verify-full", "sslmode=require").replace("sslmode=verify-ca", "sslmode=require");
    postgres::Config::from_str(&normalised).map_err(|e| format!("`{}` is not a PostgreSQL URL: {e}", redact_url(url)))
}

/// Why `url` cannot be a store URL, if it cannot: not a `postgres://` URL, a password in
/// it, or TLS switched off without `insecure_no_tls`.
pub fn check_url(url: &str, insecure_no_tls: bool) -> Result<(), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(format!("`{}` is not a postgres:// URL", redact_url(url)));
    }
    let c = parse_url(url)?;
    if c.get_password().is_some() {
        return Err(format!(
            "`{}` carries a password; put it in store.password_file or the {PASSWORD_ENV} environment variable",
            redact_url(url)
        ));
    }
    if c.get_hosts().is_empty() {
        return Err(format!("`{}` names no host", redact_url(url)));
    }
    if c.get_ssl_mode() == postgres::config::SslMode::Disable && !insecure_no_tls {
        return Err(format!(
            "`{}` switches TLS off (sslmode=disable); set store.insecure_no_tls = true if PostgreSQL is reached \
             only over a trusted link",
            redact_url(url)
        ));
    }
    Ok(())
}

/// `url` without a password: the `user:password@` part loses `:password`, a `password=`
/// parameter is dropped. (A hand-written cut: multi-host URLs such as
/// `postgres://u@h1,h2/db` are not URLs the `url` crate parses.)
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, hosts) = authority.split_at(at);
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}{hosts}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q);
            let kept: Vec<&str> =
                query[1..].split('&').filter(|kv| !kv.to_ascii_lowercase().starts_with("password=")).collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_shown_in_a_message_has_no_password() {
        assert_eq!(
            redact_url("postgres://tf:s3cret@db1:5432/tf?sslmode=require"),
            "postgres://tf@db1:5432/tf?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://tf@db1/tf?password=s3cret&sslmode=require"),
            "postgres://tf@db1/tf?sslmode=require"
        );
        assert_eq!(redact_url("postgres://tf@h1,h2/tf?PASSWORD=x"), "postgres://tf@h1,h2/tf");
        assert_eq!(redact_url("postgres://db1/tf"), "postgres://db1/tf");
    }

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
