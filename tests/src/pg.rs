//! A `twofactor-server` whose SQL sessions run on PostgreSQL (`[sql] backend =
//! "postgres"`), on a fresh database of the test cluster (`twofactor-pg-testkit`): the
//! server logs in as the database's login role and runs each ODBC user's session as the
//! PostgreSQL role mapped to that user, so GRANTs decide what a user may do.
//!
//! Everything else is the ordinary harness ([`TestServer`]): the same `init`, users
//! enrolled through the real CLI, the driver loaded through unixODBC. Only the
//! `[sql.postgres]` and `[sql.roles]` keys are added to `server.toml`.

use std::ops::Deref;
use std::path::Path;

use twofactor_pg_testkit::{PgServer, TestDb};

use crate::{ServerOptions, TestServer};

/// The environment variable the server reads the login role's password from when
/// `[sql.postgres] password_file` is not set.
pub const PASSWORD_ENV: &str = "TWOFACTOR_SQL_PG_PASSWORD";

/// How a PostgreSQL-backed server is configured.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    pub server: ServerOptions,
    /// ODBC user names, each mapped in `[sql.roles]` to a fresh PostgreSQL role of its own
    /// (role names are cluster-wide, so the role is named after the test database).
    pub users: Vec<String>,
    /// `[sql.postgres] role_map`: `"same"` (the server's default: a user without an entry
    /// in `[sql.roles]` runs as the role of the same name) or `"table"` (only listed users).
    pub role_map: Option<&'static str>,
    /// The password in `TWOFACTOR_SQL_PG_PASSWORD` instead of `password_file`.
    pub password_from_env: bool,
}

impl PgOptions {
    pub fn users(names: &[&str]) -> PgOptions {
        PgOptions { users: names.iter().map(|n| n.to_string()).collect(), ..PgOptions::default() }
    }
}

/// A running server on PostgreSQL. Derefs to the [`TestServer`] for users, connection
/// strings and the log. Fields drop in order: the server first (its PostgreSQL sessions
/// end), then the database with its roles.
pub struct PgTestServer<'p> {
    pub server: TestServer,
    pub db: TestDb<'p>,
    _secrets: tempfile::TempDir,
}

impl Deref for PgTestServer<'_> {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// `"..."`: a quoted PostgreSQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The shared test cluster, or None when none is configured (the testkit says so on
/// stderr); `PgServer::shared` panics instead under `TWOFACTOR_REQUIRE_PG=1`, so CI never
/// skips.
pub fn cluster() -> Option<&'static PgServer> {
    PgServer::shared()
}

impl PgTestServer<'static> {
    /// A server on a fresh database of the shared cluster; None when there is none.
    pub fn start(users: &[&str]) -> Option<PgTestServer<'static>> {
        Self::start_with(PgOptions::users(users))
    }

    pub fn start_with(options: PgOptions) -> Option<PgTestServer<'static>> {
        Some(PgTestServer::start_on(cluster()?, options))
    }
}

impl<'p> PgTestServer<'p> {
    /// A server on a fresh database of `pg` (a private cluster a test may stop).
    pub fn start_on(pg: &'p PgServer, options: PgOptions) -> PgTestServer<'p> {
        let db = pg.create_database();
        let secrets = tempfile::Builder::new().prefix("twofactor-pg-secrets-").tempdir().expect("tempdir");
        let mut mapping = Vec::new();
        for user in &options.users {
            mapping.push((user.clone(), create_mapped_role(&db, user)));
        }

        let mut server_options = options.server.clone();
        let mut set = |section: &str, key: &str, value: String| {
            server_options.config.push((section.to_owned(), key.to_owned(), value));
        };
        set("sql", "backend", toml_string("postgres"));
        set("sql.postgres", "url", toml_string(&db.url()));
        set("sql.postgres", "ca_file", toml_string(&db.ca_file.display().to_string()));
        if options.password_from_env {
            server_options.env.push((PASSWORD_ENV.to_owned(), db.password.clone()));
        } else {
            let file = db.password_file(secrets.path());
            server_options.config.push((
                "sql.postgres".into(),
                "password_file".into(),
                toml_string(&file.display().to_string()),
            ));
        }
        if let Some(rule) = options.role_map {
            server_options.config.push(("sql.postgres".into(), "role_map".into(), toml_string(rule)));
        }
        for (user, role) in &mapping {
            server_options.config.push(("sql.roles".into(), user.clone(), toml_string(role)));
        }
        let server = TestServer::start_with(server_options);
        PgTestServer { server, db, _secrets: secrets }
    }

    /// The PostgreSQL role that ODBC user `user` runs as.
    pub fn role_of(&self, user: &str) -> String {
        format!("{}_{user}", self.db.name)
    }

    /// A role `<database>_<base>` created now and dropped with the database (for
    /// `role_map = "same"`, where the ODBC user is named as the role); returns its name.
    pub fn create_role(&self, base: &str) -> String {
        create_mapped_role(&self.db, base)
    }

    /// A superuser session on the test database (set-up a user must not be able to do).
    pub fn superuser(&self) -> postgres::Client {
        self.db.superuser_client()
    }

    /// Runs statements as the superuser on the test database.
    pub fn superuser_exec(&self, sql: &str) {
        self.superuser().batch_execute(sql).unwrap_or_else(|e| panic!("superuser `{sql}`: {e}"));
    }

    pub fn scratch(&self) -> &Path {
        self.server.scratch()
    }
}

/// A NOLOGIN role `<database>_<base>` the login role may `SET ROLE` to (the testkit's),
/// allowed to create tables in `public` (PostgreSQL 15 no longer lets every role create
/// there).
fn create_mapped_role(db: &TestDb<'_>, base: &str) -> String {
    let role = db.create_role(base);
    assert!(role.len() <= 63, "PostgreSQL truncates identifiers past 63 bytes: {role}");
    let grant = format!("GRANT USAGE, CREATE ON SCHEMA public TO {}", ident(&role));
    db.superuser_client().batch_execute(&grant).unwrap_or_else(|e| panic!("{grant}: {e}"));
    role
}

/// `VmHWM` (peak resident set) and `VmRSS` of a process, KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}
