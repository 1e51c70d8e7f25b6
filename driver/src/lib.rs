//! TwoFactor ODBC driver.
//!
//! The safe core (handles, diagnostics, connection, statements, conversions) is plain
//! Rust that tests call directly; `ffi` is the thin exported C layer and the only place
//! with `unsafe`.

pub mod conn;
pub mod desc;
pub mod diag;
pub mod env;
pub mod handles;
pub mod stmt;

mod ffi;
