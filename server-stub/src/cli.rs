//! The `twofactor-server` command line: `init`, `serve`, and the admin commands. Admin
//! commands open the same user store as a running server (SQLite in WAL mode, or the
//! PostgreSQL store `[store] url` names), so they take effect at the next login without a
//! restart.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::audit::AuditLog;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::{SecretsKey, KEY_FILE};
use crate::init::{init_data_dir, InitOptions};
use crate::password::{hash_password, HashCost};
use crate::store::{Carrier, Method, TotpEnrolment, UserRecord, UserStore};
use crate::totp::{self, Algorithm, TotpParams};
use crate::Server;

mod store;

#[derive(Parser)]
#[command(
    name = "twofactor-server",
    version,
    about = "TwoFactor server: password, then a second factor (TOTP, SMS or e-mail code, backup code), then SQL on SQLite, over TLS"
)]
struct Cli {
    /// The data directory `init` created.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: config, CA and server certificate, secrets key, databases.
    Init {
        #[arg(long, default_value = "127.0.0.1:7443")]
        listen: String,
        /// A DNS name (or IP) for the server certificate; repeat for more. Default: localhost.
        #[arg(long = "hostname", value_name = "NAME")]
        hostnames: Vec<String>,
    },
    /// Serve until SIGINT or SIGTERM.
    Serve {
        /// Overrides `server.listen`; port 0 picks a free port.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Enrol, reset or import a user's TOTP key.
    #[command(subcommand)]
    Totp(TotpCommand),
    /// Switch two-factor authentication on or off for the whole server.
    TwoFactor { state: OnOff },
    /// SMS carriers' e-mail gateways (`<number>@<gateway>`); IRIS's list is the default.
    #[command(subcommand)]
    Carrier(CarrierCommand),
    /// Single-use backup codes for a lost phone.
    #[command(subcommand)]
    BackupCodes(BackupCommand),
    /// Read the audit log, filtered; prints the matching JSON lines.
    Audit {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        event: Option<String>,
        /// Events at or after this time (RFC 3339, e.g. 2026-01-02T03:04:05Z, or a date).
        #[arg(long, conflicts_with = "last")]
        since: Option<String>,
        /// Only the last N matching events.
        #[arg(long)]
        last: Option<usize>,
    },
    /// Move users between servers.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The user store itself (PostgreSQL schema migrations).
    #[command(subcommand)]
    Store(store::StoreCommand),
}

#[derive(Subcommand)]
enum CarrierCommand {
    List,
    Add { name: String, gateway: String },
    Edit { name: String, gateway: String },
    Remove { name: String },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Print 10 new single-use codes (the old ones stop working); stored hashed.
    Generate { name: String },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Write every user to FILE (JSON, mode 0600): password hashes, sealed secrets (still
    /// encrypted), numbers, addresses, backup-code hashes, and the secrets key's id.
    Export { file: PathBuf },
    /// Read users from FILE (or straight from a SQLite users.db with --from-sqlite, e.g.
    /// into a PostgreSQL store). From a server with another secrets.key, pass that key
    /// with --secrets-key to re-encrypt the TOTP secrets (backup codes cannot move then).
    Import {
        #[arg(required_unless_present = "from_sqlite", conflicts_with = "from_sqlite")]
        file: Option<PathBuf>,
        /// A SQLite user store (a data directory's users.db) to read instead of FILE.
        #[arg(long, value_name = "USERS_DB")]
        from_sqlite: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        secrets_key: Option<PathBuf>,
        /// Overwrite users that exist already (default: refuse the import).
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; two-factor is required by default (enrol with `totp enrol`).
    Add {
        name: String,
        /// Read the password from one line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with method, status, 2FA requirement and failed attempts.
    List,
    /// Unlock a locked user and reset the failure count.
    Unlock {
        name: String,
    },
    Remove {
        name: String,
    },
    /// Require two-factor for this user, or not.
    TwoFactor {
        name: String,
        state: OnOff,
    },
    /// Set a new password.
    Password {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Choose the active second-factor method (the others stay enrolled).
    Method {
        name: String,
        method: MethodArg,
    },
    /// Enrol a phone number for SMS codes (E.164, e.g. +15551234567).
    Phone {
        name: String,
        number: String,
        /// The carrier whose e-mail gateway carries the SMS (see `carrier list`); needed
        /// unless sms.provider = "http".
        #[arg(long)]
        carrier: Option<String>,
    },
    /// Enrol an e-mail address for e-mailed codes.
    Email {
        name: String,
        address: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Totp,
    Sms,
    Email,
    None,
}

impl MethodArg {
    fn method(self) -> Method {
        match self {
            MethodArg::Totp => Method::Totp,
            MethodArg::Sms => Method::Sms,
            MethodArg::Email => Method::Email,
            MethodArg::None => Method::None,
        }
    }
}

#[derive(Subcommand)]
enum TotpCommand {
    /// Give a user a TOTP key: prints the secret, the otpauth URI and a QR code.
    #[command(alias = "enroll")]
    Enrol(EnrolArgs),
    /// Replace a user's TOTP key; the old one stops working at once.
    Reset(EnrolArgs),
    /// Enrol an existing key from an `otpauth://totp/...` URI (replaces any key).
    Import { name: String, uri: String },
}

#[derive(Args)]
struct EnrolArgs {
    name: String,
    /// Also write the QR code as a PNG image.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// 6 or 8; default `totp.digits`.
    #[arg(long)]
    digits: Option<u32>,
    /// SHA1, SHA256 or SHA512; default `totp.algorithm`.
    #[arg(long)]
    algorithm: Option<String>,
    /// Print only the base-32 secret (for scripts).
    #[arg(long, alias = "quiet-secret-only")]
    secret_only: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn on(self) -> bool {
        matches!(self, OnOff::On)
    }
}

type CliResult = Result<(), String>;

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("twofactor-server: {e}");
            1
        }
    }
}

fn data_dir(cli: &Cli) -> Result<PathBuf, String> {
    cli.data_dir.clone().ok_or_else(|| "--data-dir DIR is required".to_string())
}

fn run(cli: Cli) -> CliResult {
    let dir = data_dir(&cli)?;
    match cli.command {
        Command::Init { listen, hostnames } => {
            let hostnames = if hostnames.is_empty() { vec!["localhost".to_string()] } else { hostnames };
            init_data_dir(&dir, &InitOptions { listen, hostnames }).map_err(|e| e.to_string())?;
            println!("initialised {}", dir.display());
            println!("next: twofactor-server user add --data-dir {} NAME", dir.display());
            Ok(())
        }
        Command::Serve { listen } => serve(&dir, listen),
        Command::User(cmd) => user(&dir, cmd),
        Command::Totp(TotpCommand::Enrol(args)) => enrol(&dir, args, false),
        Command::Totp(TotpCommand::Reset(args)) => enrol(&dir, args, true),
        Command::Totp(TotpCommand::Import { name, uri }) => totp_import(&dir, &name, &uri),
        Command::Carrier(cmd) => carrier(&dir, cmd),
        Command::BackupCodes(BackupCommand::Generate { name }) => backup_codes(&dir, &name),
        Command::Audit { user, event, since, last } => audit(&dir, user, event, since, last),
        Command::Users(UsersCommand::Export { file }) => crate::transfer::export(&dir, &file),
        Command::Users(UsersCommand::Import { file, from_sqlite, secrets_key, replace }) => {
            let source = match (file, from_sqlite) {
                (_, Some(db)) => crate::transfer::Source::Sqlite(db),
                (Some(f), None) => crate::transfer::Source::File(f),
                (None, None) => return Err("users import needs FILE or --from-sqlite USERS_DB".into()),
            };
            crate::transfer::import(&dir, &source, secrets_key.as_deref(), replace)
        }
        Command::Store(cmd) => store::run(&dir, cmd),
        Command::TwoFactor { state } => {
            let (_, store, audit) = open(&dir)?;
            store.set_two_factor_setting(state.on()).map_err(|e| e.to_string())?;
            audit.record(SystemClock.now(), "*", "cli", "two_factor", if state.on() { "on" } else { "off" }, None);
            println!("two-factor authentication is {} for the whole server", if state.on() { "on" } else { "off" });
            Ok(())
        }
    }
}

/// The data directory's config, its user store (migrated if it is PostgreSQL's and
/// behind) and its audit log.
pub(crate) fn open(dir: &Path) -> Result<(Config, Arc<dyn UserStore>, AuditLog), String> {
    let config = Config::load(dir).map_err(|e| e.to_string())?;
    let store = crate::store::open(&config).map_err(|e| e.to_string())?;
    let audit_path = config.path(&config.audit.file);
    let audit = AuditLog::open(&audit_path).map_err(|e| format!("{}: {e}", audit_path.display()))?;
    Ok((config, store, audit))
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the password: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").map_err(|e| format!("reading the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| format!("reading the password: {e}"))?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(password)
}

fn user(dir: &Path, cmd: UserCommand) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let now = SystemClock.now();
    let err = |e: crate::store::StoreError| e.to_string();
    match cmd {
        UserCommand::Add { name, password_stdin } => {
            if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
                return Err("a user name must be non-empty, without `:` or control characters".into());
            }
            let hash = hash_password(&read_password(password_stdin)?, HashCost::from_config(&config.auth))?;
            store.create_user(&name, &hash).map_err(err)?;
            audit.record(now, &name, "cli", "user_add", "ok", None);
            println!("added user `{name}` (two-factor required; enrol with: twofactor-server totp enrol --data-dir {} {name})", dir.display());
        }
        UserCommand::List => {
            let users = store.users().map_err(err)?;
            println!(
                "{:<24} {:<7} {:<11} {:<4} {:<6} {:<9} {:<6} CONTACT",
                "NAME", "METHOD", "STATUS", "2FA", "FAILED", "PW-FAILED", "BACKUP"
            );
            for u in users {
                let two = if u.two_factor_required { "yes" } else { "no" };
                let mut contact = Vec::new();
                if u.totp.is_some() {
                    contact.push("totp".to_string());
                }
                if let Some(p) = &u.phone {
                    contact
                        .push(format!("sms {p}{}", u.carrier.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()));
                }
                if let Some(e) = &u.email {
                    contact.push(format!("email {e}"));
                }
                println!(
                    "{:<24} {:<7} {:<11} {:<4} {:<6} {:<9} {:<6} {}",
                    u.name,
                    u.method,
                    u.status(now),
                    two,
                    u.failed_second_factor,
                    u.failed_first_factor,
                    u.backup_codes_left,
                    contact.join(", ")
                );
            }
        }
        UserCommand::Unlock { name } => {
            store.unlock(&name).map_err(err)?;
            audit.record(now, &name, "cli", "unlock", "ok", None);
            println!("unlocked `{name}`");
        }
        UserCommand::Remove { name } => {
            store.remove_user(&name).map_err(err)?;
            audit.record(now, &name, "cli", "user_remove", "ok", None);
            println!("removed `{name}`");
        }
        UserCommand::TwoFactor { name, state } => {
            store.set_two_factor_required(&name, state.on()).map_err(err)?;
            audit.record(now, &name, "cli", "user_two_factor", if state.on() { "on" } else { "off" }, None);
            println!("two-factor for `{name}`: {}", if state.on() { "required" } else { "not required" });
        }
        UserCommand::Password { name, password_stdin } => {
            if store.user(&name).map_err(err)?.is_none() {
                return Err(format!("no user `{name}`"));
            }
            let hash = hash_password(&read_password(password_stdin)?, HashCost::from_config(&config.auth))?;
            store.set_password(&name, &hash).map_err(err)?;
            audit.record(now, &name, "cli", "password_change", "ok", None);
            println!("password of `{name}` changed");
        }
        UserCommand::Method { name, method } => {
            let Some(u) = store.user(&name).map_err(err)? else {
                return Err(format!("no user `{name}`"));
            };
            let m = method.method();
            let missing = match m {
                Method::Totp if u.totp.is_none() => {
                    Some(format!("enrol a key first: twofactor-server totp enrol {name}"))
                }
                Method::Sms if u.phone.is_none() => Some(format!(
                    "enrol a number first: twofactor-server user phone {name} +15551234567 --carrier NAME"
                )),
                Method::Email if u.email.is_none() => {
                    Some(format!("enrol an address first: twofactor-server user email {name} {name}@example.com"))
                }
                _ => None,
            };
            if let Some(hint) = missing {
                return Err(format!("`{name}` has no {} enrolled; {hint}", m.as_str()));
            }
            store.set_method(&name, m).map_err(err)?;
            audit.record(now, &name, "cli", "user_method", "ok", Some(m.as_str()));
            println!("second factor of `{name}`: {}", m.as_str());
            if !method_enabled(&config, m) {
                println!(
                    "warning: {} is switched off in [methods]; this user cannot log in until it is on",
                    m.as_str()
                );
            }
        }
        UserCommand::Phone { name, number, carrier } => {
            let Some(u) = store.user(&name).map_err(err)? else {
                return Err(format!("no user `{name}`"));
            };
            let phone = crate::contact::normalize_phone(&number)?;
            let carrier = match carrier {
                Some(c) => Some(
                    store
                        .carrier(&c)
                        .map_err(err)?
                        .ok_or_else(|| format!("no carrier `{c}`; see `twofactor-server carrier list`"))?
                        .name,
                ),
                None if config.sms.provider == "gateway" => return Err(
                    "--carrier NAME is required while sms.provider = \"gateway\" (see `twofactor-server carrier list`)"
                        .into(),
                ),
                None => None,
            };
            store.set_phone(&name, Some(&phone), carrier.as_deref()).map_err(err)?;
            audit.record(now, &name, "cli", "user_phone", "ok", Some("SMS"));
            println!("`{name}`: SMS to {phone}{}", carrier.map(|c| format!(" via {c}")).unwrap_or_default());
            activate_if_unenrolled(store.as_ref(), &audit, &u, Method::Sms, now)?;
        }
        UserCommand::Email { name, address } => {
            let Some(u) = store.user(&name).map_err(err)? else {
                return Err(format!("no user `{name}`"));
            };
            let address = crate::contact::normalize_email(&address)?;
            store.set_email(&name, Some(&address)).map_err(err)?;
            audit.record(now, &name, "cli", "user_email", "ok", Some("EMAIL"));
            println!("`{name}`: codes by e-mail to {address}");
            activate_if_unenrolled(store.as_ref(), &audit, &u, Method::Email, now)?;
        }
    }
    Ok(())
}

