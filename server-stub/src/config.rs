//! `server.toml`: every key has a default, unknown keys are refused, and every error names
//! the key so an admin can fix the file without reading code.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::totp::Algorithm;

mod enrol_web;
mod hook;
mod ldap;
mod service_accounts;
mod sql_postgres;
mod tickets;
pub use enrol_web::{EnrolWebSection, MAX_LINK_TTL_SECS as MAX_ENROL_LINK_TTL_SECS};
pub use hook::HookSection;
pub use ldap::{
    FirstFactorOrder, LdapSection, BIND_PASSWORD as LDAP_BIND_PASSWORD, BIND_PASSWORD_ENV as LDAP_BIND_PASSWORD_ENV,
};
pub use service_accounts::ServiceAccountsSection;
pub use sql_postgres::{
    RoleMap, RollbackOnError, SqlBackend, SqlPostgresSection, PASSWORD as SQL_PG_PASSWORD, PASSWORD_ENV,
};
pub use tickets::TicketsSection;

pub const CONFIG_FILE: &str = "server.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: {message}")]
    Invalid { path: PathBuf, key: &'static str, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: String,
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub tls_handshake_timeout_secs: u64,
    pub login_timeout_secs: u64,
    pub max_connections: usize,
    /// A logged-in session with no request for this long is closed; 0: never.
    pub idle_timeout_secs: u64,
    /// The same while a transaction or cursor is open (it pins SQLite's WAL); 0: never.
    pub idle_in_transaction_timeout_secs: u64,
    /// A client that takes no bytes of a reply for this long is closed.
    pub write_timeout_secs: u64,
    /// A frame whose first byte has arrived must be complete within this.
    pub frame_timeout_secs: u64,
    /// Memory for frames still arriving, shared by all connections, in MiB.
    pub frame_memory_mib: u32,
    /// Where the readiness check (HTTP/1.0 `GET /ready`, `GET /live`) listens for a load
    /// balancer's probes; empty: off.
    pub health_listen: String,
    /// After SIGTERM or SIGINT: seconds during which readiness already fails but the
    /// listener still accepts, so balancers take the instance out before it refuses.
    pub drain_grace_secs: u64,
    /// After SIGTERM or SIGINT: seconds (counted from the signal) that sessions get to
    /// finish their request or transaction before they are closed and rolled back.
    pub drain_timeout_secs: u64,
    /// Balancers whose connections start with a PROXY protocol v2 header naming the
    /// client's address (HAProxy's `send-proxy-v2`); IP addresses. Empty: none.
    pub proxy_protocol_from: Vec<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:7443".into(),
            name: "TwoFactor".into(),
            cert: "server.pem".into(),
            key: "server.key".into(),
            tls_handshake_timeout_secs: 10,
            login_timeout_secs: 30,
            max_connections: 20000,
            idle_timeout_secs: 8 * 3600,
            idle_in_transaction_timeout_secs: 600,
            write_timeout_secs: 60,
            frame_timeout_secs: 120,
            frame_memory_mib: 512,
            health_listen: String::new(),
            drain_grace_secs: 0,
            drain_timeout_secs: 30,
            proxy_protocol_from: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    pub two_factor: bool,
    pub two_factor_timeout_secs: u64,
    pub max_failed_attempts: u32,
    pub lockout_secs: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password checks at once, each on its own thread holding `argon2_memory_kib` of
    /// memory. Default: [`default_hash_workers`].
    pub hash_workers: usize,
    /// Wrong passwords in a row that lock the password (first factor); its own counter.
    pub max_failed_passwords: u32,
    pub password_lockout_secs: u64,
    /// Delay before a failure reply: 0 for the first failure in a row, then
    /// `backoff_base_ms`, doubling per failure, at most `backoff_max_ms`. 0 switches it off.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Failed logins (either factor) from one IP address within `address_window_secs` that
    /// block that address for `address_block_secs`. Counted in the user store (shared by
    /// the instances that share it), attempts in flight included.
    pub address_max_failures: u32,
    pub address_window_secs: u64,
    pub address_block_secs: u64,
    /// Connections from one address (IPv6: one /64) not logged in yet, per instance.
    pub address_max_pending_logins: usize,
    /// Which mechanisms check the password, in order (docs/ldap.md): `"local"` (the
    /// default), `"ldap"`, or a cascade such as `["ldap", "local"]`. A user's own setting
    /// (`user first-factor`) replaces the list for that user.
    pub first_factor: FirstFactorOrder,
}

