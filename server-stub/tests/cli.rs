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
