//! `[ldap]` and `auth.first_factor`: which mechanisms check the password, in which order
//! (docs/ldap.md). The directory is reached over LDAPS or StartTLS with the certificate
//! verified; plain LDAP needs `insecure_no_tls`. The service account's password never
//! sits in the TOML: it comes from `bind_password_file` (mode 0600) or the environment.

use std::path::PathBuf;

use serde::Deserialize;

use crate::first_factor::Mechanism;
use crate::pg_link::PasswordSource;

/// The environment variable the service account's password is read from when
/// `ldap.bind_password_file` is not set.
pub const BIND_PASSWORD_ENV: &str = "TWOFACTOR_LDAP_BIND_PASSWORD";

pub const BIND_PASSWORD: PasswordSource<'static> =
    PasswordSource { file_key: "ldap.bind_password_file", env: BIND_PASSWORD_ENV };

/// The longest one directory operation may take: a bind or search runs while its login
/// attempt holds the user's failure budget.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

/// `auth.first_factor`: one mechanism (`"local"`) or an ordered cascade
/// (`["ldap", "local"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FirstFactorOrder {
    One(Mechanism),
    Cascade(Vec<Mechanism>),
}

impl Default for FirstFactorOrder {
    fn default() -> Self {
        FirstFactorOrder::One(Mechanism::Local)
    }
}

impl FirstFactorOrder {
    pub fn mechanisms(&self) -> &[Mechanism] {
        match self {
            FirstFactorOrder::One(m) => std::slice::from_ref(m),
            FirstFactorOrder::Cascade(list) => list,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let list = self.mechanisms();
        if list.is_empty() {
            return Err("names no mechanism; use \"local\", \"ldap\" or a list of them".into());
        }
        if list.iter().enumerate().any(|(i, m)| list[..i].contains(m)) {
            return Err("names a mechanism twice".into());
        }
        Ok(())
    }
}

/// How the directory entry of a user is found: the `{user}` placeholder is replaced by
/// the user name, escaped per RFC 4514 in a DN and per RFC 4515 in a filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapSection {
    /// `ldaps://host:636` or `ldap://host:389` (then StartTLS unless `insecure_no_tls`).
    pub url: String,
    /// Over `ldap://`: upgrade with StartTLS (the default). Ignored for `ldaps://`.
    pub starttls: bool,
    /// Plain LDAP, passwords in clear on the wire: only for a directory on loopback or a
    /// link that is otherwise protected. Off by default.
    pub insecure_no_tls: bool,
    /// PEM file of the CA(s) the directory's certificate is checked against; empty: the
    /// public web roots.
    pub ca_file: PathBuf,
    /// Direct bind: e.g. `uid={user},ou=people,dc=example,dc=org`. Exclusive with
    /// `search_base`.
    pub user_dn_template: String,
    /// Search, then bind: where users are searched (subtree), as the service account.
    pub search_base: String,
    pub search_filter: String,
    /// The service account that searches (and checks the group when set).
    pub bind_dn: String,
    pub bind_password_file: Option<PathBuf>,
    /// Only members of this group may log in; empty: any user the directory accepts.
    pub group_dn: String,
    /// The group's attribute that lists members (`member`, `uniqueMember`: DNs; or
    /// `memberUid`: user names, see `group_member_is_name`).
    pub group_member_attribute: String,
    pub group_member_is_name: bool,
    /// Connections kept open to the directory, and how long an idle one is kept.
    pub pool_size: usize,
    pub pool_idle_secs: u64,
    pub connect_timeout_ms: u64,
    pub operation_timeout_ms: u64,
    /// Create a user here at their first successful directory login (two-factor
    /// required, nothing enrolled yet). Off: the admin adds users first.
    pub auto_provision: bool,
    /// The entry's attribute that holds the user name exactly as the directory spells it.
    /// With `auto_provision`, a login must type it so (directories match `ALICE` and
    /// ` alice` to `alice`), so one directory user never becomes two users here.
    pub user_attribute: String,
}

impl Default for LdapSection {
    fn default() -> Self {
        LdapSection {
            url: String::new(),
            starttls: true,
            insecure_no_tls: false,
            ca_file: PathBuf::new(),
            user_dn_template: String::new(),
            search_base: String::new(),
            search_filter: "(uid={user})".into(),
            bind_dn: String::new(),
            bind_password_file: None,
            group_dn: String::new(),
            group_member_attribute: "member".into(),
            group_member_is_name: false,
            pool_size: 4,
            pool_idle_secs: 60,
            connect_timeout_ms: 3000,
            operation_timeout_ms: 5000,
            auto_provision: false,
            user_attribute: "uid".into(),
        }
    }
}

impl LdapSection {
    pub fn is_configured(&self) -> bool {
        !self.url.is_empty()
    }

    /// Whether the entry is found by a search (else by the DN template).
    pub fn searches(&self) -> bool {
        !self.search_base.is_empty()
    }

