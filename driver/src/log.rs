//! Driver logging for support: a `log` implementation that writes to the file named by
//! `LogFile` (or `TWOFACTOR_ODBC_LOG_FILE`), or to stderr when only a level is set, at
//! `LogLevel` (or `TWOFACTOR_ODBC_LOG`). Installed once per process. Every line passes
//! through `mask_secrets`, so a connection string logged anywhere shows no password or
//! code even if a caller forgot to mask it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{LevelFilter, Log, Metadata, Record};
use once_cell::sync::{Lazy, OnceCell};

use crate::conn::connection_string::mask_secrets;

pub const ENV_LEVEL: &str = "TWOFACTOR_ODBC_LOG";
pub const ENV_FILE: &str = "TWOFACTOR_ODBC_LOG_FILE";

enum Sink {
    None,
    Stderr,
    File(File),
}

struct DriverLogger {
    sink: Mutex<Sink>,
}

static LOGGER: Lazy<DriverLogger> = Lazy::new(|| DriverLogger { sink: Mutex::new(Sink::None) });
static INSTALLED: OnceCell<bool> = OnceCell::new();

pub fn parse_level(s: &str) -> Option<LevelFilter> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "off" | "none" | "0" | "no" => LevelFilter::Off,
        "error" | "1" => LevelFilter::Error,
        "warn" | "warning" | "2" => LevelFilter::Warn,
        "info" | "3" | "yes" => LevelFilter::Info,
        "debug" | "4" => LevelFilter::Debug,
        "trace" | "5" => LevelFilter::Trace,
        _ => return None,
    })
}

fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        // Fails when the host (a Rust program linking the rlib) already has a logger;
        // then its logger gets our records and our configuration is moot.
        let ok = log::set_logger(&*LOGGER).is_ok();
        if ok {
            log::set_max_level(LevelFilter::Off);
        }
        ok
    })
}

/// Applies `TWOFACTOR_ODBC_LOG` / `TWOFACTOR_ODBC_LOG_FILE`; called when an environment
/// handle is allocated.
pub fn install_from_environment() {
    let level = std::env::var(ENV_LEVEL).ok();
    let file = std::env::var(ENV_FILE).ok().filter(|f| !f.trim().is_empty());
    if level.is_none() && file.is_none() {
        install();
        return;
    }
    configure(file.as_deref(), level.as_deref());
}

/// Applies the `LogFile` / `LogLevel` DSN keys. The environment variables win: support
/// staff set them to override what a DSN says. A file without a level logs at info.
pub fn configure_from_dsn(file: Option<&str>, level: Option<&str>) {
    let env_level = std::env::var(ENV_LEVEL).ok();
    let env_file = std::env::var(ENV_FILE).ok().filter(|f| !f.trim().is_empty());
    let file = env_file.as_deref().or(file.filter(|f| !f.trim().is_empty()));
    let level = env_level.as_deref().or(level);
    if file.is_none() && level.is_none() {
        return;
    }
    configure(file, level);
}

fn configure(file: Option<&str>, level: Option<&str>) {
    if !install() {
        return;
    }
    let level = match level.map(|l| (l, parse_level(l))) {
        Some((_, Some(l))) => l,
        Some((raw, None)) => {
            eprintln!("[TwoFactor][ODBC Driver] unknown log level {raw:?}; using info");
            LevelFilter::Info
        }
        None => LevelFilter::Info,
    };
    let mut sink = LOGGER.sink.lock().unwrap_or_else(|e| e.into_inner());
    *sink = match file {
        Some(path) => match OpenOptions::new().create(true).append(true).open(path.trim()) {
            Ok(f) => Sink::File(f),
            Err(e) => {
                eprintln!("[TwoFactor][ODBC Driver] cannot open log file {path:?}: {e}; logging to stderr");
                Sink::Stderr
            }
        },
        None => Sink::Stderr,
    };
    log::set_max_level(if matches!(*sink, Sink::None) { LevelFilter::Off } else { level });
}

impl Log for DriverLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let text = mask_secrets(&record.args().to_string());
        let line = format!(
            "{}.{:03} {:5} [{}:{:?}] {}: {}\n",
            now.as_secs(),
            now.subsec_millis(),
            record.level(),
            std::process::id(),
            std::thread::current().id(),
            record.target(),
            text
        );
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        // A full disk or closed stderr must not fail an ODBC call.
        let _ = match &mut *sink {
            Sink::None => Ok(()),
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Sink::File(f) => f.write_all(line.as_bytes()),
        };
    }

    fn flush(&self) {
        if let Sink::File(f) = &mut *self.sink.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_parse_by_name_and_number() {
        assert_eq!(parse_level("DEBUG"), Some(LevelFilter::Debug));
        assert_eq!(parse_level(" off "), Some(LevelFilter::Off));
        assert_eq!(parse_level("2"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("loud"), None);
    }
}
