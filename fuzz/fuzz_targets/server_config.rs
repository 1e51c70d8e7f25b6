//! The server's configuration parser (server.toml) and its validation: never a panic,
//! whatever the file says.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use twofactor_server::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(Path::new("/nonexistent"), Path::new("/nonexistent/server.toml"), text);
    }
});
