//! Harness of the end-to-end tests: starts the real `twofactor-server` binary on an
//! ephemeral port with its own data directory, enrols users through its command line,
//! computes TOTP codes the way an authenticator app does, and talks to the driver only
//! through the unixODBC driver manager (odbc-api for the wide entry points, raw odbc-sys
//! calls in [`raw`] for narrow and wide). The crate never links the driver: its `SQL*`
//! exports would shadow the driver manager's.
//!
//! The binaries must be built first (`cargo build --workspace`, as `scripts/test.sh`
//! does); the harness finds them beside the test executable (`target/<profile>/`) or
//! through `TWOFACTOR_SERVER_BIN` and `TWOFACTOR_DRIVER`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub mod hardening;
pub mod odbc;
pub mod pg;
pub mod raw;
pub mod raw_attr;
pub mod raw_stmt;
pub mod server;
pub mod smtp_sink;
pub mod statement;
pub mod tmux;

pub use server::{ServerOptions, TestServer, User};

/// `target/<profile>/`: the test executable lives in `target/<profile>/deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("the test executable has a directory");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") { deps.parent().unwrap() } else { deps };
    dir.to_path_buf()
}

fn built_artifact(env: &str, file: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let path = profile_dir().join(file);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`, as scripts/test.sh does) \
         or set {env}",
        path.display()
    );
    path
}

/// The server binary (`TWOFACTOR_SERVER_BIN` overrides).
pub fn server_binary() -> PathBuf {
    built_artifact("TWOFACTOR_SERVER_BIN", "twofactor-server")
}

/// The interactive client `twofactor-sql` (`TWOFACTOR_SQL_BIN` overrides).
pub fn sql_client_binary() -> PathBuf {
    built_artifact("TWOFACTOR_SQL_BIN", "twofactor-sql")
}

/// The driver's shared library (`TWOFACTOR_DRIVER` overrides).
pub fn driver_library() -> PathBuf {
    built_artifact("TWOFACTOR_DRIVER", "libtwofactorodbc.so")
}

/// Points unixODBC at an empty per-process configuration (ODBCSYSINI, ODBCINI) so the
/// machine's /etc/odbcinst.ini and ~/.odbc.ini play no part. Called before the first
/// ODBC call of every test; environment variables are process-wide, so this is done
/// once and never changed afterwards.
pub fn isolate_odbc_config() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("twofactor-odbcini-").tempdir().expect("tempdir");
        std::fs::write(dir.path().join("odbcinst.ini"), "").unwrap();
        std::fs::write(dir.path().join("odbc.ini"), "").unwrap();
        // Safety of set_var: this runs before any ODBC call of this process (every test
        // calls it first) and the value never changes afterwards.
        std::env::set_var("ODBCSYSINI", dir.path());
        std::env::set_var("ODBCINI", dir.path().join("odbc.ini"));
        dir
    })
    .path()
}

/// Quotes a connection-string value with braces when it needs them (`}` doubled).
pub fn quote_value(value: &str) -> String {
    if value.contains([';', '{', '}', '=', ' ']) || value.starts_with(' ') {
        format!("{{{}}}", value.replace('}', "}}"))
    } else {
        value.to_owned()
    }
}
