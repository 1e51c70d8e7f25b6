//! The binary as scripts call it: init, user add, totp enrol --secret-only, serve.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_twofactor-server");

fn run(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_script_can_set_up_enrol_and_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    assert!(run(&["init", "--data-dir", d], None).0);
    let (ok, _, err) = run(&["init", "--data-dir", d], None);
    assert!(!ok && err.contains("refusing to overwrite"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["secrets.key", "server.key", "ca.key"] {
            assert_eq!(std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777, 0o600, "{f}");
        }
    }
    assert!(run(&["user", "add", "--data-dir", d, "demo", "--password-stdin"], Some("demo-pw\n")).0);
    let (_, list, _) = run(&["user", "list", "--data-dir", d], None);
    assert!(list.contains("Unenrolled"), "{list}");
    let (ok, secret, _) = run(&["totp", "enrol", "--data-dir", d, "demo", "--secret-only"], None);
    assert!(ok);
    assert_eq!(twofactor_server::totp::from_base32(secret.trim()).unwrap().len(), 20);
    let (ok, out, _) = run(&["totp", "reset", "--data-dir", d, "demo"], None);
    assert!(ok && out.contains("otpauth://totp/TwoFactor:demo?secret="), "{out}");
    let (_, list, _) = run(&["user", "list", "--data-dir", d], None);
    assert!(list.contains("Active"), "{list}");

    let mut server = Command::new(BIN)
        .args(["serve", "--data-dir", d, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line}");
    assert!(!line.trim().ends_with(":0"), "{line}");
    #[cfg(unix)]
    {
        let pid = server.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        assert!(server.wait().unwrap().success(), "graceful exit on SIGTERM");
    }
    #[cfg(not(unix))]
    let _ = server.kill();
}

/// Points the data directory `d` at `db` (URL, CA, a 0600 password file in `d`).
fn use_postgres(d: &std::path::Path, db: &twofactor_pg_testkit::TestDb<'_>) {
    let password_file = db.password_file(d);
    let toml = d.join("server.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let store = format!(
        "[store]\nurl = \"{}\"\nca_file = \"{}\"\npassword_file = \"{}\"\n",
        db.url(),
        db.ca_file.display(),
        password_file.file_name().unwrap().to_str().unwrap()
    );
    assert!(text.contains("[store]\n"), "init writes a [store] section");
    std::fs::write(&toml, text.replacen("[store]\n", &store, 1)).unwrap();
}

fn serve_exits_with(d: &str) -> (bool, String) {
    let out = Command::new(BIN).args(["serve", "--data-dir", d, "--listen", "127.0.0.1:0"]).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_sqlite_store_moves_into_postgres_where_every_admin_command_works() {
    let Some(pg) = twofactor_pg_testkit::PgServer::shared() else { return };
    let db = pg.create_database();
    let tmp = tempfile::tempdir().unwrap();
    let (old_dir, new_dir) = (tmp.path().join("old"), tmp.path().join("new"));
    let (old, new) = (old_dir.to_str().unwrap(), new_dir.to_str().unwrap());
    // The SQLite server as it runs today: a TOTP user with backup codes, a custom carrier.
    assert!(run(&["init", "--data-dir", old], None).0);
    assert!(run(&["user", "add", "--data-dir", old, "demo", "--password-stdin"], Some("demo-pw\n")).0);
    let (ok, secret, _) = run(&["totp", "enrol", "--data-dir", old, "demo", "--secret-only"], None);
    assert!(ok);
    assert!(run(&["backup-codes", "generate", "--data-dir", old, "demo"], None).0);
    assert!(run(&["carrier", "add", "--data-dir", old, "Example Mobile", "sms.example.net"], None).0);

    // A new instance on PostgreSQL: migrate, then import straight from the SQLite file.
    assert!(run(&["init", "--data-dir", new], None).0);
    use_postgres(&new_dir, &db);
    let (ok, out, err) = run(&["store", "migrate", "--data-dir", new], None);
    let migrated = format!("schema version {} (was 0)", twofactor_server::store::SCHEMA_VERSION);
    assert!(ok && out.contains(&migrated), "{out}{err}");
    assert!(!out.contains(&db.password) && out.contains(&db.url()), "{out}");
    let (ok, out, _) = run(&["store", "migrate", "--data-dir", new], None);
    assert!(ok && out.contains("up to date"), "{out}");
    let users_db = old_dir.join("users.db");
    let old_key = old_dir.join("secrets.key");
    let (ok, out, err) = run(
        &[
            "users",
            "import",
            "--data-dir",
            new,
            "--from-sqlite",
            users_db.to_str().unwrap(),
            "--secrets-key",
            old_key.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok && out.contains("imported 1 users"), "{out}{err}");
    let (_, list, _) = run(&["user", "list", "--data-dir", new], None);
    assert!(list.contains("demo") && list.contains("Active"), "{list}");
    let (_, carriers, _) = run(&["carrier", "list", "--data-dir", new], None);
    assert!(carriers.contains("sms.example.net") && carriers.contains("tmomail.net"), "{carriers}");
    // The TOTP secret was re-sealed under the new server's key: it opens there.
    let key = twofactor_server::crypto::SecretsKey::load(&new_dir.join("secrets.key")).unwrap();
    let settings = {
        let config = twofactor_server::Config::load(&new_dir).unwrap();
        twofactor_server::store::PgStoreSettings::from_config(&config).unwrap().unwrap()
    };
    let store = twofactor_server::store::PostgresUserStore::open(&settings).unwrap();
    use twofactor_server::store::UserStore;
    let sealed = store.user("demo").unwrap().unwrap().totp.unwrap().sealed_secret;
    let opened = key.open("demo", &sealed).unwrap();
    assert_eq!(opened.expose(), twofactor_server::totp::from_base32(secret.trim()).unwrap().as_slice());

    // The admin commands, against PostgreSQL.
    assert!(run(&["user", "add", "--data-dir", new, "bob", "--password-stdin"], Some("bob-pw\n")).0);
    assert!(run(&["user", "email", "--data-dir", new, "bob", "bob@example.com"], None).0);
    assert!(run(&["user", "two-factor", "--data-dir", new, "bob", "off"], None).0);
    assert!(run(&["totp", "reset", "--data-dir", new, "demo"], None).0);
    assert!(run(&["two-factor", "--data-dir", new, "on"], None).0);
    assert_eq!(store.two_factor_setting().unwrap(), Some(true));
    let bob = store.user("bob").unwrap().unwrap();
    assert_eq!(
        (bob.email.as_deref(), bob.method.as_str(), bob.two_factor_required),
        (Some("bob@example.com"), "EMAIL", false)
    );
    db.client()
        .execute("UPDATE users SET failed_second_factor = 5, locked_until = 4000000000 WHERE name = 'demo'", &[])
        .unwrap();
    let (_, list, _) = run(&["user", "list", "--data-dir", new], None);
    assert!(list.lines().any(|l| l.starts_with("demo") && l.contains("Locked")), "{list}");
    assert!(run(&["user", "unlock", "--data-dir", new, "demo"], None).0);
    assert!(!store.user("demo").unwrap().unwrap().is_locked(0));
    assert!(run(&["user", "password", "--data-dir", new, "bob", "--password-stdin"], Some("bob-pw2\n")).0);
    assert_ne!(store.user("bob").unwrap().unwrap().password_hash, bob.password_hash);
    assert!(run(&["carrier", "add", "--data-dir", new, "Test Mobile", "sms.test.example"], None).0);
    assert!(run(&["carrier", "edit", "--data-dir", new, "Test Mobile", "txt.test.example"], None).0);
    let (ok, out, err) =
        run(&["user", "phone", "--data-dir", new, "bob", "+15551234567", "--carrier", "test mobile"], None);
    assert!(ok, "{out}{err}");
    assert!(run(&["user", "method", "--data-dir", new, "bob", "sms"], None).0);
    let bob = store.user("bob").unwrap().unwrap();
    assert_eq!(
        (bob.phone.as_deref(), bob.carrier.as_deref(), bob.method.as_str()),
        (Some("+15551234567"), Some("Test Mobile"), "SMS")
    );
    let (ok, codes, _) = run(&["backup-codes", "generate", "--data-dir", new, "bob"], None);
    assert!(ok && codes.lines().count() == 10, "{codes}");
    assert_eq!(store.user("bob").unwrap().unwrap().backup_codes_left, 10);
    let uri = "otpauth://totp/TwoFactor:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=TwoFactor";
    assert!(run(&["totp", "import", "--data-dir", new, "bob", uri], None).0);
    assert_eq!(store.user("bob").unwrap().unwrap().method, "TOTP");
    assert!(run(&["carrier", "remove", "--data-dir", new, "Test Mobile"], None).0);
    assert!(store.carrier("Test Mobile").unwrap().is_none());
    let (_, audit, _) = run(&["audit", "--data-dir", new, "--user", "bob", "--event", "password_change"], None);
    assert_eq!(audit.lines().count(), 1, "{audit}");
    let export = tmp.path().join("users.json");
    assert!(run(&["users", "export", "--data-dir", new, export.to_str().unwrap()], None).0);
    assert!(run(&["user", "remove", "--data-dir", new, "bob"], None).0);
    let (ok, out, err) = run(&["users", "import", "--data-dir", new, export.to_str().unwrap(), "--replace"], None);
    assert!(ok && out.contains("imported 2 users"), "{out}{err}");
    assert!(store.user("bob").unwrap().is_some());

    // The server starts on it and stops gracefully.
    let mut server = Command::new(BIN)
        .args(["serve", "--data-dir", new, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line}");
    let pid = server.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(server.wait().unwrap().success(), "graceful exit on SIGTERM");

    // A schema newer than this binary: refused, non-zero, saying so.
    db.client().execute("INSERT INTO schema_version (version) VALUES (1000)", &[]).unwrap();
    let (ok, err) = serve_exits_with(new);
    assert!(!ok && err.contains("schema version 1000") && err.contains(&db.url()), "{err}");
    assert!(!err.contains(&db.password), "{err}");
}

#[test]
fn an_unreachable_or_misconfigured_postgres_store_stops_the_server_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    assert!(run(&["init", "--data-dir", d], None).0);
    let toml = dir.join("server.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://twofactor@127.0.0.1:{port}/twofactor?sslmode=require");
    let with = |store: &str| std::fs::write(&toml, text.replacen("[store]\n", store, 1)).unwrap();
    std::fs::write(
        &toml,
        text.replacen("[store]\n", &format!("[store]\nurl = \"{url}\"\n"), 1).replacen(
            "connect_timeout_secs = 5",
            "connect_timeout_secs = 1",
            1,
        ),
    )
    .unwrap();
    let (ok, err) = serve_exits_with(d);
    assert!(!ok && err.contains(&url) && err.contains("unavailable"), "{err}");
    let (ok, _, err) = run(&["user", "list", "--data-dir", d], None);
    assert!(!ok && err.contains(&url), "{err}");
    // A password in the URL is refused by the key's name and never echoed.
    with("[store]\nurl = \"postgres://twofactor:hunter2@db1/twofactor\"\n");
    let (ok, err) = serve_exits_with(d);
    assert!(!ok && err.contains("store.url") && !err.contains("hunter2"), "{err}");
}