fn method_enabled(config: &Config, m: Method) -> bool {
    match m {
        Method::Totp => config.methods.totp,
        Method::Sms => config.methods.sms,
        Method::Email => config.methods.email,
        Method::None => true,
    }
}

/// A user whose active method has nothing enrolled gets the one just enrolled.
fn activate_if_unenrolled(
    store: &dyn UserStore,
    audit: &AuditLog,
    before: &UserRecord,
    m: Method,
    now: i64,
) -> CliResult {
    if before.active_method() == m {
        return Ok(());
    }
    if before.method_enrolled() && before.active_method() != Method::None {
        println!(
            "the active method stays {}; switch with: twofactor-server user method {} {}",
            before.active_method().as_str(),
            before.name,
            m.as_str().to_ascii_lowercase()
        );
        return Ok(());
    }
    if before.active_method() == Method::None {
        println!(
            "the active method stays NONE; switch with: twofactor-server user method {} {}",
            before.name,
            m.as_str().to_ascii_lowercase()
        );
        return Ok(());
    }
    store.set_method(&before.name, m).map_err(|e| e.to_string())?;
    audit.record(now, &before.name, "cli", "user_method", "ok", Some(m.as_str()));
    println!("active method of `{}`: {}", before.name, m.as_str());
    Ok(())
}

