//! The row-batch decoder on its own (rows from the server, parameter rows from the
//! driver): never a panic, every value of an accepted batch readable, and the batch
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor_protocol::RowBatch;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = RowBatch::decode_bytes(data) {
        for row in 0..batch.rows() {
            for column in 0..batch.columns() {
                let _ = batch.value(row, column);
            }
        }
        assert_eq!(batch.to_bytes(), data, "an accepted batch re-encodes to its bytes");
    }
});
