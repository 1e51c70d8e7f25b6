//! Which store a data directory uses: PostgreSQL when `[store] url` names one (connected
//! and migrated before anything is served), else SQLite's `users.db` in the data
//! directory, as before.

use std::sync::Arc;

use super::{PgStoreSettings, PostgresUserStore, SqliteUserStore, StoreError, UserStore, USERS_FILE};
use crate::config::Config;

/// Opens the configured store. Blocking (PostgreSQL's client runs its own runtime): call
/// it outside tokio's workers, or through [`open_for_server`].
pub fn open(config: &Config) -> Result<Arc<dyn UserStore>, StoreError> {
    match PgStoreSettings::from_config(config)? {
        Some(settings) => Ok(Arc::new(PostgresUserStore::open(&settings)?)),
        None => Ok(Arc::new(SqliteUserStore::open(&config.data_dir.join(USERS_FILE))?)),
    }
}

/// [`open`] from async code: on the blocking pool.
pub async fn open_for_server(config: &Config) -> Result<Arc<dyn UserStore>, StoreError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || open(&config))
        .await
        .map_err(|e| StoreError::Backend(format!("opening the user store: {e}")))?
}
