//! `[enrol_web]`: the enrolment web page that one-time links open (docs/enrolment-links.md).
//! Off by default; served over HTTPS with the server's certificate on its own listener.

use std::net::SocketAddr;

use serde::Deserialize;

/// The longest life an enrolment link may be given: a link stands in for the admin
/// handing the secret over, so it must be short (a week covers a user away for days).
pub const MAX_LINK_TTL_SECS: u64 = 7 * 86_400;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrolWebSection {
    pub enabled: bool,
    /// Where the page listens (`IP:PORT`); port 0 picks a free port (tests).
    pub listen: String,
    /// What `enrol-link` prints in front of `/enrol/TOKEN`: the address users' browsers
    /// reach (a name in the server certificate). Empty: `https://localhost:PORT` of `listen`.
    pub public_url: String,
    /// A link's life when `enrol-link --ttl` is not given.
    pub default_ttl_secs: u64,
    /// How long one enrolment on the page (password, QR code, confirmation) may take.
    pub session_secs: u64,
    /// Enrolments in progress on this instance at once; more are refused (503).
    pub max_sessions: usize,
    /// Connections served at once; more are closed at accept.
    pub max_connections: usize,
}

impl Default for EnrolWebSection {
    fn default() -> Self {
        EnrolWebSection {
            enabled: false,
            listen: "127.0.0.1:8443".into(),
            public_url: String::new(),
            default_ttl_secs: 86_400,
            session_secs: 900,
            max_sessions: 1000,
            max_connections: 256,
        }
    }
}

impl EnrolWebSection {
    /// Returns the key at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.listen.parse::<SocketAddr>().is_err() {
            return Err(("enrol_web.listen", format!("`{}` is not IP:PORT", self.listen)));
        }
        if !self.public_url.is_empty()
            && (!self.public_url.starts_with("https://") || self.public_url.trim_end_matches('/').len() <= 8)
        {
            return Err(("enrol_web.public_url", "must be an https:// URL (the page is HTTPS only)".into()));
        }
        if self.default_ttl_secs == 0 || self.default_ttl_secs > MAX_LINK_TTL_SECS {
            return Err(("enrol_web.default_ttl_secs", format!("must be between 1 and {MAX_LINK_TTL_SECS} (7 days)")));
        }
        if !(60..=3600).contains(&self.session_secs) {
            return Err(("enrol_web.session_secs", "must be between 60 and 3600".into()));
        }
        if self.max_sessions == 0 {
            return Err(("enrol_web.max_sessions", "must be at least 1".into()));
        }
        if self.max_connections == 0 {
            return Err(("enrol_web.max_connections", "must be at least 1".into()));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> SocketAddr {
        // validate() checked it; the fallback only serves a Config built by hand.
        self.listen.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8443)))
    }

    /// The URL a link's token is appended to (`.../enrol/TOKEN`), without a trailing slash.
    pub fn base_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("https://localhost:{}", self.listen_addr().port())
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_with_their_key() {
        assert!(EnrolWebSection::default().validate().is_ok());
        let key = |s: EnrolWebSection| s.validate().unwrap_err().0;
        assert_eq!(key(EnrolWebSection { listen: "nowhere".into(), ..Default::default() }), "enrol_web.listen");
        let http = EnrolWebSection { public_url: "http://enrol.example".into(), ..Default::default() };
        assert_eq!(key(http), "enrol_web.public_url");
        assert_eq!(key(EnrolWebSection { default_ttl_secs: 0, ..Default::default() }), "enrol_web.default_ttl_secs");
        assert_eq!(key(EnrolWebSection { session_secs: 10, ..Default::default() }), "enrol_web.session_secs");
    }

    #[test]
    fn the_base_url_is_the_public_url_or_localhost_at_the_port() {
        assert_eq!(EnrolWebSection::default().base_url(), "https://localhost:8443");
        let s = EnrolWebSection { public_url: "https://db.example.com:9443/".into(), ..Default::default() };
        assert_eq!(s.base_url(), "https://db.example.com:9443");
    }
}
