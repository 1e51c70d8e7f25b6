use thiserror::Error;

/// Why a frame could not be decoded. Every variant means the peer is broken or hostile;
/// the receiver closes the connection.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    #[error("unknown message tag 0x{0:02x}")]
    UnknownTag(u8),
    #[error("message 0x{tag:02x} ends early: needed {needed} more bytes")]
    Truncated { tag: u8, needed: usize },
    #[error("message 0x{tag:02x} has {extra} trailing bytes")]
    TrailingBytes { tag: u8, extra: usize },
    #[error("invalid UTF-8 in a text field")]
    InvalidUtf8,
    #[error("unknown value tag 0x{0:02x}")]
    UnknownValueTag(u8),
    #[error("invalid {what}: {value}")]
    InvalidField { what: &'static str, value: i64 },
    #[error("bad magic bytes; the peer does not speak this protocol")]
    BadMagic,
}
