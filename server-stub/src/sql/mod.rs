//! SQL on SQLite. Each logged-in session owns one [`SqlWorker`]: a thread holding the
//! session's database connection, so SQLite never blocks the async executor, and an open
//! cursor can stay alive between Fetch requests without holding the result in memory.

mod catalog;
mod catalog_privileges;
mod cursor;
pub mod errors;
mod open;
mod param_types;
mod read_only;
mod type_info;
pub mod types;
mod worker;

pub use open::SqlLimits;
pub use worker::{Request, SqlWorker, WorkerSettings};
