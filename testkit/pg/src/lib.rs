//! PostgreSQL for tests: the cluster `scripts/test.sh` starts (shared by every test
//! process), or a private one for tests that stop and start PostgreSQL, and a fresh
//! database with its own login role per test, so tests running in parallel never see each
//! other's rows or roles.
//!
//! Every connection is TLS, verified against the cluster's test CA: the tests exercise the
//! same path production uses.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use once_cell::sync::OnceCell;
use postgres::config::SslMode;
use postgres::{Client, Config};
use rand::Rng;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Set by `scripts/test.sh`: a missing PostgreSQL is then a failure, not a skip.
const REQUIRE: &str = "TWOFACTOR_REQUIRE_PG";
const SHARED_DIR: &str = "TWOFACTOR_TEST_PG_DIR";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-cluster.sh")
}

fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

fn unavailable(why: &str) {
    if required() {
        panic!("PostgreSQL is required ({REQUIRE}=1) but {why}");
    }
    eprintln!(
        "skipped: no PostgreSQL for this test ({why}); `. DIR/env` after `scripts/pg-cluster.sh start DIR` runs it"
    );
}

/// A running cluster.
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    ca_file: PathBuf,
    superuser_password: String,
    /// Private clusters are destroyed on drop; the shared one belongs to test.sh.
    owned: Option<tempfile::TempDir>,
}

static SHARED: OnceCell<Option<PgServer>> = OnceCell::new();

impl PgServer {
    /// The cluster named by `TWOFACTOR_TEST_PG_DIR`. None when unset (the caller returns
    /// early), except under `TWOFACTOR_REQUIRE_PG=1`, where it panics.
    pub fn shared() -> Option<&'static PgServer> {
        let server = SHARED.get_or_init(|| {
            let dir = std::env::var_os(SHARED_DIR)?;
            Some(PgServer::from_dir(Path::new(&dir), None).unwrap_or_else(|e| panic!("{SHARED_DIR}: {e}")))
        });
        if server.is_none() {
            unavailable(&format!("{SHARED_DIR} is not set"));
        }
        server.as_ref()
    }

    /// A cluster of the test's own, destroyed on drop, for tests that stop and start
    /// PostgreSQL. None (or a panic under `TWOFACTOR_REQUIRE_PG=1`) without the binaries.
    pub fn private() -> Option<PgServer> {
        let tmp = tempfile::Builder::new().prefix("twofactor-pg-").tempdir().expect("temp dir");
        let dir = tmp.path().join("cluster");
        let out = Command::new("bash").arg(script()).arg("start").arg(&dir).output().expect("run pg-cluster.sh");
        if !out.status.success() {
            unavailable(&format!("pg-cluster.sh start failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
            return None;
        }
        // The server runs as `postgres` when we are root and must reach its directory.
        set_mode(tmp.path(), 0o755);
        Some(PgServer::from_dir(&dir, Some(tmp)).expect("cluster env"))
    }

    fn from_dir(dir: &Path, owned: Option<tempfile::TempDir>) -> Result<PgServer, String> {
        let env_file = dir.join("env");
        let text = fs::read_to_string(&env_file).map_err(|e| format!("{}: {e}", env_file.display()))?;
        let var = |name: &str| -> Result<String, String> {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(|v| v.trim_matches('\'').to_owned())
                .ok_or_else(|| format!("{} lacks {name}", env_file.display()))
        };
        let port = var("TWOFACTOR_TEST_PG_PORT")?.parse().map_err(|e| format!("port: {e}"))?;
        let password_file = var("TWOFACTOR_TEST_PG_SUPERUSER_PASSWORD_FILE")?;
        let superuser_password = fs::read_to_string(&password_file).map_err(|e| format!("{password_file}: {e}"))?;
        Ok(PgServer {
            dir: dir.to_owned(),
            port,
            ca_file: PathBuf::from(var("TWOFACTOR_TEST_PG_CA")?),
            superuser_password: superuser_password.trim().to_owned(),
            owned,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A TLS connector that trusts the cluster's test CA (and nothing else).
    pub fn tls(&self) -> MakeRustlsConnect {
        tls_trusting(&self.ca_file)
    }

    fn config(&self, user: &str, password: &str, db: &str) -> Config {
        let mut c = Config::new();
        c.host("127.0.0.1").port(self.port).user(user).password(password).dbname(db).ssl_mode(SslMode::Require);
        c.connect_timeout(std::time::Duration::from_secs(10));
        c
    }

    pub fn superuser_client(&self, db: &str) -> Client {
        self.config("postgres", &self.superuser_password, db)
            .connect(self.tls())
            .unwrap_or_else(|e| panic!("superuser connection to {db} on port {}: {e}", self.port))
    }

    /// A fresh database owned by a fresh LOGIN role with a random password.
    pub fn create_database(&self) -> TestDb<'_> {
        let tag: String = format!("{:012x}", rand::thread_rng().gen::<u64>() & 0xffff_ffff_ffff);
        let (name, role) = (format!("t_{tag}"), format!("r_{tag}"));
        let password = random_secret();
        let mut su = self.superuser_client("postgres");
        su.batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'")).expect("create role");
        su.batch_execute(&format!("CREATE DATABASE {name} OWNER {role}")).expect("create database");
        TestDb {
            server: self,
            name,
            role,
            password,
            port: self.port,
            ca_file: self.ca_file.clone(),
            roles: Mutex::default(),
        }
    }

    /// Fast shutdown; the data stays, and [`PgServer::start_again`] brings it back on the
    /// same port.
    pub fn stop(&self) {
        self.run_script("stop");
    }

    pub fn start_again(&self) {
        self.run_script("start-again");
    }

    fn run_script(&self, cmd: &str) {
        let out = Command::new("bash").arg(script()).arg(cmd).arg(&self.dir).output().expect("run pg-cluster.sh");
        assert!(out.status.success(), "pg-cluster.sh {cmd}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.owned.is_some() {
            let _ = Command::new("bash").arg(script()).arg("destroy").arg(&self.dir).output();
        }
    }
}

/// One test's database and login role, dropped (with every role made through
/// [`TestDb::create_role`]) when the test ends.
pub struct TestDb<'s> {
    server: &'s PgServer,
    pub name: String,
    pub role: String,
    pub password: String,
    pub port: u16,
    pub ca_file: PathBuf,
    roles: Mutex<Vec<String>>,
}

impl TestDb<'_> {
    /// A URL for the login role, without its password (sslmode=require; with rustls that
    /// verifies the certificate and the host).
    pub fn url(&self) -> String {
        format!("postgres://{}@127.0.0.1:{}/{}?sslmode=require", self.role, self.port, self.name)
    }

    /// Writes the login role's password to `dir/pg-password-<db>` (0600) and returns the path.
    pub fn password_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("pg-password-{}", self.name));
        fs::write(&path, &self.password).expect("write password file");
        set_mode(&path, 0o600);
        path
    }

    /// Connected as the login role.
    pub fn client(&self) -> Client {
        self.server
            .config(&self.role, &self.password, &self.name)
            .connect(self.server.tls())
            .unwrap_or_else(|e| panic!("connection as {} to {}: {e}", self.role, self.name))
    }

    /// Connected as the superuser, to this database.
    pub fn superuser_client(&self) -> Client {
        self.server.superuser_client(&self.name)
    }

    /// A NOLOGIN role named `<database>_<base>` (roles are cluster-wide, so the prefix
    /// keeps parallel tests apart), granted to the login role so it can `SET ROLE` to it.
    /// Dropped with the database.
    pub fn create_role(&self, base: &str) -> String {
        let role = format!("{}_{base}", self.name);
        let mut su = self.server.superuser_client("postgres");
        su.batch_execute(&format!("CREATE ROLE \"{role}\" NOLOGIN; GRANT \"{role}\" TO {}", self.role))
            .unwrap_or_else(|e| panic!("create role {role}: {e}"));
        self.roles.lock().unwrap().push(role.clone());
        role
    }
}

