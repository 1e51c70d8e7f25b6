//! The `twofactor-server` command line: `init`, `serve`, and the admin commands. Admin
//! commands open the same user store as a running server (WAL mode), so they take effect
//! at the next login without a restart.

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
use crate::store::{SqliteUserStore, TotpEnrolment, UserStore, USERS_FILE};
use crate::totp::{self, Algorithm, TotpParams};
use crate::Server;

#[derive(Parser)]
#[command(
    name = "twofactor-server",
    version,
    about = "TwoFactor server: password, then TOTP, then SQL on SQLite, over TLS"
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
    /// Enrol or reset a user's TOTP key.
    #[command(subcommand)]
    Totp(TotpCommand),
    /// Switch two-factor authentication on or off for the whole server.
    TwoFactor { state: OnOff },
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
}

#[derive(Subcommand)]
enum TotpCommand {
    /// Give a user a TOTP key: prints the secret, the otpauth URI and a QR code.
    #[command(alias = "enroll")]
    Enrol(EnrolArgs),
    /// Replace a user's TOTP key; the old one stops working at once.
    Reset(EnrolArgs),
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
    cli.data_dir
        .clone()
        .ok_or_else(|| "--data-dir DIR is required".to_string())
}

fn run(cli: Cli) -> CliResult {
    let dir = data_dir(&cli)?;
    match cli.command {
        Command::Init { listen, hostnames } => {
            let hostnames = if hostnames.is_empty() {
                vec!["localhost".to_string()]
            } else {
                hostnames
            };
            init_data_dir(&dir, &InitOptions { listen, hostnames }).map_err(|e| e.to_string())?;
            println!("initialised {}", dir.display());
            println!(
                "next: twofactor-server user add --data-dir {} NAME",
                dir.display()
            );
            Ok(())
        }
        Command::Serve { listen } => serve(&dir, listen),
        Command::User(cmd) => user(&dir, cmd),
        Command::Totp(TotpCommand::Enrol(args)) => enrol(&dir, args, false),
        Command::Totp(TotpCommand::Reset(args)) => enrol(&dir, args, true),
        Command::TwoFactor { state } => {
            let (_, store, audit) = open(&dir)?;
            store
                .set_two_factor_setting(state.on())
                .map_err(|e| e.to_string())?;
            audit.record(
                SystemClock.now(),
                "*",
                "cli",
                "two_factor",
                if state.on() { "on" } else { "off" },
                None,
            );
            println!(
                "two-factor authentication is {} for the whole server",
                if state.on() { "on" } else { "off" }
            );
            Ok(())
        }
    }
}

fn open(dir: &Path) -> Result<(Config, SqliteUserStore, AuditLog), String> {
    let config = Config::load(dir).map_err(|e| e.to_string())?;
    let store = SqliteUserStore::open(&dir.join(USERS_FILE)).map_err(|e| e.to_string())?;
    let audit_path = config.path(&config.audit.file);
    let audit =
        AuditLog::open(&audit_path).map_err(|e| format!("{}: {e}", audit_path.display()))?;
    Ok((config, store, audit))
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| format!("reading the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("reading the password: {e}"))?;
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
        UserCommand::Add {
            name,
            password_stdin,
        } => {
            if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
                return Err(
                    "a user name must be non-empty, without `:` or control characters".into(),
                );
            }
            let hash = hash_password(
                &read_password(password_stdin)?,
                HashCost::from_config(&config.auth),
            )?;
            store.create_user(&name, &hash).map_err(err)?;
            audit.record(now, &name, "cli", "user_add", "ok", None);
            println!("added user `{name}` (two-factor required; enrol with: twofactor-server totp enrol --data-dir {} {name})", dir.display());
        }
        UserCommand::List => {
            let users = store.users().map_err(err)?;
            println!(
                "{:<24} {:<7} {:<11} {:<4} FAILED",
                "NAME", "METHOD", "STATUS", "2FA"
            );
            for u in users {
                let two = if u.two_factor_required { "yes" } else { "no" };
                println!(
                    "{:<24} {:<7} {:<11} {:<4} {}",
                    u.name,
                    u.method,
                    u.status(now),
                    two,
                    u.failed_second_factor
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
            store
                .set_two_factor_required(&name, state.on())
                .map_err(err)?;
            audit.record(
                now,
                &name,
                "cli",
                "user_two_factor",
                if state.on() { "on" } else { "off" },
                None,
            );
            println!(
                "two-factor for `{name}`: {}",
                if state.on() {
                    "required"
                } else {
                    "not required"
                }
            );
        }
        UserCommand::Password {
            name,
            password_stdin,
        } => {
            if store.user(&name).map_err(err)?.is_none() {
                return Err(format!("no user `{name}`"));
            }
            let hash = hash_password(
                &read_password(password_stdin)?,
                HashCost::from_config(&config.auth),
            )?;
            store.set_password(&name, &hash).map_err(err)?;
            audit.record(now, &name, "cli", "password_change", "ok", None);
            println!("password of `{name}` changed");
        }
    }
    Ok(())
}

fn enrol(dir: &Path, args: EnrolArgs, reset: bool) -> CliResult {
    let (config, store, audit) = open(dir)?;
    let key = SecretsKey::load(&dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    let Some(user) = store.user(&args.name).map_err(|e| e.to_string())? else {
        return Err(format!("no user `{}`", args.name));
    };
    if !reset && user.totp.is_some() {
        return Err(format!(
            "`{}` is enrolled already; use `totp reset` to replace the key",
            args.name
        ));
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
        .set_totp(
            &args.name,
            &TotpEnrolment {
                sealed_secret,
                algorithm: algorithm.name().into(),
                digits,
            },
        )
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
    let params = TotpParams {
        algorithm,
        digits,
        period_secs: config.totp.period_secs,
    };
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
        let _ = writeln!(
            out,
            "algorithm: {algorithm}, {digits} digits, {} s period",
            config.totp.period_secs
        );
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
    let img = code
        .render::<image::Luma<u8>>()
        .min_dimensions(256, 256)
        .build();
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn serve(dir: &Path, listen: Option<String>) -> CliResult {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut config = Config::load(dir).map_err(|e| e.to_string())?;
    if let Some(l) = listen {
        config.server.listen = l;
        config
            .validate(Path::new("--listen"))
            .map_err(|e| e.to_string())?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let handle = Server::start(config, Arc::new(SystemClock))
            .await
            .map_err(|e| e.to_string())?;
        println!("listening on {}", handle.local_addr());
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        log::info!("shutting down");
        handle.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
