//! The directory mechanism: the password is checked by binding to the directory as the
//! user, whose DN comes from `ldap.user_dn_template` or from a search as the service
//! account; then, when `ldap.group_dn` is set, the user must be listed in that group.
//! Every operation has `ldap.operation_timeout_ms`; what the directory cannot answer is
//! [`Verdict::Unavailable`], so the login fails closed (docs/ldap.md).

use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, Scope, SearchEntry};
use twofactor_protocol::Secret;

use super::Verdict;
use crate::config::{Config, LdapSection, LDAP_BIND_PASSWORD};

mod escape;
mod pool;

pub use escape::{user_dn, user_filter};

/// LDAP result codes (RFC 4511, appendix A) the checks tell apart.
const SUCCESS: u32 = 0;
const COMPARE_FALSE: u32 = 5;
const COMPARE_TRUE: u32 = 6;
const NO_SUCH_ATTRIBUTE: u32 = 16;
const NO_SUCH_OBJECT: u32 = 32;
const INVALID_DN_SYNTAX: u32 = 34;
const INAPPROPRIATE_AUTHENTICATION: u32 = 48;
const INVALID_CREDENTIALS: u32 = 49;
const INSUFFICIENT_ACCESS: u32 = 50;
const UNWILLING_TO_PERFORM: u32 = 53;

pub struct Directory {
    section: LdapSection,
    /// The service account's password; never logged (ldap3 does not log bind requests).
    bind_password: Option<Secret<String>>,
    timeout: Duration,
    pool: pool::Pool,
}

impl Directory {
    pub fn open(config: &Config) -> Result<Self, String> {
        let section = config.ldap.clone();
        let bind_password = if section.bind_dn.is_empty() {
            None
        } else {
            let file = section.bind_password_file.as_ref().map(|p| config.path(p));
            let bytes = crate::pg_link::read_password(file.as_deref(), LDAP_BIND_PASSWORD)?.ok_or_else(|| {
                format!(
                    "ldap.bind_dn is set but neither ldap.bind_password_file nor {} gives its password",
                    LDAP_BIND_PASSWORD.env
                )
            })?;
            let text = String::from_utf8(bytes.expose().to_vec())
                .map_err(|_| "ldap.bind_password_file: the password is not UTF-8".to_string())?;
            Some(Secret::new(text))
        };
        let plain = section.url.starts_with("ldap://");
        let tls = if plain && section.insecure_no_tls {
            None
        } else {
            let ca = (!section.ca_file.as_os_str().is_empty()).then(|| config.path(&section.ca_file));
            Some(Arc::new(crate::pg_link::tls_config(ca.as_deref(), "ldap.ca_file")?))
        };
        let timeout = Duration::from_millis(section.operation_timeout_ms);
        let pool = pool::Pool::new(
            section.url.clone(),
            tls,
            plain && section.starttls && !section.insecure_no_tls,
            section.pool_size,
            Duration::from_millis(section.connect_timeout_ms),
            timeout,
            Duration::from_secs(section.pool_idle_secs),
        );
        Ok(Directory { section, bind_password, timeout, pool })
    }

    /// Whether users are created here at their first directory login.
    pub fn auto_provision(&self) -> bool {
        self.section.auto_provision
    }

    /// Binds as `user` with `password` and checks the group. An empty password is refused
    /// without a bind: RFC 4513 makes a simple bind with an empty password an anonymous
    /// one, which most directories accept.
    pub async fn check(&self, user: &str, password: &Secret<String>) -> Verdict {
        if password.expose().is_empty() {
            return Verdict::Rejected("empty password (an empty bind would be anonymous)");
        }
        // A connection taken from the idle list may have been closed by the directory
        // since (a restart): one retry on a new one. A new connection is not retried, so a
        // directory that is down costs one connect timeout, not two.
        let mut fresh = false;
        loop {
            let mut lease = match self.pool.get(fresh).await {
                Ok(lease) => lease,
                Err(reason) => return Verdict::Unavailable(reason),
            };
            match self.check_on(lease.ldap(), user, password.expose()).await {
                Ok(verdict) => {
                    lease.keep();
                    return verdict;
                }
                Err(reason) if lease.reused && !fresh => {
                    log::debug!("directory: a pooled connection failed ({reason}); retrying on a new one");
                    fresh = true;
                }
                Err(reason) => return Verdict::Unavailable(reason),
            }
        }
    }