fn carrier(dir: &Path, cmd: CarrierCommand) -> CliResult {
    let (_, store, audit) = open(dir)?;
    let now = SystemClock.now();
    let err = |e: crate::store::StoreError| e.to_string();
    match cmd {
        CarrierCommand::List => {
            println!("{:<24} GATEWAY", "CARRIER");
            for c in store.carriers().map_err(err)? {
                println!("{:<24} {}", c.name, c.gateway);
            }
        }
        CarrierCommand::Add { name, gateway } | CarrierCommand::Edit { name, gateway } if name.trim().is_empty() => {
            let _ = gateway;
            return Err("a carrier name must not be empty".into());
        }
        CarrierCommand::Add { name, gateway } => put_carrier(store.as_ref(), &audit, now, name, &gateway, true)?,
        CarrierCommand::Edit { name, gateway } => put_carrier(store.as_ref(), &audit, now, name, &gateway, false)?,
        CarrierCommand::Remove { name } => {
            let users: Vec<String> = store
                .users()
                .map_err(err)?
                .into_iter()
                .filter(|u| u.carrier.as_deref() == Some(name.as_str()))
                .map(|u| u.name)
                .collect();
            store.remove_carrier(&name).map_err(err)?;
            audit.record_why(now, "*", "cli", "carrier_remove", "ok", None, Some(&name));
            println!("removed carrier `{name}`");
            if !users.is_empty() {
                println!("warning: these users' SMS went through it: {}", users.join(", "));
            }
        }
    }
    Ok(())
}

