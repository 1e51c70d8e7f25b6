//! What the driver decodes from any server (or anyone in between): never a panic, and
//! what decodes re-encodes to a message that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor_protocol::{ServerMessage, MAX_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    // The driver reads a large frame into a buffer of its own and decodes it there: the
    // same bytes decode to the same message (or fail) both ways.
    let own_buffer = ServerMessage::decode_frame_buffer(data.to_vec(), MAX_FRAME_LEN);
    let in_place = ServerMessage::decode(data, MAX_FRAME_LEN);
    match (&own_buffer, &in_place) {
        (Ok(a), Ok(Some((b, used)))) => {
            assert_eq!(*used, data.len(), "decode_frame_buffer took a buffer with bytes after its frame");
            assert_eq!(a, b);
            if matches!(a, ServerMessage::Rows { .. }) {
                // Its Rows header is rewritten in place (the room before the values).
                assert_eq!(a.clone().into_frame(), data, "a Rows frame decoded in its own buffer re-frames to itself");
            }
        }
        (Ok(_), _) => panic!("decode_frame_buffer accepted what decode refuses"),
        (Err(_), Ok(Some((_, used)))) => assert_ne!(*used, data.len(), "decode_frame_buffer refused a whole frame"),
        (Err(_), _) => {}
    }
    if let Ok(Some((message, used))) = in_place {
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
    if let Ok(ServerMessage::Rows { batch, .. }) = &own_buffer {
        for row in 0..batch.rows() {
            batch.row(row).for_each(drop);
        }
    }
});
