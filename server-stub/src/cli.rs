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

mod audit_log;
mod backup_codes;
mod carrier;
mod enrol;
mod enrol_link;
mod letter;
mod serve;
mod service_account;
mod store;
mod tickets;
mod user;

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
    /// Accounts for unattended jobs: a key pair or a client certificate, no second factor.
    #[command(subcommand)]
    ServiceAccount(service_account::ServiceAccountCommand),
    /// One-time links to the enrolment web page (`[enrol_web]`, docs/enrolment-links.md).
    EnrolLink(enrol_link::EnrolLinkArgs),
    /// Enrol a user's TOTP key and write it as a printable activation letter (PDF, 0600).
    Letter(letter::LetterArgs),
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
        /// A directory user ([ldap], docs/ldap.md): no local password, first factor `ldap`.
        #[arg(long, conflicts_with = "password_stdin")]
        directory: bool,
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
    /// Which mechanism checks this user's password (docs/ldap.md): `ldap`, `local`, or
    /// `default` for the server's auth.first_factor list.
    FirstFactor {
        name: String,
        mechanism: FirstFactorArg,
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
    /// The user's two-factor tickets and ticket policy (docs/tickets.md).
    Tickets {
        name: String,
        #[command(subcommand)]
        action: tickets::TicketsCommand,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FirstFactorArg {
    Ldap,
    Local,
    /// The server's `auth.first_factor` list.
    Default,
}

impl FirstFactorArg {
    fn mechanism(self) -> Option<crate::first_factor::Mechanism> {
        use crate::first_factor::Mechanism;
        match self {
            FirstFactorArg::Ldap => Some(Mechanism::Ldap),
            FirstFactorArg::Local => Some(Mechanism::Local),
            FirstFactorArg::Default => None,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Totp,
    Sms,
    Email,
    None,
    /// The site's hook decides (`[hook]`, docs/delegated-second-factor.md).
    Delegated,
}

impl MethodArg {
    fn method(self) -> Method {
        match self {
            MethodArg::Totp => Method::Totp,
            MethodArg::Sms => Method::Sms,
            MethodArg::Email => Method::Email,
            MethodArg::None => Method::None,
            MethodArg::Delegated => Method::Delegated,
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
        Command::Serve { listen } => serve::serve(&dir, listen),
        Command::User(cmd) => user::run(&dir, cmd),
        Command::Totp(TotpCommand::Enrol(args)) => enrol::enrol(&dir, args, false),
        Command::Totp(TotpCommand::Reset(args)) => enrol::enrol(&dir, args, true),
        Command::Totp(TotpCommand::Import { name, uri }) => enrol::import(&dir, &name, &uri),
        Command::Carrier(cmd) => carrier::run(&dir, cmd),
        Command::BackupCodes(BackupCommand::Generate { name }) => backup_codes::generate(&dir, &name),
        Command::Audit { user, event, since, last } => audit_log::run(&dir, user, event, since, last),
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
        Command::ServiceAccount(cmd) => service_account::run(&dir, cmd),
        Command::EnrolLink(args) => enrol_link::run(&dir, args),
        Command::Letter(args) => letter::run(&dir, args),
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
