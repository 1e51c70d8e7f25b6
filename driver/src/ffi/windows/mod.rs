//! The Windows side of the C boundary (`#[cfg(windows)]`): what the Unix build gets from
//! dlopen/dladdr and pipes, and what only Windows asks of a driver (the setup entry
//! points the ODBC Data Source Administrator calls).

pub(crate) mod cert_store;
pub(crate) mod host;
pub(crate) mod installer;
pub(crate) mod memory;
mod setup;
