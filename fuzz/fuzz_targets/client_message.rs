//! What the server decodes from any client: never a panic, and what decodes re-encodes
//! to a message that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor_protocol::{ClientMessage, MAX_FRAME_LEN, MAX_PREAUTH_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    for limit in [MAX_PREAUTH_FRAME_LEN, MAX_FRAME_LEN] {
        if let Ok(Some((message, used))) = ClientMessage::decode(data, limit) {
            assert!(used <= data.len());
            let mut again = Vec::new();
            message.encode(&mut again);
            let (decoded, used_again) = ClientMessage::decode(&again, MAX_FRAME_LEN)
                .expect("a re-encoded message decodes")
                .expect("a re-encoded message is complete");
            assert_eq!(used_again, again.len());
            assert_eq!(decoded, message);
        }
    }
});