/// One password thread fewer than the CPUs (at least one), so a burst of logins leaves a
/// core to the sessions already logged in.
pub fn default_hash_workers() -> usize {
    cores_but_one()
}

/// The CPUs less one, at least one: how much of the machine login work (password hashes,
/// TLS handshakes) may take at once, leaving a core to the sessions already logged in.
pub fn cores_but_one() -> usize {
    std::thread::available_parallelism().map(|n| n.get().saturating_sub(1)).unwrap_or(1).max(1)
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            two_factor: true,
            two_factor_timeout_secs: 120,
            max_failed_attempts: 5,
            lockout_secs: 900,
            // OWASP's minimum for Argon2id.
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_workers: default_hash_workers(),
            max_failed_passwords: 10,
            password_lockout_secs: 900,
            backoff_base_ms: 100,
            backoff_max_ms: 3000,
            address_max_failures: 50,
            address_window_secs: 600,
            address_block_secs: 600,
            address_max_pending_logins: 64,
            first_factor: FirstFactorOrder::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotpSection {
    pub issuer: String,
    pub digits: u32,
    pub algorithm: String,
    pub period_secs: u64,
    pub skew_steps: u32,
    /// Bound of the learned clock drift, in steps either side.
    pub max_drift_steps: u32,
    /// Accepted codes in a row at the same non-zero offset that move the window there;
    /// 0 switches drift learning off.
    pub drift_learn_accepts: u32,
}

impl Default for TotpSection {
    fn default() -> Self {
        TotpSection {
            issuer: "TwoFactor".into(),
            digits: 6,
            algorithm: "SHA1".into(),
            period_secs: 30,
            skew_steps: 1,
            max_drift_steps: 2,
            drift_learn_accepts: 2,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlSection {
    /// `sqlite` (the embedded database, the default) or `postgres` (`[sql.postgres]`).
    pub backend: SqlBackend,
    pub database: PathBuf,
    pub fetch_rows: u32,
    /// Longest SQL text SQLite accepts (`SQLITE_LIMIT_SQL_LENGTH`), in bytes.
    pub max_statement_bytes: u32,
    /// Largest string, BLOB or row (`SQLITE_LIMIT_LENGTH`), in bytes.
    pub max_value_bytes: u32,
    /// MiB of the database file SQLite reads through a memory map (`PRAGMA mmap_size`);
    /// 0 reads every page with `pread`.
    pub mmap_mib: u32,
    pub postgres: Option<SqlPostgresSection>,
    /// ODBC user -> PostgreSQL role, winning over `role_map = "same"`.
    pub roles: std::collections::BTreeMap<String, String>,
}

impl Default for SqlSection {
    fn default() -> Self {
        SqlSection {
            database: "data.db".into(),
            fetch_rows: 1024,
            max_statement_bytes: 1 << 20,
            max_value_bytes: 16 << 20,
            mmap_mib: 256,
            backend: SqlBackend::Sqlite,
            postgres: None,
            roles: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    pub file: PathBuf,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection { file: "audit.log".into() }
    }
}

/// Server-wide switches per second-factor method.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MethodsSection {
    pub totp: bool,
    pub sms: bool,
    pub email: bool,
}

impl Default for MethodsSection {
    fn default() -> Self {
        MethodsSection { totp: true, sms: true, email: true }
    }
}

/// One-time codes sent by SMS or e-mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodesSection {
    pub digits: u32,
    /// Wrong submissions a code survives; then it is void.
    pub max_tries: u32,
    /// Codes sent to one user per rolling hour.
    pub max_sends_per_hour: u32,
    /// 0: the two-factor timeout. Never more than 600 (NIST SP 800-63B).
    pub lifetime_secs: u64,
}

impl Default for CodesSection {
    fn default() -> Self {
        CodesSection { digits: 6, max_tries: 3, max_sends_per_hour: 5, lifetime_secs: 0 }
    }
}

/// The SMTP relay that carries e-mail codes and SMS through carrier gateways.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSection {
    pub host: String,
    /// 0: 25 for `none`, 587 for `starttls`, 465 for `tls`.
    pub port: u16,
    /// `starttls`, `tls` (implicit TLS) or `none` (plain; loopback relays only).
    pub security: String,
    pub username: String,
    pub password: String,
    /// Extra root CA (PEM) to trust for the relay, besides the public roots.
    pub ca_file: PathBuf,
    pub from: String,
    pub subject: String,
    /// Connect-and-send limit; the login deadline cuts it shorter when it comes first.
    pub timeout_secs: u64,
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection {
            host: "localhost".into(),
            port: 0,
            security: "starttls".into(),
            username: String::new(),
            password: String::new(),
            ca_file: PathBuf::new(),
            from: "TwoFactor <twofactor@localhost>".into(),
            subject: "Your TwoFactor code".into(),
            timeout_secs: 10,
        }
    }
}

/// How SMS codes leave: through a carrier's e-mail gateway, or an HTTP provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSection {
    /// `gateway` (e-mail to `<number>@<carrier gateway>` over SMTP) or `http`.
    pub provider: String,
    pub url: String,
    /// `{to}` becomes the E.164 number, `{code}` the code.
    pub body: String,
    pub content_type: String,
    /// Sent as `Authorization: Bearer ...` when not empty.
    pub bearer_token: String,
    pub timeout_secs: u64,
}

