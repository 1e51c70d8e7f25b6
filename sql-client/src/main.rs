//! `twofactor-sql`: an interactive SQL client for the TwoFactor ODBC driver, through the
//! driver manager (unixODBC). It asks for the password and the second factor on the
//! terminal (showing the method, the masked destination and the time left the driver
//! reports), then offers a line-editing REPL; `-c` and `-f` run scripts. docs/twofactor-sql.md.

mod cancel;
mod commands;
mod error;
mod history;
mod login;
mod odbc_raw;
mod repl;
mod run;
mod script;
mod session;
mod table;
mod two_factor;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use commands::Flow;
use login::Target;
use script::Item;
use session::Session;

/// Exit status of a statement or command that failed in `-c`, `-f` or piped input.
const EXIT_STATEMENT_FAILED: u8 = 1;
/// Exit status when no session could be had: connect, password or second factor.
const EXIT_LOGIN_FAILED: u8 = 2;

#[derive(Parser)]
#[command(name = "twofactor-sql", version, about = "Interactive SQL client for the TwoFactor ODBC driver")]
struct Args {
    /// A DSN name, or a connection string ("DSN=Sales;UID=ann", "Driver=...;Server=...").
    target: String,
    /// The user (UID), when not in the DSN or the connection string.
    #[arg(short = 'U', long)]
    user: Option<String>,
    /// Run SQL (or a backslash command) and exit; may be repeated.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,
    /// Run the statements of FILE ("-": standard input) and exit; may be repeated.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Runs `text` as a script: every statement and command in order, stopping at the first
/// error (printed). The last statement needs no ';'.
fn run_script(session: &Session, text: &str) -> Result<Flow, ()> {
    let (mut items, rest) = script::split(text);
    if !script::is_blank(&rest) {
        items.push(Item::Sql(rest.trim().to_owned()));
    }
    for item in items {
        let result = match &item {
            Item::Sql(sql) => run::run_sql(session, sql).map(|()| Flow::Continue),
            Item::Command(line) => commands::run(session, line),
        };
        match result {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit) => return Ok(Flow::Quit),
            Err(e) => {
                eprintln!("{e}");
                return Err(());
            }
        }
    }
    Ok(Flow::Continue)
}

fn read_file(path: &PathBuf) -> Result<String, String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read standard input: {e}"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let target = Target::parse(&args.target);
    let conn_str = match login::connection_string(&target, args.user.as_deref(), None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_LOGIN_FAILED);
        }
    };
    if let Err(e) = cancel::install() {
        eprintln!("warning: {e}");
    }
    let dsn = target.dsn_name();
    let session = match login::login(&conn_str, &dsn) {
        Ok(session) => session,
        Err(failed) => {
            eprintln!("{}", failed.error);
            if let Some(sentence) = failed.two_factor {
                eprintln!("{sentence}");
            }
            return ExitCode::from(EXIT_LOGIN_FAILED);
        }
    };
    let scripted = !args.commands.is_empty() || !args.files.is_empty();
    if scripted {
        for sql in &args.commands {
            match run_script(&session, sql) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return ExitCode::SUCCESS,
                Err(()) => return ExitCode::from(EXIT_STATEMENT_FAILED),
            }
        }
        for file in &args.files {
            let text = match read_file(file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("ERROR: {e}");
                    return ExitCode::from(EXIT_STATEMENT_FAILED);
                }
            };
            match run_script(&session, &text) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return ExitCode::SUCCESS,
                Err(()) => return ExitCode::from(EXIT_STATEMENT_FAILED),
            }
        }
        return ExitCode::SUCCESS;
    }
    if !std::io::stdin().is_terminal() {
        // Piped input: a script, as with -f -.
        return match read_file(&PathBuf::from("-")).map_err(|e| eprintln!("ERROR: {e}")) {
            Ok(text) => match run_script(&session, &text) {
                Ok(_) => ExitCode::SUCCESS,
                Err(()) => ExitCode::from(EXIT_STATEMENT_FAILED),
            },
            Err(()) => ExitCode::from(EXIT_STATEMENT_FAILED),
        };
    }
    let state = session.two_factor_state().map(|s| s.description).unwrap_or_default();
    let name = if dsn.is_empty() { "twofactor".to_owned() } else { dsn.clone() };
    println!(
        "Connected to {}. {state}\nType \\? for help, \\q to quit.",
        if dsn.is_empty() { "the server" } else { &dsn }
    );
    match repl::run(&session, &name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_STATEMENT_FAILED)
        }
    }
}