    /// The checks on one connection. Err: the directory could not answer (the connection
    /// is dropped).
    async fn check_on(&self, ldap: &mut Ldap, user: &str, password: &str) -> Result<Verdict, String> {
        let s = &self.section;
        let dn = if s.searches() {
            self.bind_service(ldap).await?;
            let filter = user_filter(&s.search_filter, user);
            let found = ldap
                .with_timeout(self.timeout)
                .search(&s.search_base, Scope::Subtree, &filter, vec!["1.1"])
                .await
                .map_err(|e| format!("directory search: {e}"))?;
            let (entries, result) = (found.0, found.1);
            if result.rc != SUCCESS {
                return Err(format!("directory search: result code {} {}", result.rc, result.text));
            }
            match entries.len() {
                0 => return Ok(Verdict::NotFound),
                1 => SearchEntry::construct(entries.into_iter().next().ok_or("empty search result")?).dn,
                _ => return Ok(Verdict::Rejected("several directory entries match the user name")),
            }
        } else {
            user_dn(&s.user_dn_template, user)
        };
        let bound = ldap
            .with_timeout(self.timeout)
            .simple_bind(&dn, password)
            .await
            .map_err(|e| format!("directory bind: {e}"))?;
        match bound.rc {
            SUCCESS => {}
            INVALID_CREDENTIALS => return Ok(Verdict::Rejected("wrong directory password")),
            NO_SUCH_OBJECT | INVALID_DN_SYNTAX => return Ok(Verdict::Rejected("no such directory entry")),
            INAPPROPRIATE_AUTHENTICATION | INSUFFICIENT_ACCESS | UNWILLING_TO_PERFORM => {
                return Ok(Verdict::Rejected("the directory refused the bind"));
            }
            rc => return Err(format!("directory bind: result code {rc} {}", bound.text)),
        }
        if s.auto_provision && !self.spelled_as_directory(ldap, &dn, user).await? {
            return Ok(Verdict::Rejected("the name is not spelled as ldap.user_attribute has it"));
        }
        if s.group_dn.is_empty() {
            return Ok(Verdict::Accepted);
        }
        // The group is read as the service account when there is one, so the check does
        // not depend on what users may read.
        if self.bind_password.is_some() {
            self.bind_service(ldap).await?;
        }
        let value = if s.group_member_is_name { user } else { dn.as_str() };
        let compared = ldap
            .with_timeout(self.timeout)
            .compare(&s.group_dn, &s.group_member_attribute, value)
            .await
            .map_err(|e| format!("directory group check: {e}"))?;
        match compared.0.rc {
            COMPARE_TRUE => Ok(Verdict::Accepted),
            COMPARE_FALSE | NO_SUCH_ATTRIBUTE => Ok(Verdict::Rejected("not a member of ldap.group_dn")),
            NO_SUCH_OBJECT => Err(format!("ldap.group_dn `{}` does not exist", s.group_dn)),
            rc => Err(format!("directory group check: result code {rc} {}", compared.0.text)),
        }
    }

    /// Whether the entry's `ldap.user_attribute` has `user` exactly (read as the user, who
    /// has just bound).
    async fn spelled_as_directory(&self, ldap: &mut Ldap, dn: &str, user: &str) -> Result<bool, String> {
        let attr = self.section.user_attribute.as_str();
        let found = ldap
            .with_timeout(self.timeout)
            .search(dn, Scope::Base, "(objectClass=*)", vec![attr])
            .await
            .map_err(|e| format!("reading the directory entry: {e}"))?;
        if found.1.rc != SUCCESS {
            return Err(format!("reading the directory entry: result code {} {}", found.1.rc, found.1.text));
        }
        Ok(found.0.into_iter().map(SearchEntry::construct).any(|e| {
            e.attrs.iter().any(|(name, values)| name.eq_ignore_ascii_case(attr) && values.iter().any(|v| v == user))
        }))
    }

    async fn bind_service(&self, ldap: &mut Ldap) -> Result<(), String> {
        let password = self.bind_password.as_ref().map(|p| p.expose().as_str()).unwrap_or("");
        let bound = ldap
            .with_timeout(self.timeout)
            .simple_bind(&self.section.bind_dn, password)
            .await
            .map_err(|e| format!("service account bind: {e}"))?;
        if bound.rc != SUCCESS {
            // A misconfiguration, not the user's fault: fail closed, uncounted.
            return Err(format!("the directory refused the service account ldap.bind_dn (result code {})", bound.rc));
        }
        Ok(())
    }
}