impl Drop for TestDb<'_> {
    fn drop(&mut self) {
        // The server may be stopped (a test that stops PostgreSQL); leave it then.
        let Ok(mut su) =
            self.server.config("postgres", &self.server.superuser_password, "postgres").connect(self.server.tls())
        else {
            return;
        };
        let _ = su.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        for role in self.roles.lock().unwrap().iter() {
            let _ = su.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""));
        }
        let _ = su.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.role));
    }
}

/// A rustls connector that trusts only the certificates in `ca_file`.
pub fn tls_trusting(ca_file: &Path) -> MakeRustlsConnect {
    let pem = fs::read(ca_file).unwrap_or_else(|e| panic!("{}: {e}", ca_file.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.expect("CA certificate")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}

fn random_secret() -> String {
    let bytes: [u8; 24] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_database_is_reachable_over_verified_tls_and_dropped_after() {
        let Some(pg) = PgServer::shared() else { return };
        let name = {
            let db = pg.create_database();
            let mut c = db.client();
            let row = c
                .query_one("SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
                .unwrap();
            assert_eq!(row.get::<_, String>(0), db.role);
            assert!(row.get::<_, bool>(1), "the connection is TLS");
            let role = db.create_role("reader");
            c.batch_execute(&format!("SET ROLE \"{role}\"")).unwrap();
            db.name.clone()
        };
        let mut su = pg.superuser_client("postgres");
        let left = su.query_one("SELECT count(*) FROM pg_database WHERE datname = $1", &[&name]).unwrap();
        assert_eq!(left.get::<_, i64>(0), 0, "the database is dropped with its TestDb");
    }

    #[test]
    fn a_private_cluster_stops_and_starts_again_on_its_port() {
        let Some(pg) = PgServer::private() else { return };
        let db = pg.create_database();
        db.client().batch_execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)").unwrap();
        pg.stop();
        assert!(pg.config(&db.role, &db.password, &db.name).connect(pg.tls()).is_err(), "stopped");
        pg.start_again();
        let v: i32 = db.client().query_one("SELECT v FROM kept", &[]).unwrap().get(0);
        assert_eq!(v, 7, "same port, same data");
    }

    #[test]
    fn a_wrong_ca_is_refused() {
        let Some(pg) = PgServer::shared() else { return };
        let other = tempfile::tempdir().unwrap();
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other"])
            .arg("-keyout")
            .arg(other.path().join("k"))
            .arg("-out")
            .arg(other.path().join("ca.crt"))
            .output()
            .unwrap();
        assert!(out.status.success());
        let r = pg
            .config("postgres", &pg.superuser_password, "postgres")
            .connect(tls_trusting(&other.path().join("ca.crt")));
        assert!(r.is_err(), "a server certificate from another CA must be refused");
    }
}