    /// Returns the key at fault and why. `used`: some mechanism list names `ldap`.
    pub fn validate(&self, used: bool, login_timeout_secs: u64) -> Result<(), (&'static str, String)> {
        if !self.is_configured() {
            return if used {
                Err(("ldap.url", "auth.first_factor names \"ldap\" but [ldap] has no url".into()))
            } else {
                Ok(())
            };
        }
        let plain = self.url.starts_with("ldap://");
        if !plain && !self.url.starts_with("ldaps://") {
            return Err(("ldap.url", format!("`{}`: must be an ldaps:// or ldap:// URL", self.url)));
        }
        if plain && !self.starttls && !self.insecure_no_tls {
            return Err((
                "ldap.starttls",
                "ldap:// without StartTLS sends passwords in clear; that needs insecure_no_tls = true".into(),
            ));
        }
        if self.insecure_no_tls && !plain {
            return Err(("ldap.insecure_no_tls", "only applies to an ldap:// URL".into()));
        }
        match (self.user_dn_template.is_empty(), self.searches()) {
            (true, false) => {
                return Err(("ldap.user_dn_template", "set user_dn_template or search_base".into()));
            }
            (false, true) => {
                return Err(("ldap.search_base", "set either user_dn_template or search_base, not both".into()));
            }
            _ => {}
        }
        if !self.user_dn_template.is_empty() && !self.user_dn_template.contains("{user}") {
            return Err(("ldap.user_dn_template", "must contain {user}".into()));
        }
        if self.searches() {
            if !self.search_filter.contains("{user}") || !self.search_filter.starts_with('(') {
                return Err(("ldap.search_filter", "must be a filter in parentheses containing {user}".into()));
            }
            if self.bind_dn.is_empty() {
                return Err(("ldap.bind_dn", "a search needs the service account's DN".into()));
            }
        }
        if self.user_attribute.is_empty() {
            return Err(("ldap.user_attribute", "must not be empty".into()));
        }
        if self.group_member_attribute.is_empty() {
            return Err(("ldap.group_member_attribute", "must not be empty".into()));
        }
        if self.pool_size == 0 || self.pool_size > 256 {
            return Err(("ldap.pool_size", "must be between 1 and 256".into()));
        }
        for (key, ms) in [
            ("ldap.connect_timeout_ms", self.connect_timeout_ms),
            ("ldap.operation_timeout_ms", self.operation_timeout_ms),
        ] {
            if ms == 0 || ms > MAX_TIMEOUT_MS {
                return Err((key, format!("must be between 1 and {MAX_TIMEOUT_MS}")));
            }
            if ms >= login_timeout_secs.saturating_mul(1000) {
                return Err((key, "must be below server.login_timeout_secs".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> LdapSection {
        LdapSection {
            url: "ldaps://ldap.example.org".into(),
            user_dn_template: "uid={user},ou=people,dc=example,dc=org".into(),
            ..LdapSection::default()
        }
    }

    #[test]
    fn an_unset_directory_is_valid_unless_a_mechanism_list_names_it() {
        assert!(LdapSection::default().validate(false, 30).is_ok());
        assert_eq!(LdapSection::default().validate(true, 30).unwrap_err().0, "ldap.url");
    }

    #[test]
    fn plain_ldap_needs_starttls_or_the_explicit_opt_out() {
        let mut s = LdapSection { url: "ldap://127.0.0.1:389".into(), ..template() };
        assert!(s.validate(true, 30).is_ok());
        s.starttls = false;
        assert_eq!(s.validate(true, 30).unwrap_err().0, "ldap.starttls");
        s.insecure_no_tls = true;
        assert!(s.validate(true, 30).is_ok());
        let ldaps = LdapSection { insecure_no_tls: true, ..template() };
        assert_eq!(ldaps.validate(true, 30).unwrap_err().0, "ldap.insecure_no_tls");
    }

    #[test]
    fn the_entry_is_found_by_a_template_or_a_search_with_a_service_account() {
        let both = LdapSection { search_base: "dc=example,dc=org".into(), ..template() };
        assert_eq!(both.validate(true, 30).unwrap_err().0, "ldap.search_base");
        let search = LdapSection { user_dn_template: String::new(), ..both };
        assert_eq!(search.validate(true, 30).unwrap_err().0, "ldap.bind_dn");
        let search = LdapSection { bind_dn: "cn=svc,dc=example,dc=org".into(), ..search };
        assert!(search.validate(true, 30).is_ok());
        let no_placeholder = LdapSection { user_dn_template: "uid=x".into(), ..template() };
        assert_eq!(no_placeholder.validate(true, 30).unwrap_err().0, "ldap.user_dn_template");
    }

    #[test]
    fn timeouts_stay_below_the_login_timeout() {
        let s = LdapSection { operation_timeout_ms: 30_000, ..template() };
        assert_eq!(s.validate(true, 30).unwrap_err().0, "ldap.operation_timeout_ms");
        assert!(s.validate(true, 31).is_ok());
    }

    #[test]
    fn the_first_factor_is_one_name_or_a_list_without_repeats() {
        #[derive(Deserialize)]
        struct A {
            first_factor: FirstFactorOrder,
        }
        let one: A = toml::from_str("first_factor = \"ldap\"").unwrap();
        assert_eq!(one.first_factor.mechanisms(), &[Mechanism::Ldap]);
        let list: A = toml::from_str("first_factor = [\"ldap\", \"local\"]").unwrap();
        assert_eq!(list.first_factor.mechanisms(), &[Mechanism::Ldap, Mechanism::Local]);
        assert!(list.first_factor.validate().is_ok());
        let twice: A = toml::from_str("first_factor = [\"ldap\", \"ldap\"]").unwrap();
        assert!(twice.first_factor.validate().is_err());
        assert!(toml::from_str::<A>("first_factor = \"kerberos\"").is_err());
    }
}
