//! The link to a PostgreSQL server, as the user store (`[store]`) and the SQL backend
//! (`[sql.postgres]`) both configure it: the URL (never with a password in it, TLS unless
//! explicitly switched off), the password from a private file or the environment, the
//! rustls configuration, and the error text with its causes. One set of rules, so the two
//! sections cannot drift apart in what they accept.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use postgres::config::SslMode;

use crate::crypto::SecretBytes;

/// Where the password may come from, named in messages.
#[derive(Debug, Clone, Copy)]
pub struct PasswordSource<'a> {
    /// The config key of the password file, e.g. `store.password_file`.
    pub file_key: &'a str,
    /// The environment variable read when no file is set.
    pub env: &'a str,
}

/// Parses a `postgres://` URL and applies the rules: a password in it is
/// refused (naming where it belongs instead), it must name a host and a role, and
/// `sslmode=disable` needs `insecure_no_tls`. libpq's `verify-ca` and `verify-full` mean
/// what `require` does here: rustls always checks the chain and the host name, and the
/// client library knows only `require`. Messages show the URL without any password.
/// Messages name no key: the caller's say which key is at fault.
pub fn parse_url(url: &str, password: PasswordSource<'_>, insecure_no_tls: bool) -> Result<postgres::Config, String> {
    let shown = redact_url(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(format!("`{shown}` is not a postgres:// URL"));
    }
    let normalised =
        url.replace("sslmode=verify-full", "sslmode=require").replace("sslmode=verify-ca", "sslmode=require");
    let c = postgres::Config::from_str(&normalised).map_err(|e| format!("`{shown}` is not a PostgreSQL URL: {e}"))?;
    if c.get_password().is_some() {
        return Err(format!(
            "`{shown}` carries a password; put it in {} or the {} environment variable",
            password.file_key, password.env
        ));
    }
    if c.get_hosts().is_empty() {
        return Err(format!("`{shown}` names no host"));
    }
    if c.get_user().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` names no role (postgres://ROLE@host/db)"));
    }
    if c.get_ssl_mode() == SslMode::Disable && !insecure_no_tls {
        return Err(format!(
            "`{shown}` switches TLS off (sslmode=disable); that needs insecure_no_tls = true, for a \
             PostgreSQL reached only over a trusted link"
        ));
    }
    Ok(c)
}

/// The password: the file when one is configured (it must be private to its owner, like
/// an SSH key; one line, the trailing newline an editor adds is not part of it), else the
/// environment variable, else None.
pub fn read_password(file: Option<&Path>, source: PasswordSource<'_>) -> Result<Option<SecretBytes>, String> {
    let Some(path) = file else {
        return Ok(std::env::var_os(source.env)
            .filter(|v| !v.is_empty())
            .map(|v| SecretBytes::new(v.into_encoded_bytes())));
    };
    let err = |m: String| format!("{} {}: {m}", source.file_key, path.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(err(format!("is readable by others (mode {:o}); chmod 600 it", mode & 0o777)));
        }
    }
    let mut bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(err("is empty".into()));
    }
    Ok(Some(SecretBytes::new(bytes)))
}

/// TLS 1.2/1.3 with the ring provider, trusting only the certificates of `ca_file` (for
/// `key`'s messages) or, without one, the public web roots.
pub fn tls_config(ca_file: Option<&Path>, key: &str) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = crate::tls::load_certs(path).map_err(|e| format!("{key}: {e}"))?;
            for cert in certs {
                roots.add(cert).map_err(|e| format!("{key} {}: {e}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An error with its causes: the client's connect error says only "error connecting to
/// server"; the reason, such as "Connection refused", is its source.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// `url` without a password, for messages and logs: `user:password@` loses `:password`,
/// a `password=` parameter is dropped (in a URL's query or in key=value form). A
/// hand-written cut: multi-host URLs such as `postgres://u@h1,h2/db` are not URLs the
/// `url` crate parses.
pub fn redact_url(url: &str) -> String {
    let is_password = |kv: &&str| kv.to_ascii_lowercase().starts_with("password=");
    let Some(i) = url.find("://") else {
        return url.split_whitespace().filter(|kv| !is_password(kv)).collect::<Vec<_>>().join(" ");
    };
    let (scheme, rest) = (&url[..i + 3], &url[i + 3..]);
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
            let kept: Vec<&str> = query[1..].split('&').filter(|kv| !is_password(kv)).collect();
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

    const SOURCE: PasswordSource<'static> =
        PasswordSource { file_key: "x.password_file", env: "TWOFACTOR_PG_LINK_TEST" };

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
        assert_eq!(redact_url("host=h password=secret user=u"), "host=h user=u");
    }

    #[test]
    fn a_url_with_a_password_without_a_role_or_without_tls_is_refused_without_echoing_the_password() {
        let e = parse_url("postgres://tf:s3cret@db1/tf", SOURCE, false).unwrap_err();
        assert!(e.contains("x.password_file") && !e.contains("s3cret"), "{e}");
        let e = parse_url("postgres://tf@db1/tf?password=s3cret", SOURCE, false).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        let e = parse_url("postgres://tf@db1/tf?sslmode=disable", SOURCE, false).unwrap_err();
        assert!(e.contains("insecure_no_tls"), "{e}");
        assert!(parse_url("postgres://tf@db1/tf?sslmode=disable", SOURCE, true).is_ok());
        let c = parse_url("postgres://tf@db1/tf?sslmode=verify-full", SOURCE, false).unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
        assert!(parse_url("postgres://db1/tf", SOURCE, false).unwrap_err().contains("names no role"));
        assert!(parse_url("host=db1 user=tf", SOURCE, false).is_err(), "only URLs");
    }

    #[test]
    fn the_password_comes_from_a_private_file_or_else_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        // The only test that sets this variable.
        std::env::set_var(SOURCE.env, "from-env");
        let p = read_password(None, SOURCE).unwrap().unwrap();
        assert_eq!(p.expose(), b"from-env");
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = read_password(Some(&file), SOURCE).unwrap_err();
            assert!(e.contains("chmod 600") && !e.contains("from-file"), "{e}");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let p = read_password(Some(&file), SOURCE).unwrap().unwrap();
        assert_eq!(p.expose(), b"from-file", "the file wins, newline cut");
        std::fs::write(&file, "\n").unwrap();
        assert!(read_password(Some(&file), SOURCE).unwrap_err().contains("is empty"));
        std::env::remove_var(SOURCE.env);
        assert!(read_password(None, SOURCE).unwrap().is_none());
    }
}
