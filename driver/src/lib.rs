//! TwoFactor ODBC driver.
//!
//! The safe core (handles, diagnostics, connection, statements, conversions) is plain
//! Rust that tests call directly; `ffi` is the thin exported C layer and the only place
//! with `unsafe`.

pub mod catalog;
pub mod conn;
pub mod convert;
pub mod desc;
pub mod diag;
pub mod env;
pub mod functions;
pub mod handles;
pub mod info;
pub mod log;
pub mod stmt;

mod ffi;