/// `carrier add` (`adding`) and `carrier edit`: one carrier written, audited and echoed.
fn put_carrier(
    store: &dyn UserStore,
    audit: &AuditLog,
    now: i64,
    name: String,
    gateway: &str,
    adding: bool,
) -> CliResult {
    let gateway = crate::contact::check_gateway(gateway)?;
    store.put_carrier(&Carrier { name: name.clone(), gateway: gateway.clone() }, adding).map_err(|e| match e {
        crate::store::StoreError::AlreadyExists(n) if adding => {
            format!("carrier `{n}` exists already; use `carrier edit`")
        }
        e => e.to_string(),
    })?;
    let event = if adding { "carrier_add" } else { "carrier_edit" };
    audit.record_why(now, "*", "cli", event, "ok", None, Some(&format!("{name} {gateway}")));
    if adding {
        println!("added carrier `{name}`: <number>@{gateway}");
    } else {
        println!("carrier `{name}`: <number>@{gateway}");
    }
    Ok(())
}

fn backup_codes(dir: &Path, name: &str) -> CliResult {
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

fn audit(
    dir: &Path,
    user: Option<String>,
    event: Option<String>,
    since: Option<String>,
    last: Option<usize>,
) -> CliResult {
    let config = Config::load(dir).map_err(|e| e.to_string())?;
    let path = config.path(&config.audit.file);
    let since = match since {
        Some(s) => Some(
            crate::audit::parse_rfc3339(&s)
                .ok_or_else(|| format!("--since `{s}` is not an RFC 3339 time like 2026-01-02T03:04:05Z"))?,
        ),
        None => None,
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut matched: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
        if user.as_deref().is_some_and(|u| field("user") != u)
            || event.as_deref().is_some_and(|e| field("event") != e)
            || since.is_some_and(|t| crate::audit::parse_rfc3339(field("time")).is_none_or(|at| at < t))
        {
            continue;
        }
        matched.push_back(line);
        if let Some(n) = last {
            while matched.len() > n {
                matched.pop_front();
            }
        }
    }
    let mut out = std::io::stdout().lock();
    for l in matched {
        if writeln!(out, "{l}").is_err() {
            break;
        }
    }
    Ok(())
}

fn totp_import(dir: &Path, name: &str, uri: &str) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    if store.user(name).map_err(|e| e.to_string())?.is_none() {
        return Err(format!("no user `{name}`"));
    }
    let parsed = totp::parse_otpauth_uri(uri)?;
    if parsed.period_secs != config.totp.period_secs {
        return Err(format!(
            "the URI's period is {} s but this server's totp.period_secs is {}",
            parsed.period_secs, config.totp.period_secs
        ));
    }
    if parsed.digits != 6 && parsed.digits != 8 {
        return Err(format!("the URI has {} digits; 6 or 8 are supported", parsed.digits));
    }
    let sealed_secret = key.seal(name, &parsed.secret);
    store
        .set_totp(
            name,
            &TotpEnrolment { sealed_secret, algorithm: parsed.algorithm.name().into(), digits: parsed.digits },
        )
        .map_err(|e| e.to_string())?;
    audit.record(SystemClock.now(), name, "cli", "totp_import", "ok", Some("TOTP"));
    println!(
        "imported a TOTP key for `{name}` ({}, {} digits, {} s); TOTP is its active method",
        parsed.algorithm, parsed.digits, parsed.period_secs
    );
    Ok(())
}

