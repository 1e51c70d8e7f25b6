//! The driver's connection-string parser (SQLDriverConnect's input, from any
//! application): never a panic; masking secrets and quoting never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactorodbc::conn::connection_string::{build, mask_secrets, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = mask_secrets(text);
    if let Ok(pairs) = parse(text) {
        let _ = build(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
});
