//! `enrol-link NAME [--ttl 24h] [--reset]`, `enrol-link list`, `enrol-link revoke ID`:
//! one-time links to the enrolment web page (docs/enrolment-links.md). The token is in
//! the printed URL only; the store keeps its SHA-256, the audit log its short id.

use super::*;
use rand::RngCore;

use crate::store::{short_id, ticket_id_hash, EnrolLinkRecord, NewEnrolLink};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(super) struct EnrolLinkArgs {
    #[command(subcommand)]
    action: Option<EnrolLinkAction>,
    /// The user the link enrols.
    #[arg(required = true)]
    name: Option<String>,
    /// How long the link is valid: `90m`, `24h`, `7d`, or seconds; default
    /// `enrol_web.default_ttl_secs` (at most 7 days).
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// Re-enrolment (a lost phone): the user may have a key; the new one replaces it only
    /// once it is confirmed on the page.
    #[arg(long)]
    reset: bool,
}

#[derive(Subcommand)]
enum EnrolLinkAction {
    /// Every link (or one user's): short id, user, issued, expires, kind, state.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a link not used yet, by its short id (from `list`).
    Revoke {
        #[arg(value_name = "ID")]
        short_id: String,
    },
}

/// Bytes of randomness in a token: 256 bits, far past guessing.
const TOKEN_BYTES: usize = 32;

pub(super) fn run(dir: &Path, args: EnrolLinkArgs) -> CliResult {
    match (args.action, args.name) {
        (Some(EnrolLinkAction::List { user }), _) => list(dir, user.as_deref()),
        (Some(EnrolLinkAction::Revoke { short_id }), _) => revoke(dir, &short_id),
        (None, Some(name)) => issue(dir, &name, args.ttl.as_deref(), args.reset),
        (None, None) => Err("enrol-link needs a user name (or `list`, `revoke ID`)".into()),
    }
}

/// `90`, `90s`, `30m`, `24h`, `7d` as seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a duration like 30m, 24h or 7d"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("`{text}` is too long"))
}

fn issue(dir: &Path, name: &str, ttl: Option<&str>, reset: bool) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let ttl_secs = match ttl {
        Some(t) => parse_duration(t)?,
        None => config.enrol_web.default_ttl_secs,
    };
    let max = crate::config::MAX_ENROL_LINK_TTL_SECS;
    if ttl_secs == 0 || ttl_secs > max {
        return Err(format!("--ttl must be between 1 s and {} days", max / 86_400));
    }
    let Some(user) = store.user(name).map_err(|e| e.to_string())? else {
        return Err(format!("no user `{name}`"));
    };
    if user.totp.is_some() && !reset {
        return Err(format!("`{name}` has a TOTP key already; `enrol-link {name} --reset` replaces it once confirmed"));
    }
    let mut raw = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = data_encoding::BASE64URL_NOPAD.encode(&raw);
    let id_hash = ticket_id_hash(token.as_bytes());
    let now = SystemClock.now();
    let expires_at = now.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    store
        .issue_enrol_link(&NewEnrolLink { id_hash: &id_hash, user: name, issued_at: now, expires_at, reset })
        .map_err(|e| e.to_string())?;
    let id = short_id(&id_hash);
    let why =
        format!("link {id}, {}, expires {}", if reset { "reset" } else { "enrol" }, crate::audit::rfc3339(expires_at));
    audit.record_why(now, name, "cli", "enrol_link_issue", "ok", Some("TOTP"), Some(&why));
    println!("{}/enrol/{token}", config.enrol_web.base_url());
    eprintln!(
        "one-time enrolment link {id} for `{name}`, valid until {}; hand it to the user only (it is shown once)",
        crate::audit::rfc3339(expires_at)
    );
    if !config.enrol_web.enabled {
        eprintln!("note: the enrolment page is off (set [enrol_web] enabled = true and restart the server)");
    }
    Ok(())
}

fn list(dir: &Path, user: Option<&str>) -> CliResult {
    let (_, store, _) = open(dir)?;
    let now = SystemClock.now();
    println!("{:<8}  {:<24}  {:<20}  {:<20}  {:<6}  STATE", "ID", "USER", "ISSUED", "EXPIRES", "KIND");
    for l in store.enrol_links(user).map_err(|e| e.to_string())? {
        println!(
            "{:<8}  {:<24}  {:<20}  {:<20}  {:<6}  {}",
            l.short_id(),
            l.user,
            crate::audit::rfc3339(l.issued_at),
            crate::audit::rfc3339(l.expires_at),
            if l.reset { "reset" } else { "enrol" },
            l.state(now).as_str()
        );
    }
    Ok(())
}

fn revoke(dir: &Path, id: &str) -> CliResult {
    let (_, store, audit) = open(dir)?;
    let now = SystemClock.now();
    let id = id.trim().to_ascii_lowercase();
    let matching: Vec<EnrolLinkRecord> =
        store.enrol_links(None).map_err(|e| e.to_string())?.into_iter().filter(|l| l.short_id() == id).collect();
    let link = match matching.as_slice() {
        [one] => one,
        [] => return Err(format!("no enrolment link `{id}` (see `enrol-link list`)")),
        _ => return Err(format!("several links have the short id `{id}`; revoke them by issuing no more and waiting")),
    };
    if !store.revoke_enrol_link(&link.id_hash, now).map_err(|e| e.to_string())? {
        return Err(format!("link {id} is {} already", link.state(now).as_str()));
    }
    audit.record_why(now, &link.user, "cli", "enrol_link_revoke", "ok", None, Some(&format!("link {id}")));
    println!("revoked enrolment link {id} of `{}`", link.user);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
