//! The wire protocol spoken between the TwoFactor ODBC driver and the TwoFactor server.
//!
//! This crate only encodes and decodes bytes; it owns no sockets, so the blocking driver
//! and the async server share one definition. See `docs/protocol.md` for the frame layout
//! and the message flow.

mod codec;
mod error;
mod frame;
mod message;
pub mod proof;
mod rows;
mod secret;
pub mod sql_type;
mod value;

pub use error::ProtocolError;
pub use frame::{decode_frame, frame_payload_len, Frame, FRAME_HEADER_LEN, MAX_FRAME_LEN, MAX_PREAUTH_FRAME_LEN};
pub use message::{
    CatalogRequest, ClientMessage, ColumnDesc, ErrorInfo, Nullability, ParamDesc, SecondFactor, SecondFactorMethod,
    ServerMessage, SessionOptions,
};
pub use rows::{RowBatch, RowBatchBuilder};
pub use secret::Secret;
pub use value::{is_plain_decimal, Date, Time, Timestamp, Value, ValueRef};

/// The UTF-8 check both sides run on every text value they receive or read from a
/// database: simdutf8's vectorised check (the same answer as `std::str::from_utf8`, several
/// times faster on long text, which a fetch of long rows spends a good part of its time in).
#[inline]
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

/// Bytes every Hello starts with, so a stray client of another protocol is refused at once.
pub const MAGIC: [u8; 4] = *b"2FAQ";
/// The newest protocol version this build speaks. Version 2 added `SessionOptions`;
/// version 3 the procedure catalogs (`CatalogRequest::Procedures`, `ProcedureColumns`),
/// which a driver sends only to a server that negotiated 3 (older servers would refuse
/// the unknown request), answering them empty itself otherwise. Version 4 added
/// two-factor tickets (`RequestTicket`, `Ticket`, `LoginWithTicket`) and service-account
/// logins (`KeyLogin`, `CertLogin`), which a driver sends only to a version 4 server.
/// Version 5 added the second-factor method `Delegated` (4) in `FirstFactorOk`, which a
/// server sends only to a driver that negotiated 5 (older ones get `Totp`).
pub const PROTOCOL_VERSION: u16 = 5;
/// The first version with tickets and service-account logins.
pub const TICKETS_SINCE_VERSION: u16 = 4;
/// The first version whose drivers understand the second-factor method `Delegated`.
pub const DELEGATED_SINCE_VERSION: u16 = 5;
/// The oldest protocol version this build still speaks: a server serves version 1
/// drivers (which never send `SessionOptions`).
pub const MIN_PROTOCOL_VERSION: u16 = 1;
/// The oldest version the driver offers: it may have to send `SessionOptions`
/// (`ReadOnly`), which a version 1 server would not understand, so such a server refuses
/// the Hello with "unsupported protocol version" instead of ignoring the setting.
pub const DRIVER_MIN_PROTOCOL_VERSION: u16 = 2;

/// Picks the version both sides speak: the highest one in both ranges.
pub fn negotiate_version(client_min: u16, client_max: u16) -> Option<u16> {
    let high = client_max.min(PROTOCOL_VERSION);
    let low = client_min.max(MIN_PROTOCOL_VERSION);
    (low <= high).then_some(high)
}
