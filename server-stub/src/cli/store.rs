//! `store migrate`: applies the PostgreSQL store's schema migrations ahead of a rollout
//! (servers and admin commands apply them too when they open the store; this one says
//! what it did). A SQLite store brings its own schema up to date whenever it is opened.

use std::path::Path;

use clap::Subcommand;

use crate::config::Config;
use crate::store::{PgStoreSettings, PostgresUserStore, SqliteUserStore, SCHEMA_VERSION, USERS_FILE};

#[derive(Subcommand)]
pub(super) enum StoreCommand {
    /// Apply the schema migrations the PostgreSQL store lacks (under a lock: safe while
    /// other instances start); refuses a store newer than this binary.
    Migrate,
}

pub(super) fn run(dir: &Path, cmd: StoreCommand) -> Result<(), String> {
    match cmd {
        StoreCommand::Migrate => migrate(dir),
    }
}

fn migrate(dir: &Path) -> Result<(), String> {
    let config = Config::load(dir).map_err(|e| e.to_string())?;
    let Some(settings) = PgStoreSettings::from_config(&config).map_err(|e| e.to_string())? else {
        SqliteUserStore::open(&dir.join(USERS_FILE)).map_err(|e| e.to_string())?;
        println!("the user store is SQLite ({}); its schema is up to date", dir.join(USERS_FILE).display());
        return Ok(());
    };
    let store = PostgresUserStore::open_unmigrated(&settings).map_err(|e| e.to_string())?;
    let (before, after) = store.migrate().map_err(|e| e.to_string())?;
    if before == after {
        println!("user store {}: schema version {after}, up to date", store.url());
    } else {
        println!("user store {}: schema version {after} (was {before})", store.url());
    }
    debug_assert!(after >= SCHEMA_VERSION);
    Ok(())
}
