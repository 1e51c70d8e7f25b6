//! `letter NAME --out FILE`: enrols (or with `--reset` replaces) a user's TOTP key the way
//! `totp enrol` does and writes it as a printable activation letter, for sites that hand
//! the secret over on paper, in person (docs/activation-letter.md).
//!
//! The secret reaches the disk only inside that file: the PDF is made in memory, written
//! to a file created new with mode 0600, and the key is stored only after the file is
//! complete. Nothing but the file's path goes to the terminal.

use super::enrol::NewKey;
use super::*;
use crate::letter::{Letter, Paper};

#[derive(Args)]
pub(super) struct LetterArgs {
    name: String,
    /// The PDF to write; created new with mode 0600.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace the user's TOTP key if there is one (the old key stops working at once).
    #[arg(long)]
    reset: bool,
    /// Replace FILE if it exists (it is deleted and created anew, still 0600).
    #[arg(long)]
    force: bool,
    /// Page size.
    #[arg(long, value_enum, default_value = "a4")]
    paper: PaperArg,
    /// 6 or 8; default `totp.digits`.
    #[arg(long)]
    digits: Option<u32>,
    /// SHA1, SHA256 or SHA512; default `totp.algorithm`.
    #[arg(long)]
    algorithm: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum PaperArg {
    A4,
    Letter,
}

pub(super) fn run(dir: &Path, args: LetterArgs) -> CliResult {
    let new_key = NewKey::make(
        dir,
        &args.name,
        args.algorithm.as_deref(),
        args.digits,
        args.reset,
        "pass --reset to replace the key (the old one stops working)",
    )?;
    if !args.force && args.out.symlink_metadata().is_ok() {
        // Checked here too so that the refusal comes before any work; the exclusive
        // create below is what actually guarantees it.
        return Err(format!("{} exists; pass --force to replace it", args.out.display()));
    }
    let now = SystemClock.now();
    let issued = time::OffsetDateTime::from_unix_timestamp(now).map_err(|e| e.to_string())?.date().to_string();
    let paper = match args.paper {
        PaperArg::A4 => Paper::A4,
        PaperArg::Letter => Paper::Letter,
    };
    let pdf = crate::letter::render(&Letter {
        issuer: new_key.issuer(),
        account: new_key.name(),
        uri: &new_key.uri(),
        secret_base32: &new_key.secret_base32(),
        params: new_key.params(),
        issued: &issued,
        paper,
    })?;
    write_letter(&args.out, &pdf, args.force)?;
    if let Err(e) = new_key.store() {
        // The letter's key was never stored: a letter that cannot log in must not survive.
        let _ = std::fs::remove_file(&args.out);
        return Err(format!("{e} (the letter was deleted; no key was stored)"));
    }
    new_key.audit().record_why(
        SystemClock.now(),
        new_key.name(),
        "cli",
        "letter_issued",
        "ok",
        Some("TOTP"),
        Some(&format!("written to {}", args.out.display())),
    );
    println!("{}", args.out.display());
    Ok(())
}

/// Creates `path` new (O_CREAT|O_EXCL, mode 0600: never through an existing file or
/// symlink, never readable by others for an instant) and writes the PDF. With `force` an
/// existing entry is unlinked first (a symlink itself, not its target).
fn write_letter(path: &Path, pdf: &[u8], force: bool) -> CliResult {
    if force {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: cannot replace it: {e}", path.display())),
        }
    }
    match crate::init::write_private_new(path, pdf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(format!("{} exists; pass --force to replace it", path.display()))
        }
        Err(e) => {
            // A failed exclusive create of an existing path says AlreadyExists, so any
            // other error means either no file or our own partial one (a full disk):
            // take that away.
            let _ = std::fs::remove_file(path);
            Err(format!("{}: {e} (no key was stored)", path.display()))
        }
    }
}