impl Default for SmsSection {
    fn default() -> Self {
        SmsSection {
            provider: "gateway".into(),
            url: String::new(),
            body: r#"{"to":"{to}","text":"Your TwoFactor code is {code}"}"#.into(),
            content_type: "application/json".into(),
            bearer_token: String::new(),
            timeout_secs: 10,
        }
    }
}

/// The user store: SQLite's `users.db` in the data directory unless `url` names a
/// PostgreSQL database (shared by every instance configured with it). See
/// docs/postgres-store.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `postgres://USER@HOST:PORT/DB?sslmode=require`; never with a password.
    pub url: Option<String>,
    /// PEM CA file PostgreSQL's certificate is verified against; unset: the public roots.
    pub ca_file: Option<PathBuf>,
    /// The password's file (mode 0600); unset: `TWOFACTOR_STORE_PG_PASSWORD`, if set.
    pub password_file: Option<PathBuf>,
    pub pool_size: u32,
    /// Bounds connecting, waiting for a pooled connection, and each statement.
    pub connect_timeout_secs: u64,
    /// Allows `sslmode=disable` in `url` (a trusted link only).
    pub insecure_no_tls: bool,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            url: None,
            ca_file: None,
            password_file: None,
            pool_size: 16,
            connect_timeout_secs: 5,
            insecure_no_tls: false,
        }
    }
}

/// The whole configuration. Relative paths are relative to `data_dir`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    #[serde(skip)]
    pub data_dir: PathBuf,
    pub server: ServerSection,
    pub auth: AuthSection,
    pub totp: TotpSection,
    pub sql: SqlSection,
    pub audit: AuditSection,
    pub methods: MethodsSection,
    pub codes: CodesSection,
    pub smtp: SmtpSection,
    pub sms: SmsSection,
    pub store: StoreSection,
    pub tickets: TicketsSection,
    pub service_accounts: ServiceAccountsSection,
    pub enrol_web: EnrolWebSection,
    pub hook: HookSection,
    pub ldap: LdapSection,
}

