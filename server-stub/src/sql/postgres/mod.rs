//! SQL on PostgreSQL (placeholder while the backend is written).
use std::sync::mpsc;
use std::sync::Arc;

use crate::sql::thread::{Job, Shared};
use crate::sql::{CancelHandle, StartError};

#[derive(Debug)]
pub struct PgSettings;

pub fn start(
    _settings: &PgSettings,
    _user: &str,
    _autocommit: bool,
    _shared: Arc<Shared>,
    _jobs: mpsc::Receiver<Job>,
) -> Result<CancelHandle, StartError> {
    Err(StartError::new(twofactor_protocol::ErrorInfo::new(b"HY000", 0, "not yet"), "not yet"))
}
