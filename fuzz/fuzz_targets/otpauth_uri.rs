//! The server's otpauth:// URI parser (`totp import`, `users import`): never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor_server::totp::parse_otpauth_uri;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_otpauth_uri(text);
    }
});
