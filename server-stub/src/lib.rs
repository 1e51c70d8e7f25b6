//! The TwoFactor server: TLS, then a password, then a second factor (TOTP, or a code
//! sent by SMS or e-mail, or a backup code), then SQL on SQLite.
//!
//! The library holds everything; the `twofactor-server` binary is a thin CLI over it, and
//! tests start servers side by side through [`Server::start`].

pub mod audit;
pub mod auth;
mod cancel_relay;
pub mod cli;
pub mod client_ca;
pub mod clock;
pub mod config;
mod connection;
pub mod contact;
pub mod crypto;
mod enrol_web;
pub mod first_factor;
mod handshake_runtime;
mod health;
pub mod hook;
pub mod init;
mod key_check;
pub mod letter;
mod lifecycle;
pub mod notify;
pub mod password;
pub mod pg_link;
mod proxy_protocol;
pub mod resources;
mod server;
mod session;
pub mod sql;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod totp;
pub mod transfer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigError};
pub use server::{Server, ServerHandle, StartError};
