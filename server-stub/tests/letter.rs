//! `twofactor-server letter`: the real binary writes the activation letter, poppler's
//! `pdftoppm` prints it to a PNG and `pdftotext` reads its words, `rqrr` scans the QR code
//! off the picture, and the key it holds logs in through a real server. Also: the file is
//! 0600, an existing file or enrolment is never replaced without being asked, and the
//! secret appears nowhere else (not on the terminal, not in the audit log).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use twofactor_protocol::ServerMessage;
use twofactor_server::totp::{self, TotpParams};
use twofactor_server::Clock;

const BIN: &str = env!("CARGO_BIN_EXE_twofactor-server");

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn letter(data: &Path, args: &[&str]) -> Run {
    let out = Command::new(BIN).arg("letter").arg("--data-dir").arg(data).args(args).output().unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A poppler tool; CI installs poppler-utils (scripts/test.sh), so a missing one fails.
fn poppler(tool: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (poppler-utils) is needed for this test: {e}"));
    assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// What a reader of the printed letter gets: the URI scanned from the page printed at
/// 150 dpi, and the key typed in from its text.
struct Read {
    uri: String,
    typed_secret: String,
    text: String,
}

fn read_letter(pdf: &Path, work: &Path) -> Read {
    let stem = work.join(format!("{}-page", pdf.file_stem().unwrap().to_str().unwrap()));
    poppler(
        "pdftoppm",
        &[
            "-r".as_ref(),
            "150".as_ref(),
            "-gray".as_ref(),
            "-png".as_ref(),
            "-singlefile".as_ref(),
            pdf.as_os_str(),
            stem.as_os_str(),
        ],
    );
    let png = PathBuf::from(format!("{}.png", stem.display()));
    let img = image::open(&png).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
        img.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, uri) = grids[0].decode().expect("the QR code decodes");
    let text = String::from_utf8(poppler("pdftotext", &[pdf.as_os_str(), "-".as_ref()])).unwrap();
    // The printed key: the lines made only of groups of up to four base-32 characters.
    let typed_secret: String = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            let groups: Vec<&str> = l.split(' ').collect();
            groups.len() >= 2
                && groups
                    .iter()
                    .all(|g| (1..=4).contains(&g.len()) && g.bytes().all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7')))
        })
        .collect::<Vec<_>>()
        .join(" ");
    Read { uri, typed_secret, text }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn logs_in(f: &Fixture, user: &str, password: &str, secret: &[u8], params: &TotpParams) -> bool {
    // A new time step each time, so the server's replay ledger never refuses a code.
    f.clock.advance(params.period_secs as i64);
    let mut c = Client::connect(f).await;
    assert!(matches!(c.login(user, password).await, ServerMessage::FirstFactorOk { .. }));
    c.code(&params.code_at_time(secret, f.clock.now())).await == ServerMessage::SecondFactorOk
}

#[tokio::test]
async fn a_printed_letter_enrols_a_user_who_then_logs_in() {
    let f = start(|_| {}).await;
    let out_dir = tempfile::tempdir().unwrap();
    let pdf = out_dir.path().join("carol.pdf");
    let work = tempfile::tempdir().unwrap();

    let run = letter(&f.data, &["carol", "--out", pdf.to_str().unwrap()]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{}\n", pdf.display()), "only the path is printed");
    assert_eq!(run.stderr, "");
    assert_eq!(mode(&pdf), 0o600);
    let names: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["carol.pdf"], "no temporary files beside the letter");

    let read = read_letter(&pdf, work.path());
    let parsed = totp::parse_otpauth_uri(&read.uri).unwrap();
    assert_eq!(parsed.label, "TwoFactor:carol");
    assert!(read.uri.contains("issuer=TwoFactor"), "{}", read.uri);
    assert_eq!(parsed.secret.len(), 20);
    assert_eq!(totp::from_base32(&read.typed_secret).as_deref(), Some(&parsed.secret[..]), "printed key = QR key");
    assert!(read.typed_secret.split(' ').all(|g| g.len() == 4), "groups of four: {}", read.typed_secret);
    for words in ["carol", "TwoFactor", "SHA1", "time-based (TOTP)", "30 seconds", "TwoFactorCode=", "1002"] {
        assert!(read.text.contains(words), "{words} missing from:\n{}", read.text);
    }
    assert!(read.text.contains("Destroy this letter after enrolling."), "{}", read.text);
    let issued = time::OffsetDateTime::now_utc().date().to_string();
    assert!(read.text.contains(&issued), "issued {issued}:\n{}", read.text);

    let params = TotpParams { algorithm: parsed.algorithm, digits: parsed.digits, period_secs: parsed.period_secs };
    assert!(logs_in(&f, "carol", "carol-pw", &parsed.secret, &params).await, "the letter's key is active");

    let audit = std::fs::read_to_string(f.data.join("audit.log")).unwrap();
    let b32 = totp::to_base32(&parsed.secret);
    assert!(!audit.contains(&b32) && !audit.contains(&read.typed_secret), "the secret is not audited");
    let events: Vec<serde_json::Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let issued_line = events.iter().find(|e| e["event"] == "letter_issued").expect("letter_issued audited");
    assert_eq!((issued_line["user"].as_str(), issued_line["outcome"].as_str()), (Some("carol"), Some("ok")));
    assert!(events.iter().any(|e| e["event"] == "totp_enrol" && e["user"] == "carol"));

    // Enrolled now: a second letter needs --reset, and the refusal writes nothing.
    let second = out_dir.path().join("again.pdf");
    let run = letter(&f.data, &["carol", "--out", second.to_str().unwrap()]);
    assert!(!run.ok && run.stderr.contains("enrolled already") && run.stderr.contains("--reset"), "{}", run.stderr);
    assert!(!second.exists());
    // An existing file is refused even with --reset, and the key stays as it was.
    let before = std::fs::read(&pdf).unwrap();
    let run = letter(&f.data, &["carol", "--out", pdf.to_str().unwrap(), "--reset"]);
    assert!(!run.ok && run.stderr.contains("exists") && run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(std::fs::read(&pdf).unwrap(), before);
    assert!(logs_in(&f, "carol", "carol-pw", &parsed.secret, &params).await, "refusals keep the key");

    // --reset --force: a new key replaces the old one, in a new 0600 file.
    std::fs::set_permissions(&pdf, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let run = letter(&f.data, &["carol", "--out", pdf.to_str().unwrap(), "--reset", "--force", "--paper", "letter"]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(mode(&pdf), 0o600, "a replaced letter is created anew, 0600");
    let reread = read_letter(&pdf, work.path());
    let new_key = totp::parse_otpauth_uri(&reread.uri).unwrap();
    assert_ne!(new_key.secret, parsed.secret);
    assert_eq!(totp::from_base32(&reread.typed_secret).as_deref(), Some(&new_key.secret[..]));
    assert!(!logs_in(&f, "carol", "carol-pw", &parsed.secret, &params).await, "the old key no longer works");
    assert!(logs_in(&f, "carol", "carol-pw", &new_key.secret, &params).await, "the new key does");
    let audit = std::fs::read_to_string(f.data.join("audit.log")).unwrap();
    assert!(audit.contains("\"totp_reset\""), "{audit}");
    assert_eq!(audit.matches("\"letter_issued\"").count(), 2);
}

#[tokio::test]
async fn no_letter_for_an_enrolled_or_unknown_user_without_reset() {
    let f = start(|_| {}).await;
    let out_dir = tempfile::tempdir().unwrap();
    let pdf = out_dir.path().join("alice.pdf");
    let run = letter(&f.data, &["alice", "--out", pdf.to_str().unwrap()]);
    assert!(!run.ok && run.stderr.contains("enrolled already"), "{}", run.stderr);
    assert!(!pdf.exists());
    assert!(logs_in(&f, "alice", "alice-pw", SECRET, &PARAMS).await, "alice's key is untouched");

    let nobody = out_dir.path().join("nobody.pdf");
    let run = letter(&f.data, &["nobody", "--out", nobody.to_str().unwrap(), "--reset"]);
    assert!(!run.ok && run.stderr.contains("no user"), "{}", run.stderr);
    assert!(!nobody.exists());

    // A symlink at the path is refused, not followed (its target is not overwritten).
    let target = out_dir.path().join("target.txt");
    std::fs::write(&target, b"keep me").unwrap();
    let link = out_dir.path().join("link.pdf");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let run = letter(&f.data, &["alice", "--reset", "--out", link.to_str().unwrap()]);
    assert!(!run.ok && run.stderr.contains("exists"), "{}", run.stderr);
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    assert!(logs_in(&f, "alice", "alice-pw", SECRET, &PARAMS).await, "a refused letter stores no key");
}
