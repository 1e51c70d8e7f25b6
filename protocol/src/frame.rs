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
    let Some(len) = frame_payload_len(buf, max_len)? else { return Ok(None) };
    match buf.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) {
        Some(payload) => Ok(Some(Frame { tag: buf[0], payload })),
        None => Ok(None),
    }
}

/// The payload length the header at the start of `buf` announces, checked against
/// `max_len`; `Ok(None)` until the header is there. A reader that learns a frame is large
/// can read the rest of it into a buffer of its own (`ServerMessage::decode_frame_buffer`).
pub fn frame_payload_len(buf: &[u8], max_len: usize) -> Result<Option<usize>, ProtocolError> {
    let Some(header) = buf.get(..FRAME_HEADER_LEN) else { return Ok(None) };
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > max_len {
        return Err(ProtocolError::FrameTooLarge { len, max: max_len });
    }
    Ok(Some(len))
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