impl Config {
    /// Defaults, rooted at `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config { data_dir: data_dir.into(), ..Config::default() }
    }

    /// Reads `DIR/server.toml`.
    pub fn load(data_dir: &Path) -> Result<Config, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        Self::parse(data_dir, &path, &text)
    }

    pub fn parse(data_dir: &Path, path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        config.data_dir = data_dir.to_owned();
        config.validate(path)?;
        Ok(config)
    }

    /// Checks the values serde cannot: ranges and formats.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad =
            |key: &'static str, message: String| Err(ConfigError::Invalid { path: path.to_owned(), key, message });
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return bad("server.listen", format!("`{}` is not an address like 127.0.0.1:7443", self.server.listen));
        }
        if self.server.tls_handshake_timeout_secs == 0 {
            return bad("server.tls_handshake_timeout_secs", "must be at least 1".into());
        }
        if self.server.login_timeout_secs == 0 {
            return bad("server.login_timeout_secs", "must be at least 1".into());
        }
        if self.server.max_connections == 0 {
            return bad("server.max_connections", "must be at least 1".into());
        }
        if self.server.write_timeout_secs == 0 {
            return bad("server.write_timeout_secs", "must be at least 1".into());
        }
        if self.server.frame_timeout_secs == 0 {
            return bad("server.frame_timeout_secs", "must be at least 1".into());
        }
        if self.server.frame_memory_mib == 0 {
            return bad("server.frame_memory_mib", "must be at least 1".into());
        }
        if !self.server.health_listen.is_empty() && self.server.health_listen.parse::<SocketAddr>().is_err() {
            let message = format!("`{}` is not an address like 127.0.0.1:8081 (empty: off)", self.server.health_listen);
            return bad("server.health_listen", message);
        }
        if self.server.drain_timeout_secs > 86_400 {
            return bad("server.drain_timeout_secs", "must be at most 86400".into());
        }
        if let Some(bad_ip) = self.server.proxy_protocol_from.iter().find(|a| a.parse::<IpAddr>().is_err()) {
            return bad("server.proxy_protocol_from", format!("`{bad_ip}` is not an IP address like 10.0.0.5"));
        }
        if self.server.drain_grace_secs > self.server.drain_timeout_secs {
            return bad("server.drain_grace_secs", "must be at most server.drain_timeout_secs".into());
        }
        if self.sql.max_statement_bytes < 1024 || self.sql.max_value_bytes < 1024 {
            let key =
                if self.sql.max_statement_bytes < 1024 { "sql.max_statement_bytes" } else { "sql.max_value_bytes" };
            return bad(key, "must be at least 1024".into());
        }
        if self.auth.two_factor_timeout_secs == 0 {
            return bad("auth.two_factor_timeout_secs", "must be at least 1".into());
        }
        if self.auth.max_failed_attempts == 0 {
            return bad("auth.max_failed_attempts", "must be at least 1".into());
        }
        if self.auth.hash_workers == 0 {
            return bad("auth.hash_workers", "must be at least 1".into());
        }
        if argon2::Params::new(
            self.auth.argon2_memory_kib,
            self.auth.argon2_iterations,
            self.auth.argon2_parallelism,
            None,
        )
        .is_err()
        {
            return bad(
                "auth.argon2_memory_kib",
                "argon2_memory_kib, argon2_iterations and argon2_parallelism are out of Argon2's range \
                 (memory at least 8 x parallelism KiB, iterations and parallelism at least 1)"
                    .into(),
            );
        }
        if self.totp.digits != 6 && self.totp.digits != 8 {
            return bad("totp.digits", format!("must be 6 or 8, not {}", self.totp.digits));
        }
        if self.totp.algorithm.parse::<Algorithm>().is_err() {
            return bad("totp.algorithm", format!("must be SHA1, SHA256 or SHA512, not `{}`", self.totp.algorithm));
        }
        if self.totp.period_secs == 0 || self.totp.period_secs > 300 {
            return bad("totp.period_secs", "must be between 1 and 300".into());
        }
        if self.totp.skew_steps > 10 {
            return bad("totp.skew_steps", "must be at most 10".into());
        }
        if self.totp.issuer.is_empty() || self.totp.issuer.contains(':') {
            return bad("totp.issuer", "must be non-empty and contain no `:`".into());
        }
        if self.sql.fetch_rows == 0 {
            return bad("sql.fetch_rows", "must be at least 1".into());
        }
        if self.sql.backend == SqlBackend::Postgres {
            let Some(pg) = &self.sql.postgres else {
                return bad("sql.postgres", "is required when sql.backend = \"postgres\"".into());
            };
            if let Err((key, message)) = pg.validate() {
                return bad(key, message);
            }
        }
        if self.auth.max_failed_passwords == 0 {
            return bad("auth.max_failed_passwords", "must be at least 1".into());
        }
        if self.auth.max_failed_attempts > 100 || self.auth.max_failed_passwords > 100 {
            return bad(
                if self.auth.max_failed_attempts > 100 {
                    "auth.max_failed_attempts"
                } else {
                    "auth.max_failed_passwords"
                },
                "must be at most 100 (NIST SP 800-63B)".into(),
            );
        }
        if self.auth.backoff_max_ms > 30_000 {
            return bad("auth.backoff_max_ms", "must be at most 30000".into());
        }
        if self.auth.address_max_failures == 0 {
            return bad("auth.address_max_failures", "must be at least 1".into());
        }
        if self.auth.address_max_pending_logins == 0 {
            return bad("auth.address_max_pending_logins", "must be at least 1".into());
        }
        if self.totp.max_drift_steps > 10 {
            return bad("totp.max_drift_steps", "must be at most 10".into());
        }
        if !(4..=10).contains(&self.codes.digits) {
            return bad("codes.digits", "must be between 4 and 10".into());
        }
        if self.codes.max_tries == 0 {
            return bad("codes.max_tries", "must be at least 1".into());
        }
        if self.codes.max_sends_per_hour == 0 {
            return bad("codes.max_sends_per_hour", "must be at least 1".into());
        }
        if self.codes.lifetime_secs > 600 {
            return bad(
                "codes.lifetime_secs",
                "must be at most 600 (NIST SP 800-63B: out-of-band codes live at most 10 minutes)".into(),
            );
        }
        if !["starttls", "tls", "none"].contains(&self.smtp.security.as_str()) {
            return bad("smtp.security", format!("must be starttls, tls or none, not `{}`", self.smtp.security));
        }
        if self.smtp.host.is_empty() {
            return bad("smtp.host", "must not be empty".into());
        }
        if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad(
                "smtp.from",
                format!("`{}` is not an address like `TwoFactor <2fa@example.com>`", self.smtp.from),
            );
        }
        if self.smtp.timeout_secs == 0 {
            return bad("smtp.timeout_secs", "must be at least 1".into());
        }
        if self.smtp.username.is_empty() != self.smtp.password.is_empty() {
            return bad("smtp.username", "smtp.username and smtp.password go together".into());
        }
        match self.sms.provider.as_str() {
            "gateway" => {}
            "http" => {
                if !(self.sms.url.starts_with("https://") || self.sms.url.starts_with("http://")) {
                    return bad("sms.url", "must be an http:// or https:// URL when sms.provider = \"http\"".into());
                }
                if !self.sms.body.contains("{code}") {
                    return bad("sms.body", "must contain {code}".into());
                }
            }
            other => return bad("sms.provider", format!("must be gateway or http, not `{other}`")),
        }
        if self.sms.timeout_secs == 0 {
            return bad("sms.timeout_secs", "must be at least 1".into());
        }
        if let Some(url) = &self.store.url {
            crate::store::postgres::settings::check_url(url, self.store.insecure_no_tls)
                .or_else(|m| bad("store.url", m))?;
        }
        if self.store.pool_size == 0 || self.store.pool_size > 1000 {
            return bad("store.pool_size", "must be between 1 and 1000".into());
        }
        if self.store.connect_timeout_secs == 0 || self.store.connect_timeout_secs > 300 {
            return bad("store.connect_timeout_secs", "must be between 1 and 300".into());
        }
        if let Err((key, message)) = self.tickets.validate() {
            return bad(key, message);
        }
        if let Err((key, message)) = self.enrol_web.validate() {
            return bad(key, message);
        }
        if let Err((key, message)) = self.hook.validate(self.server.login_timeout_secs) {
            return bad(key, message);
        }
        if let Err(message) = self.auth.first_factor.validate() {
            return bad("auth.first_factor", message);
        }
        // A user's own `ldap` setting needs the directory as much as the server's list does,
        // but is only known at login: such a login fails closed (docs/ldap.md).
        let uses_ldap = self.auth.first_factor.mechanisms().contains(&crate::first_factor::Mechanism::Ldap);
        if let Err((key, message)) = self.ldap.validate(uses_ldap, self.server.login_timeout_secs) {
            return bad(key, message);
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> SocketAddr {
        // validate() checked it; the fallback only serves a Config built by hand.
        self.server.listen.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 7443)))
    }

    /// The balancers trusted to send a PROXY header (`server.proxy_protocol_from`).
    pub fn proxy_protocol_from(&self) -> Vec<IpAddr> {
        // validate() checked them; a Config built by hand with a bad one trusts nobody.
        self.server
            .proxy_protocol_from
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical())
            .collect()
    }

    /// The readiness check's address, when `server.health_listen` is set.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.server.health_listen.parse().ok()
    }

    pub fn path(&self, p: &Path) -> PathBuf {
        self.data_dir.join(p)
    }

    /// How long an SMS or e-mail code stays valid: the two-factor timeout unless set, and
    /// never more than ten minutes.
    pub fn code_lifetime_secs(&self) -> u64 {
        let l =
            if self.codes.lifetime_secs == 0 { self.auth.two_factor_timeout_secs } else { self.codes.lifetime_secs };
        l.min(600)
    }

    pub fn smtp_port(&self) -> u16 {
        match (self.smtp.port, self.smtp.security.as_str()) {
            (0, "tls") => 465,
            (0, "none") => 25,
            (0, _) => 587,
            (p, _) => p,
        }
    }

    pub fn totp_algorithm(&self) -> Algorithm {
        self.totp.algorithm.parse().unwrap_or(Algorithm::Sha1)
    }
}