fn enrol(dir: &Path, args: EnrolArgs, reset: bool) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    let Some(user) = store.user(&args.name).map_err(|e| e.to_string())? else {
        return Err(format!("no user `{}`", args.name));
    };
    if !reset && user.totp.is_some() {
        return Err(format!("`{}` is enrolled already; use `totp reset` to replace the key", args.name));
    }
    let algorithm: Algorithm = match &args.algorithm {
        Some(a) => a.parse()?,
        None => config.totp_algorithm(),
    };
    let digits = args.digits.unwrap_or(config.totp.digits);
    if digits != 6 && digits != 8 {
        return Err("--digits must be 6 or 8".into());
    }
    let secret = totp::generate_secret(algorithm);
    let sealed_secret = key.seal(&args.name, &secret);
    store
        .set_totp(&args.name, &TotpEnrolment { sealed_secret, algorithm: algorithm.name().into(), digits })
        .map_err(|e| e.to_string())?;
    audit.record(
        SystemClock.now(),
        &args.name,
        "cli",
        if reset { "totp_reset" } else { "totp_enrol" },
        "ok",
        Some("TOTP"),
    );
    let b32 = totp::to_base32(&secret);
    let params = TotpParams { algorithm, digits, period_secs: config.totp.period_secs };
    let uri = totp::otpauth_uri(&config.totp.issuer, &args.name, &secret, &params);
    if let Some(png) = &args.png {
        write_png(&uri, png)?;
    }
    // Write errors (a closed pipe) are ignored: the key is stored already.
    let mut out = std::io::stdout().lock();
    if args.secret_only {
        let _ = writeln!(out, "{b32}");
    } else {
        let _ = writeln!(out, "issuer:    {}", config.totp.issuer);
        let _ = writeln!(out, "account:   {}", args.name);
        let _ = writeln!(out, "secret:    {b32}");
        let _ = writeln!(out, "algorithm: {algorithm}, {digits} digits, {} s period", config.totp.period_secs);
        let _ = writeln!(out, "uri:       {uri}");
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", qr_text(&uri)?);
        if let Some(png) = &args.png {
            let _ = writeln!(out, "QR code written to {}", png.display());
        }
        if reset {
            let _ = writeln!(out, "the previous key no longer works");
        }
    }
    let _ = out.flush();
    Ok(())
}

/// Two rows of modules per line with Unicode half blocks, light quiet zone included.
fn qr_text(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .build())
}

fn write_png(uri: &str, path: &Path) -> CliResult {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    let img = code.render::<image::Luma<u8>>().min_dimensions(256, 256).build();
    img.save_with_format(path, image::ImageFormat::Png).map_err(|e| format!("{}: {e}", path.display()))
}

fn serve(dir: &Path, listen: Option<String>) -> CliResult {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut config = Config::load(dir).map_err(|e| e.to_string())?;
    if let Some(l) = listen {
        config.server.listen = l;
        config.validate(Path::new("--listen")).map_err(|e| e.to_string())?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let signalled = shutdown_signal().map_err(|e| format!("cannot watch for signals: {e}"))?;
        let handle = Server::start(config, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
        println!("listening on {}", handle.local_addr());
        let _ = std::io::stdout().flush();
        signalled.await;
        log::info!("shutting down");
        handle.shutdown().await;
        Ok(())
    })
}

/// Registers for SIGINT and SIGTERM at once and returns a future that ends on either.
/// Registering before the server says it is listening matters: a supervisor (or a test)
/// that signals right after that line must get a graceful shutdown, not the default
/// action that kills the process.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
