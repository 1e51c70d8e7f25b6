//! The row-batch decoder on its own (rows from the server, parameter rows from the
//! driver): never a panic, every value of an accepted batch readable (a text value's bytes
//! are the bytes of its `&str`), and the batch re-encodes to the same bytes, alone or in
//! a Rows frame that decodes back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor_protocol::{RowBatch, ServerMessage, ValueRef, MAX_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = RowBatch::decode_bytes(data) {
        for row in 0..batch.rows() {
            for column in 0..batch.columns() {
                let value = batch.value(row, column);
                match (batch.text_bytes(row, column), value) {
                    (Some(bytes), ValueRef::Text(text)) => assert_eq!(bytes, text.as_bytes()),
                    (None, ValueRef::Text(_)) => panic!("a text value without its bytes"),
                    (Some(_), _) => panic!("bytes of a value that is not text"),
                    (None, _) => {}
                }
            }
        }
        assert_eq!(batch.to_bytes(), data, "an accepted batch re-encodes to its bytes");
        let frame = ServerMessage::Rows { batch: batch.clone(), last: true }.into_frame();
        match ServerMessage::decode(&frame, MAX_FRAME_LEN) {
            Ok(Some((ServerMessage::Rows { batch: again, last: true }, used))) if used == frame.len() => {
                assert_eq!(again, batch, "a Rows frame decodes to its batch")
            }
            other => panic!("a Rows frame of an accepted batch did not decode: {other:?}"),
        }
    }
});
