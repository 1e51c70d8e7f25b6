//! `[hook]`: the delegated second factor (docs/delegated-second-factor.md). The site's own
//! program or HTTPS endpoint answers `init` and `check` for users whose method is
//! `DELEGATED`; our replay ledger, lockout, backoff, audit and timeouts wrap it. Not
//! configured unless `program` or `url` is set.

use std::path::PathBuf;

use serde::Deserialize;

/// The longest a hook may take for one call. A check runs while its login attempt is
/// reserved, so the bound keeps a slow hook from holding a user's failure budget long.
pub const MAX_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookSection {
    /// The program and its arguments, exec'd directly (no shell): an absolute path first.
    pub program: Vec<String>,
    /// Or an HTTPS endpoint the calls are POSTed to as JSON.
    pub url: String,
    /// PEM file of the CA(s) the endpoint's certificate is verified against; empty: the
    /// public roots (Mozilla's list, as webpki-roots carries it).
    pub ca_file: PathBuf,
    /// Sent as `Authorization: Bearer ...` to the endpoint when set; never logged.
    pub bearer_token: String,
    /// One call's limit; the program (its whole process group) is killed at it.
    pub timeout_secs: u64,
    /// How long an accepted code is remembered, per user: sent again within this window
    /// it is a replay, refused without asking the hook.
    pub replay_window_secs: u64,
}

impl Default for HookSection {
    fn default() -> Self {
        HookSection {
            program: Vec::new(),
            url: String::new(),
            ca_file: PathBuf::new(),
            bearer_token: String::new(),
            timeout_secs: 5,
            replay_window_secs: 600,
        }
    }
}

impl HookSection {
    /// A program or an endpoint is set.
    pub fn is_configured(&self) -> bool {
        !self.program.is_empty() || !self.url.is_empty()
    }

    /// Returns the key at fault and why. The program's permissions are checked at server
    /// start (`hook::Hook::open`), which reads the file system.
    pub fn validate(&self, login_timeout_secs: u64) -> Result<(), (&'static str, String)> {
        if !self.program.is_empty() && !self.url.is_empty() {
            return Err(("hook.program", "set either hook.program or hook.url, not both".into()));
        }
        if let Some(path) = self.program.first() {
            if !path.starts_with('/') {
                return Err((
                    "hook.program",
                    format!("`{path}`: the program must be an absolute path (no PATH search)"),
                ));
            }
            if self.program.iter().any(|a| a.contains('\0')) {
                return Err(("hook.program", "an argument contains a NUL byte".into()));
            }
        }
        if !self.url.is_empty() && !self.url.starts_with("https://") {
            return Err(("hook.url", format!("`{}`: must be an https:// URL", self.url)));
        }
        if !self.ca_file.as_os_str().is_empty() && self.url.is_empty() {
            return Err(("hook.ca_file", "only applies to hook.url".into()));
        }
        if self.timeout_secs == 0 || self.timeout_secs > MAX_TIMEOUT_SECS {
            return Err(("hook.timeout_secs", format!("must be between 1 and {MAX_TIMEOUT_SECS}")));
        }
        if self.timeout_secs >= login_timeout_secs {
            return Err(("hook.timeout_secs", "must be below server.login_timeout_secs".into()));
        }
        if !(30..=86_400).contains(&self.replay_window_secs) {
            return Err(("hook.replay_window_secs", "must be between 30 and 86400".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(argv: &[&str]) -> HookSection {
        HookSection { program: argv.iter().map(|s| s.to_string()).collect(), ..HookSection::default() }
    }

    #[test]
    fn an_unset_hook_is_valid_and_not_configured() {
        assert!(HookSection::default().validate(30).is_ok());
        assert!(!HookSection::default().is_configured());
    }

    #[test]
    fn a_relative_program_a_plain_http_url_or_both_are_refused_with_their_key() {
        assert_eq!(program(&["hook.py"]).validate(30).unwrap_err().0, "hook.program");
        assert!(program(&["/usr/bin/python3", "/opt/hook.py"]).validate(30).is_ok());
        let http = HookSection { url: "http://example.org/mfa".into(), ..HookSection::default() };
        assert_eq!(http.validate(30).unwrap_err().0, "hook.url");
        let both = HookSection { url: "https://example.org/mfa".into(), ..program(&["/bin/true"]) };
        assert_eq!(both.validate(30).unwrap_err().0, "hook.program");
    }

    #[test]
    fn the_timeout_stays_below_the_login_timeout() {
        let mut h = program(&["/bin/true"]);
        h.timeout_secs = 30;
        assert_eq!(h.validate(30).unwrap_err().0, "hook.timeout_secs");
        h.timeout_secs = 0;
        assert_eq!(h.validate(30).unwrap_err().0, "hook.timeout_secs");
        h.timeout_secs = 29;
        assert!(h.validate(30).is_ok());
    }
}