/// The file `init` writes: every key with its default, so the admin sees what can be set.
pub fn default_file(listen: &str) -> String {
    format!(
        r#"# TwoFactor server configuration. Paths are relative to this directory.

[server]
listen = "{listen}"
name = "TwoFactor"
cert = "server.pem"
key = "server.key"
tls_handshake_timeout_secs = 10
login_timeout_secs = 30
max_connections = 20000
# A logged-in session with no request is closed after idle_timeout_secs, or after the
# shorter idle_in_transaction_timeout_secs while it keeps a transaction or cursor open
# (which holds back SQLite's WAL checkpoints); 0: never.
idle_timeout_secs = 28800
idle_in_transaction_timeout_secs = 600
# A client that reads nothing of a reply, or sends a frame this slowly, is closed.
write_timeout_secs = 60
frame_timeout_secs = 120
# Memory for frames still arriving, shared by all connections.
frame_memory_mib = 512
# Readiness check for a load balancer: HTTP/1.0 GET /ready answers 200, or 503 with the
# reason (user store unreachable, draining); GET /live answers 200 while the process runs.
# Empty: off. Example: health_listen = "127.0.0.1:8081"
health_listen = ""
# SIGTERM/SIGINT drain: readiness fails at once; after drain_grace_secs the listener
# closes and idle sessions end; sessions inside a request or transaction get until
# drain_timeout_secs (from the signal), then they are closed and rolled back.
drain_grace_secs = 0
drain_timeout_secs = 30
# Balancers (IP addresses) whose connections begin with a PROXY protocol v2 header naming
# the client (HAProxy: send-proxy-v2), so throttles and the audit see the client, not the
# balancer. Connections from these addresses must send it; others must not.
proxy_protocol_from = []

[auth]
# Server-wide switch; `twofactor-server two-factor on|off` overrides it in the user store.
two_factor = true
two_factor_timeout_secs = 120
max_failed_attempts = 5
lockout_secs = 900
# Argon2id cost (OWASP minimum).
argon2_memory_kib = 19456
argon2_iterations = 2
argon2_parallelism = 1
# Password checks at once, each a thread that keeps argon2_memory_kib of memory.
# Default (unset): the number of CPUs minus one, at least 1.
# hash_workers = 1
# Wrong passwords have their own counter and lock (a password guesser cannot lock the
# second factor, nor the reverse).
max_failed_passwords = 10
password_lockout_secs = 900
# Failure replies are delayed: 0, then base, doubling per failure in a row, capped.
backoff_base_ms = 100
backoff_max_ms = 3000
# Failed logins from one IP address that block it for a while (attempts in flight count).
address_max_failures = 50
address_window_secs = 600
address_block_secs = 600
# Connections from one IP address (IPv6: one /64) that have not logged in yet.
address_max_pending_logins = 64

[methods]
# Server-wide switches per second-factor method.
totp = true
sms = true
email = true

[codes]
# SMS and e-mail codes.
digits = 6
max_tries = 3
max_sends_per_hour = 5
# 0: the two-factor timeout; at most 600.
lifetime_secs = 0

[smtp]
host = "localhost"
# 0: 587 for starttls, 465 for tls, 25 for none.
port = 0
security = "starttls"
username = ""
password = ""
ca_file = ""
from = "TwoFactor <twofactor@localhost>"
subject = "Your TwoFactor code"
timeout_secs = 10

[sms]
# gateway: e-mail to <number>@<carrier gateway> through [smtp]; http: POST to url.
provider = "gateway"
url = ""
body = '{{"to":"{{to}}","text":"Your TwoFactor code is {{code}}"}}'
content_type = "application/json"
bearer_token = ""
timeout_secs = 10

[totp]
issuer = "TwoFactor"
digits = 6
algorithm = "SHA1"
period_secs = 30
skew_steps = 1
# Learned clock drift: bound in steps, and accepts in a row at one offset to learn it.
max_drift_steps = 2
drift_learn_accepts = 2

[sql]
database = "data.db"
fetch_rows = 1024
# SQLite's limits: longest SQL text, largest string/BLOB/row (bytes).
max_statement_bytes = 1048576
max_value_bytes = 16777216
# MiB of the database file read through a memory map (faster scans); 0: pread only.
mmap_mib = 256

[audit]
file = "audit.log"

# The user store: SQLite (users.db here) unless url names PostgreSQL, shared by every
# instance configured with it. See docs/postgres-store.md.
[store]
# url = "postgres://twofactor@db1:5432/twofactor?sslmode=require"
# ca_file = "pg-ca.crt"
# password_file = "pg-store-password"
pool_size = 16
connect_timeout_secs = 5

# Two-factor tickets: a device that proved a code logs in with its password alone for a
# while (proof of possession of a key it made). Per user: `user tickets NAME allow|deny|
# default`. See docs/tickets.md.
[tickets]
enabled = false
# Hard end from the issue (at most 7 days), and the idle limit (at most the lifetime).
max_lifetime_secs = 28800
idle_secs = 3600
# Usable tickets per user; one more revokes the oldest.
max_per_user = 20

# Service accounts (docs/service-accounts.md): client certificates are verified against
# client-ca.pem here (made when first needed) and these CA files; each account also pins
# its own certificate's SHA-256.
[service_accounts]
trusted_client_ca_files = []

# The enrolment web page one-time links open (`enrol-link NAME`), HTTPS with the server's
# certificate; off by default. See docs/enrolment-links.md.
[enrol_web]
enabled = false
listen = "127.0.0.1:8443"
# What links start with; a name in the server certificate. Empty: https://localhost:PORT.
public_url = ""
default_ttl_secs = 86400

# The delegated second factor (docs/delegated-second-factor.md): your program or HTTPS
# endpoint answers for users whose method is DELEGATED (`user method NAME delegated`).
# [hook]
# program = ["/usr/local/lib/twofactor/hotp_hook.py", "/var/lib/twofactor-hotp/tokens.json"]
# url = "https://mfa.example.org/twofactor"
# timeout_secs = 5
# replay_window_secs = 600
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/d"), Path::new("/d/server.toml"), text)
    }

    #[test]
    fn the_postgres_sql_keys_parse_and_a_password_in_the_url_is_refused() {
        let text = r#"
[sql]
backend = "postgres"
[sql.postgres]
url = "postgres://twofactor_login@127.0.0.1:5432/app?sslmode=require"
ca_file = "pg-ca.crt"
password_file = "pg-sql-password"
role_map = "table"
connect_timeout_secs = 7
[sql.roles]
alice = "app_reader"
"#;
        let c = parse(text).unwrap();
        assert_eq!(c.sql.backend, SqlBackend::Postgres);
        let pg = c.sql.postgres.as_ref().unwrap();
        assert_eq!((pg.role_map, pg.connect_timeout_secs), (RoleMap::Table, 7));
        assert_eq!(pg.password_file.as_deref(), Some(Path::new("pg-sql-password")));
        assert_eq!(c.sql.roles["alice"], "app_reader");
        assert_eq!(parse("").unwrap().sql.backend, SqlBackend::Sqlite);
        let err = parse(&text.replace("twofactor_login@", "twofactor_login:hunter2@")).unwrap_err().to_string();
        assert!(err.contains("sql.postgres.url") && !err.contains("hunter2"), "{err}");
        assert!(parse("[sql]\nbackend = \"postgres\"\n").unwrap_err().to_string().contains("sql.postgres"));
    }

    #[test]
    fn the_default_file_parses_to_the_defaults() {
        let c = parse(&default_file("127.0.0.1:7443")).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:7443");
        assert_eq!(c.auth.max_failed_attempts, 5);
        assert_eq!(c.totp.digits, 6);
        assert_eq!(c.sql.fetch_rows, 1024);
        assert_eq!(c.auth.hash_workers, default_hash_workers());
    }

    #[test]
    fn hash_workers_default_to_one_less_than_the_cpus() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(AuthSection::default().hash_workers, (cpus - 1).max(1));
        assert_eq!(parse("[auth]\nhash_workers = 3\n").unwrap().auth.hash_workers, 3);
    }

    #[test]
    fn an_empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.auth.lockout_secs, 900);
        assert!(c.auth.two_factor);
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let e = parse("[auth]\nmax_failed_attempt = 3\n").unwrap_err().to_string();
        assert!(e.contains("max_failed_attempt"), "{e}");
    }

    #[test]
    fn a_wrongly_typed_value_names_its_key() {
        let e = parse("[server]\nlogin_timeout_secs = \"ten\"\n").unwrap_err().to_string();
        assert!(e.contains("login_timeout_secs"), "{e}");
    }

    #[test]
    fn the_session_limits_default_to_what_a_deployment_uses_and_zero_timeouts_are_refused() {
        let c = parse("").unwrap();
        assert_eq!((c.server.idle_timeout_secs, c.server.idle_in_transaction_timeout_secs), (28_800, 600));
        assert_eq!((c.sql.max_statement_bytes, c.sql.max_value_bytes), (1 << 20, 16 << 20));
        for key in ["write_timeout_secs", "frame_timeout_secs", "frame_memory_mib"] {
            let e = parse(&format!("[server]\n{key} = 0\n")).unwrap_err().to_string();
            assert!(e.contains(&format!("server.{key}")), "{e}");
        }
        assert!(parse("[server]\nidle_timeout_secs = 0\nidle_in_transaction_timeout_secs = 0\n").is_ok());
    }

    #[test]
    fn the_readiness_check_is_off_by_default_and_drain_keys_are_checked() {
        let c = parse("").unwrap();
        assert_eq!((c.health_addr(), c.server.drain_grace_secs, c.server.drain_timeout_secs), (None, 0, 30));
        let c = parse("[server]\nhealth_listen = \"127.0.0.1:8081\"\n").unwrap();
        assert_eq!(c.health_addr(), Some(SocketAddr::from(([127, 0, 0, 1], 8081))));
        let e = parse("[server]\nhealth_listen = \"8081\"\n").unwrap_err().to_string();
        assert!(e.contains("server.health_listen"), "{e}");
        let e = parse("[server]\ndrain_grace_secs = 40\n").unwrap_err().to_string();
        assert!(e.contains("server.drain_grace_secs"), "{e}");
        assert!(parse("[server]\ndrain_grace_secs = 0\ndrain_timeout_secs = 0\n").is_ok());
        let c = parse("[server]\nproxy_protocol_from = [\"10.0.0.5\", \"::ffff:10.0.0.6\"]\n").unwrap();
        assert_eq!(c.proxy_protocol_from(), ["10.0.0.5".parse::<IpAddr>().unwrap(), "10.0.0.6".parse().unwrap()]);
        let e = parse("[server]\nproxy_protocol_from = [\"10.0.0.0/8\"]\n").unwrap_err().to_string();
        assert!(e.contains("server.proxy_protocol_from"), "{e}");
    }

    #[test]
    fn the_store_section_defaults_to_sqlite_and_refuses_a_password_or_plain_text() {
        let c = parse("").unwrap();
        assert!(c.store.url.is_none());
        assert_eq!((c.store.pool_size, c.store.connect_timeout_secs), (16, 5));
        let e = parse("[store]\nurl = \"postgres://tf:hunter2@db1/tf\"\n").unwrap_err().to_string();
        assert!(e.contains("store.url") && !e.contains("hunter2"), "{e}");
        let e = parse("[store]\nurl = \"postgres://tf@db1/tf?sslmode=disable\"\n").unwrap_err().to_string();
        assert!(e.contains("insecure_no_tls"), "{e}");
        let ok = "[store]\nurl = \"postgres://tf@db1/tf?sslmode=disable\"\ninsecure_no_tls = true\n";
        assert!(parse(ok).is_ok());
        let e = parse("[store]\npool_size = 0\n").unwrap_err().to_string();
        assert!(e.contains("store.pool_size"), "{e}");
    }

    #[test]
    fn an_invalid_value_names_its_key() {
        let e = parse("[totp]\ndigits = 7\n").unwrap_err().to_string();
        assert!(e.contains("totp.digits"), "{e}");
        let e = parse("[totp]\nalgorithm = \"MD5\"\n").unwrap_err().to_string();
        assert!(e.contains("totp.algorithm"), "{e}");
        let e = parse("[server]\nlisten = \"nowhere\"\n").unwrap_err().to_string();
        assert!(e.contains("server.listen"), "{e}");
    }
}
