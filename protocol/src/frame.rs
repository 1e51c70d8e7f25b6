//! Framing: every message is `tag: u8`, `length: u32 LE`, then `length` payload bytes.

use crate::ProtocolError;

pub const FRAME_HEADER_LEN: usize = 5;
/// Largest frame either side accepts once logged in (a batch of rows or parameters).
pub const MAX_FRAME_LEN: usize = 64 * 1024 * 1024;
/// Largest frame a server accepts before the login is complete, so an unauthenticated
/// peer cannot make it buffer much.
pub const MAX_PREAUTH_FRAME_LEN: usize = 16 * 1024;

/// One frame cut from a byte stream, still undecoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub tag: u8,
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Bytes the frame took from the buffer, header included.
    pub fn wire_len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload.len()
    }
}

/// Cuts the first frame from `buf`. `Ok(None)` means the buffer holds only part of a
/// frame: read more bytes and call again.
pub fn decode_frame(buf: &[u8], max_len: usize) -> Result<Option<Frame<'_>>, ProtocolError> {
    if buf.len() < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let tag = buf[0];
    let len = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > max_len {
        return Err(ProtocolError::FrameTooLarge { len, max: max_len });
    }
    match buf.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) {
        Some(payload) => Ok(Some(Frame { tag, payload })),
        None => Ok(None),
    }
}

/// Starts a frame in `out`; returns the offset `end_frame` needs to patch the length.
pub(crate) fn begin_frame(out: &mut Vec<u8>, tag: u8) -> usize {
    let start = out.len();
    out.push(tag);
    out.extend_from_slice(&[0; 4]);
    start
}

pub(crate) fn end_frame(out: &mut [u8], start: usize) {
    let len = out.len() - start - FRAME_HEADER_LEN;
    let len = u32::try_from(len).expect("frame longer than 4 GiB");
    out[start + 1..start + FRAME_HEADER_LEN].copy_from_slice(&len.to_le_bytes());
}
