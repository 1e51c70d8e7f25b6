//! A small pool of directory connections: at most `pool_size` open at once (a login that
//! finds them all busy waits up to the operation timeout, then fails closed), idle ones
//! kept for `pool_idle_secs`, each opened within `connect_timeout_ms` (TCP, TLS and
//! StartTLS together). A connection that saw an error is dropped, never given back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

pub(super) struct Pool {
    url: String,
    /// None: plain LDAP (`insecure_no_tls`).
    tls: Option<Arc<rustls::ClientConfig>>,
    starttls: bool,
    connect_timeout: Duration,
    wait: Duration,
    idle_for: Duration,
    idle: Mutex<Vec<(Ldap, Instant)>>,
    permits: Semaphore,
}

/// One connection, lent to one login.
pub(super) struct Lease<'a> {
    ldap: Ldap,
    /// Taken from the idle list (it may have gone stale since), not opened now.
    pub reused: bool,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Pool {
    pub fn new(
        url: String,
        tls: Option<Arc<rustls::ClientConfig>>,
        starttls: bool,
        size: usize,
        connect_timeout: Duration,
        wait: Duration,
        idle_for: Duration,
    ) -> Self {
        Pool {
            url,
            tls,
            starttls,
            connect_timeout,
            wait,
            idle_for,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size),
        }
    }

    /// An idle connection that is still open, or a new one. `fresh`: never an idle one.
    pub async fn get(&self, fresh: bool) -> Result<Lease<'_>, String> {
        let permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| "every directory connection is busy (ldap.pool_size)".to_string())?
            .map_err(|_| "the directory pool is closed".to_string())?;
        if !fresh {
            while let Some((mut ldap, since)) = self.take_idle() {
                if since.elapsed() < self.idle_for && !ldap.is_closed() {
                    return Ok(Lease { ldap, reused: true, pool: self, _permit: permit });
                }
            }
        }
        let ldap = self.connect().await?;
        Ok(Lease { ldap, reused: false, pool: self, _permit: permit })
    }

    fn take_idle(&self) -> Option<(Ldap, Instant)> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    async fn connect(&self) -> Result<Ldap, String> {
        let mut settings = LdapConnSettings::new().set_conn_timeout(self.connect_timeout).set_starttls(self.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let connecting = LdapConnAsync::with_settings(settings, &self.url);
        let (conn, ldap) = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(format!("cannot reach the directory at {}: {e}", self.url)),
            Err(_) => {
                return Err(format!("the directory at {} did not answer within ldap.connect_timeout_ms", self.url))
            }
        };
        ldap3::drive!(conn);
        Ok(ldap)
    }
}

impl Lease<'_> {
    pub fn ldap(&mut self) -> &mut Ldap {
        &mut self.ldap
    }

    /// Gives the connection back for the next login (its last operation went through).
    pub fn keep(self) {
        let Lease { ldap, pool, .. } = self;
        pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push((ldap, Instant::now()));
    }
}
