//! `backup-codes generate`: ten new single-use codes, stored hashed.

use super::*;

pub(super) fn generate(dir: &Path, name: &str) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    if store.user(name).map_err(|e| e.to_string())?.is_none() {
        return Err(format!("no user `{name}`"));
    }
    let auth = crate::auth::Authenticator::new(&config, store, key, Arc::new(SystemClock));
    let codes = auth.new_backup_codes(name).map_err(|e| e.to_string())?;
    audit.record_why(
        SystemClock.now(),
        name,
        "cli",
        "backup_codes_generate",
        "ok",
        Some("BACKUP"),
        Some(&format!("{} codes", codes.len())),
    );
    let mut out = std::io::stdout().lock();
    for c in &codes {
        let _ = writeln!(out, "{c}");
    }
    let _ = out.flush();
    eprintln!(
        "{} single-use backup codes for `{name}`; earlier ones no longer work. Each is accepted once in place of the second factor.",
        codes.len()
    );
    Ok(())
}
