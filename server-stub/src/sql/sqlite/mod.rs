//! SQL on SQLite: the server's embedded default. One thread per session holds a rusqlite
//! connection to the data directory's database.

mod catalog;
mod catalog_privileges;
mod cursor;
pub mod errors;
mod open;
mod param_types;
#[cfg(test)]
mod read_ahead_tests;
mod read_only;
mod type_info;
pub mod types;
mod worker;

pub use open::SqlLimits;
pub use worker::{start, WorkerSettings};
