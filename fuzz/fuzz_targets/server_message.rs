//! What the driver decodes from any server (or anyone in between): never a panic, and
//! what decodes re-encodes to a message that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor_protocol::{ServerMessage, MAX_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((message, used))) = ServerMessage::decode(data, MAX_FRAME_LEN) {
        assert!(used <= data.len());
        let mut again = Vec::new();
        message.encode(&mut again);
        let (decoded, used_again) = ServerMessage::decode(&again, MAX_FRAME_LEN)
            .expect("a re-encoded message decodes")
            .expect("a re-encoded message is complete");
        assert_eq!(used_again, again.len());
        assert_eq!(decoded, message);
        // Reading every value of a received batch (what SQLFetch does) never panics.
        if let ServerMessage::Rows { batch, .. } = &decoded {
            for row in 0..batch.rows() {
                batch.row(row).for_each(drop);
            }
        }
    }
});
