//! A real OpenLDAP for the directory first-factor tests: Debian's `slapd` in a private
//! temporary directory (its own slapd.conf, MDB database and pid file), listening on two
//! loopback ports, LDAPS and plain LDAP (for StartTLS), with a certificate from a test CA
//! made with the openssl CLI for this run. Users, a service account and a group are
//! loaded with `ldapadd`. Its stats log (`-d stats`) records every BIND, so a test can
//! prove that a login never reached the directory.
//!
//! Tests call [`Slapd::start`]; without `slapd` it returns None and prints why, unless
//! `TWOFACTOR_REQUIRE_SLAPD=1` (scripts/test.sh sets it), where it panics.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set by `scripts/test.sh`: a missing slapd is then a failure, not a skip.
const REQUIRE: &str = "TWOFACTOR_REQUIRE_SLAPD";

pub const BASE_DN: &str = "dc=example,dc=org";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// The service account that searches for users and reads groups.
pub const SERVICE_DN: &str = "cn=twofactor,ou=services,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service-secret";
/// The group whose members may log in (`member`: DNs).
pub const GROUP_DN: &str = "cn=dbusers,ou=groups,dc=example,dc=org";

/// A directory user the fixture loads: `uid=NAME,ou=people,...`, password `PASSWORD`.
pub struct Person<'a> {
    pub uid: &'a str,
    pub password: &'a str,
    /// Listed in [`GROUP_DN`].
    pub in_group: bool,
}

/// A running slapd; stopped and its directory removed on drop.
pub struct Slapd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub ldaps_port: u16,
    pub ldap_port: u16,
    /// The test CA the server certificate is signed by (PEM).
    pub ca_file: PathBuf,
}

fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

fn unavailable(why: &str) {
    if required() {
        panic!("slapd is required ({REQUIRE}=1) but {why}");
    }
    eprintln!("skipped: no OpenLDAP for this test ({why}); `apt-get install slapd ldap-utils` runs it");
}

/// The first of `names` found as an executable in the usual places (slapd lives in
/// /usr/sbin, which a non-root PATH may lack).
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost, with the openssl CLI.
fn make_certificates(dir: &Path) -> Result<(), String> {
    let ssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    // A new P-256 key, unencrypted, for each request.
    const NEW_KEY: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let ca_request = ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=TwoFactor test LDAP CA"];
    let ca_extensions =
        ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"];
    ssl(&[&["req", "-x509"][..], NEW_KEY, &ca_request, &ca_extensions].concat())?;
    let server_request = ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"];
    ssl(&[&["req", "-new"][..], NEW_KEY, &server_request].concat())?;
    fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .map_err(|e| e.to_string())?;
    ssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    Ok(())
}

fn slapd_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
database mdb
maxsize 67108864
suffix \"{BASE_DN}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PASSWORD}
directory {d}/db
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
"
    )
}

impl Slapd {
    /// Starts slapd with `people` loaded (each under ou=people, members of the group as
    /// asked), the service account and the group. None when slapd or the tools are missing.
    pub fn start(people: &[Person<'_>]) -> Option<Slapd> {
        for tool in ["slapd", "ldapadd", "openssl"] {
            if find(tool).is_none() {
                unavailable(&format!("`{tool}` is not installed"));
                return None;
            }
        }
        let dir = tempfile::Builder::new().prefix("twofactor-slapd-").tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("db")).unwrap();
        make_certificates(dir.path()).unwrap_or_else(|e| panic!("test CA: {e}"));
        fs::write(dir.path().join("slapd.conf"), slapd_conf(dir.path())).unwrap();
        let mut slapd = Slapd {
            ca_file: dir.path().join("ca.pem"),
            dir,
            child: None,
            ldaps_port: free_port(),
            ldap_port: free_port(),
        };
        slapd.resume();
        slapd.add(&base_ldif(people));
        Some(slapd)
    }

    /// `ldaps://127.0.0.1:PORT`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// `ldap://127.0.0.1:PORT` (StartTLS, or plain with the opt-out).
    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// Stops slapd (SIGTERM, then waits): the directory is down until [`Slapd::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts slapd (again) on the same ports and database, and waits until it accepts.
    pub fn resume(&mut self) {
        let log = fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let urls = format!("ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/", self.ldap_port, self.ldaps_port);
        let child = Command::new(find("slapd").unwrap())
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &urls, "-d", "stats"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn slapd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = [self.ldap_port, self.ldaps_port].iter().all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok());
            if up {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("slapd exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "slapd did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Loads LDIF as the directory's admin (ldapadd over loopback).
    pub fn add(&self, ldif: &str) {
        let mut child = Command::new(find("ldapadd").unwrap())
            .args(["-x", "-H", &self.ldap_url(), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ldapadd");
        child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "ldapadd: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("slapd.log")
    }

    /// slapd's stats log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// How many simple binds the directory received for `dn` so far.
    pub fn binds_for(&self, dn: &str) -> usize {
        let needle = format!("BIND dn=\"{dn}\"");
        // One `method=128` line per simple bind request; a successful one adds a `mech=` line.
        self.log().lines().filter(|l| l.contains(&needle) && l.contains("method=128")).count()
    }

    /// Writes `password` to a private (0600) file in slapd's directory, for
    /// `ldap.bind_password_file`.
    pub fn service_password_file(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.path().join("service.pw");
        fs::write(&p, format!("{SERVICE_PASSWORD}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        p
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The DN of a person the fixture loads.
pub fn person_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE}")
}

fn base_ldif(people: &[Person<'_>]) -> String {
    let mut ldif = format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: twofactor\n\
         userPassword: {SERVICE_PASSWORD}\n\n"
    );
    for p in people {
        ldif.push_str(&format!(
            "dn: {}\nobjectClass: inetOrgPerson\nuid: {}\ncn: {}\nsn: {}\nuserPassword: {}\n\n",
            person_dn(p.uid),
            p.uid,
            p.uid,
            p.uid,
            p.password
        ));
    }
    // groupOfNames needs at least one member: the service account stands in when no
    // person is listed.
    ldif.push_str(&format!("dn: {GROUP_DN}\nobjectClass: groupOfNames\ncn: dbusers\nmember: {SERVICE_DN}\n"));
    for p in people.iter().filter(|p| p.in_group) {
        ldif.push_str(&format!("member: {}\n", person_dn(p.uid)));
    }
    ldif
}
