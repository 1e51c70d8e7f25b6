//! Every message of the protocol, with its encoding. Tags below 0x80 travel from the
//! driver to the server, tags from 0x80 from the server to the driver.

use crate::codec::{Put, Reader};
use crate::frame::{begin_frame, decode_frame, end_frame};
use crate::rows::CheckedBatch;
use crate::{ProtocolError, RowBatch, Secret, MAGIC};

/// How the server checks the second factor of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorMethod {
    Totp,
    Sms,
    Email,
    /// Version 5: the site's own hook checks the code (the hint says where it went, if
    /// anywhere). Sent only to drivers that negotiated version 5.
    Delegated,
}

impl SecondFactorMethod {
    fn code(self) -> u8 {
        match self {
            SecondFactorMethod::Totp => 1,
            SecondFactorMethod::Sms => 2,
            SecondFactorMethod::Email => 3,
            SecondFactorMethod::Delegated => 4,
        }
    }
    fn from_code(v: u8) -> Result<Self, ProtocolError> {
        Ok(match v {
            1 => SecondFactorMethod::Totp,
            2 => SecondFactorMethod::Sms,
            3 => SecondFactorMethod::Email,
            4 => SecondFactorMethod::Delegated,
            _ => return Err(ProtocolError::InvalidField { what: "second-factor method", value: v.into() }),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            SecondFactorMethod::Totp => "TOTP",
            SecondFactorMethod::Sms => "SMS",
            SecondFactorMethod::Email => "e-mail",
            SecondFactorMethod::Delegated => "delegated",
        }
    }
}

/// What the server still needs after the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    NotRequired,
    /// Version 4, only in answer to `LoginWithTicket`: the ticket stood in for the code.
    /// `expires_at` (Unix seconds) is when the ticket ends at the latest.
    VerifiedByTicket {
        expires_at: i64,
    },
    Required {
        method: SecondFactorMethod,
        /// Seconds until the server gives up waiting and closes the connection.
        seconds_left: u32,
        /// Where a sent code went, masked (`+1 ***-***-1234`); empty for TOTP.
        hint: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nullability {
    NoNulls,
    Nullable,
    Unknown,
}

impl Nullability {
    /// The ODBC `SQL_NO_NULLS` / `SQL_NULLABLE` / `SQL_NULLABLE_UNKNOWN` value.
    pub fn odbc_code(self) -> i16 {
        match self {
            Nullability::NoNulls => 0,
            Nullability::Nullable => 1,
            Nullability::Unknown => 2,
        }
    }
    fn from_code(v: u8) -> Result<Self, ProtocolError> {
        Ok(match v {
            0 => Nullability::NoNulls,
            1 => Nullability::Nullable,
            2 => Nullability::Unknown,
            _ => return Err(ProtocolError::InvalidField { what: "nullability", value: v.into() }),
        })
    }
}

/// One column of a result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDesc {
    pub name: String,
    /// ODBC SQL type code (`sql_type::INTEGER`, ...).
    pub sql_type: i16,
    /// The bare type name, as SQLGetTypeInfo lists it (`VARCHAR`, `INTEGER`); the size is
    /// `column_size`.
    pub type_name: String,
    /// Characters for text, bytes for binary, digits for numbers.
    pub column_size: u32,
    pub decimal_digits: i16,
    pub nullable: Nullability,
    /// Table the column comes from, empty for expressions.
    pub table_name: String,
}

/// What the driver asks of the session's SQL beyond autocommit (protocol version 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Refuse every statement that would write (`ReadOnly=1`, SQL_MODE_READ_ONLY).
    pub read_only: bool,
    /// The column size to report for TEXT, BLOB and other columns declared without a
    /// size (`LongColumnSize`).
    pub long_column_size: u32,
}

impl SessionOptions {
    /// What a session has until the driver says otherwise.
    pub const DEFAULT: SessionOptions = SessionOptions { read_only: false, long_column_size: 65_536 };
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions::DEFAULT
    }
}

/// One parameter marker of a prepared statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDesc {
    pub sql_type: i16,
    pub column_size: u32,
    pub decimal_digits: i16,
    pub nullable: Nullability,
}

/// An error the server reports. `fatal` says the server closes the connection after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub sqlstate: [u8; 5],
    pub native: i32,
    pub message: String,
    pub fatal: bool,
}

impl ErrorInfo {
    pub fn new(sqlstate: &[u8; 5], native: i32, message: impl Into<String>) -> Self {
        ErrorInfo { sqlstate: *sqlstate, native, message: message.into(), fatal: false }
    }
    pub fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }
    pub fn sqlstate_str(&self) -> &str {
        std::str::from_utf8(&self.sqlstate).unwrap_or("HY000")
    }
}

/// Catalog queries, answered with a result set in the ODBC 3 column layout. Absent
/// arguments match everything; `%` and `_` are patterns where ODBC says so
/// (SQLTablePrivileges: `table` is a pattern; SQLColumnPrivileges: `table` names one
/// table, `column` is a pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogRequest {
    Tables {
        catalog: Option<String>,
        schema: Option<String>,
        table: Option<String>,
        table_types: Option<String>,
    },
    Columns {
        catalog: Option<String>,
        schema: Option<String>,
        table: Option<String>,
        column: Option<String>,
    },
    PrimaryKeys {
        catalog: Option<String>,
        schema: Option<String>,
        table: String,
    },
    ForeignKeys {
        pk_table: Option<String>,
        fk_table: Option<String>,
    },
    Statistics {
        table: String,
        unique_only: bool,
    },
    SpecialColumns {
        table: String,
    },
    TypeInfo {
        data_type: i16,
    },
    TablePrivileges {
        table: Option<String>,
    },
    ColumnPrivileges {
        table: String,
        column: Option<String>,
    },
    /// SQLProcedures (protocol version 3): schema and procedure are search patterns.
    Procedures {
        schema: Option<String>,
        procedure: Option<String>,
    },
    /// SQLProcedureColumns (protocol version 3): schema, procedure and column patterns.
    ProcedureColumns {
        schema: Option<String>,
        procedure: Option<String>,
        column: Option<String>,
    },
}

impl CatalogRequest {
    /// The oldest protocol version in which a peer understands this request: a driver
    /// must not send a newer request to a server that negotiated an older version.
    pub fn since_version(&self) -> u16 {
        match self {
            CatalogRequest::Procedures { .. } | CatalogRequest::ProcedureColumns { .. } => 3,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// First message on every connection.
    Hello {
        min_version: u16,
        max_version: u16,
        client_name: String,
    },
    /// The first factor.
    Login {
        user: String,
        password: Secret<String>,
    },
    /// The second factor: a TOTP, SMS or e-mail code, or a backup code.
    SecondFactor {
        code: Secret<String>,
    },
    /// Run SQL text once. `params` holds zero or more rows of parameter values.
    ExecDirect {
        sql: String,
        params: RowBatch,
        fetch_rows: u32,
    },
    Prepare {
        sql: String,
    },
    Execute {
        statement_id: u32,
        params: RowBatch,
        fetch_rows: u32,
    },
    /// Ask for up to `max_rows` more rows of the open cursor.
    Fetch {
        max_rows: u32,
    },
    CloseCursor,
    CloseStatement {
        statement_id: u32,
    },
    SetAutocommit {
        on: bool,
    },
    /// Settings of the session's SQL, from the DSN or connection attributes (version 2).
    SessionOptions(SessionOptions),
    EndTransaction {
        commit: bool,
    },
    Catalog {
        request: CatalogRequest,
        fetch_rows: u32,
    },
    /// Sent after Hello on a separate connection to interrupt another session's request.
    Cancel {
        session_id: u64,
        key: Secret<[u8; 16]>,
    },
    Ping,
    Terminate,
    /// Version 4, instead of `Login`: the first factor together with a two-factor ticket
    /// the server issued to this device, and a proof that the driver holds the ticket's
    /// private key: an Ed25519 signature over [`crate::proof::ticket_proof_message`].
    /// The password is checked first (a wrong one fails as with `Login`, the ticket
    /// unexamined); then an accepted ticket answers `FirstFactorOk` with
    /// `SecondFactor::VerifiedByTicket`, and a refused one is counted like a wrong code
    /// and the login goes on as after `Login` (`SecondFactor::Required`: a code is sent or
    /// awaited). One message, so an SMS or e-mail code is never sent for a login that a
    /// ticket completes.
    LoginWithTicket {
        user: String,
        password: Secret<String>,
        ticket_id: Secret<Vec<u8>>,
        proof: Vec<u8>,
    },
    /// Version 4, on a ready session whose second factor was a code: asks for a ticket
    /// bound to this Ed25519 public key (32 bytes). Answered by `Ticket`, or by a
    /// non-fatal error when the server's or the user's policy says no.
    RequestTicket {
        public_key: Vec<u8>,
    },
    /// Version 4, instead of `Login`: a service account proves it holds its Ed25519 key
    /// with a signature over [`crate::proof::key_login_message`].
    KeyLogin {
        user: String,
        proof: Vec<u8>,
    },
    /// Version 4, instead of `Login`: a service account named by the client certificate
    /// it presented in the TLS handshake.
    CertLogin {
        user: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    HelloOk {
        version: u16,
        server_name: String,
    },
    /// The password was right. The session identifier and key let the driver cancel.
    FirstFactorOk {
        session_id: u64,
        cancel_key: Secret<[u8; 16]>,
        second_factor: SecondFactor,
    },
    SecondFactorOk,
    Error(ErrorInfo),
    Prepared {
        statement_id: u32,
        params: Vec<ParamDesc>,
        columns: Vec<ColumnDesc>,
    },
    /// A cursor is open with these columns; row batches follow on Fetch (the first one
    /// follows at once).
    ResultSet {
        columns: Vec<ColumnDesc>,
    },
    /// Rows of the open cursor. `last` means the cursor is exhausted and closed.
    Rows {
        batch: RowBatch,
        last: bool,
    },
    /// A statement without a result set finished. `row_count` is -1 when unknown.
    ExecuteDone {
        row_count: i64,
    },
    Ok,
    Pong,
    /// Version 4: the answer to `RequestTicket`. `expires_at` (Unix seconds) is the hard
    /// end of the ticket's life; unused for `idle_secs` it ends sooner.
    Ticket {
        ticket_id: Secret<Vec<u8>>,
        expires_at: i64,
        idle_secs: u32,
    },
}

/// The `second_factor` byte of FirstFactorOk for `SecondFactor::VerifiedByTicket` (method
/// codes are small numbers; 0 is NotRequired).
const TICKET_VERIFIED: u8 = 0xFE;

mod tag {
    pub const HELLO: u8 = 0x01;
    pub const LOGIN: u8 = 0x02;
    pub const SECOND_FACTOR: u8 = 0x03;
    pub const EXEC_DIRECT: u8 = 0x04;
    pub const PREPARE: u8 = 0x05;
    pub const EXECUTE: u8 = 0x06;
    pub const FETCH: u8 = 0x07;
    pub const CLOSE_CURSOR: u8 = 0x08;
    pub const CLOSE_STATEMENT: u8 = 0x09;
    pub const SET_AUTOCOMMIT: u8 = 0x0A;
    pub const END_TRANSACTION: u8 = 0x0B;
    pub const CATALOG: u8 = 0x0C;
    pub const CANCEL: u8 = 0x0D;
    pub const PING: u8 = 0x0E;
    pub const TERMINATE: u8 = 0x0F;
    pub const SESSION_OPTIONS: u8 = 0x10;
    pub const LOGIN_WITH_TICKET: u8 = 0x11;
    pub const REQUEST_TICKET: u8 = 0x12;
    pub const KEY_LOGIN: u8 = 0x13;
    pub const CERT_LOGIN: u8 = 0x14;

    pub const HELLO_OK: u8 = 0x81;
    pub const FIRST_FACTOR_OK: u8 = 0x82;
    pub const SECOND_FACTOR_OK: u8 = 0x83;
    pub const ERROR: u8 = 0x84;
    pub const PREPARED: u8 = 0x85;
    pub const RESULT_SET: u8 = 0x86;
    pub const ROWS: u8 = 0x87;
    pub const EXECUTE_DONE: u8 = 0x88;
    pub const OK: u8 = 0x89;
    pub const PONG: u8 = 0x8A;
    pub const TICKET: u8 = 0x8B;
}

impl ClientMessage {
    /// Appends this message, framed, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = begin_frame(out, self.tag());
        match self {
            ClientMessage::Hello { min_version, max_version, client_name } => {
                out.extend_from_slice(&MAGIC);
                out.put_u16(*min_version);
                out.put_u16(*max_version);
                out.put_str(client_name);
            }
            ClientMessage::Login { user, password } => {
                out.put_str(user);
                out.put_str(password.expose());
            }
            ClientMessage::SecondFactor { code } => out.put_str(code.expose()),
            ClientMessage::ExecDirect { sql, params, fetch_rows } => {
                out.put_str(sql);
                params.encode(out);
                out.put_u32(*fetch_rows);
            }
            ClientMessage::Prepare { sql } => out.put_str(sql),
            ClientMessage::Execute { statement_id, params, fetch_rows } => {
                out.put_u32(*statement_id);
                params.encode(out);
                out.put_u32(*fetch_rows);
            }
            ClientMessage::Fetch { max_rows } => out.put_u32(*max_rows),
            ClientMessage::CloseStatement { statement_id } => out.put_u32(*statement_id),
            ClientMessage::SetAutocommit { on } => out.put_bool(*on),
            ClientMessage::SessionOptions(o) => {
                out.put_bool(o.read_only);
                out.put_u32(o.long_column_size);
            }
            ClientMessage::EndTransaction { commit } => out.put_bool(*commit),
            ClientMessage::Catalog { request, fetch_rows } => {
                encode_catalog(out, request);
                out.put_u32(*fetch_rows);
            }
            ClientMessage::Cancel { session_id, key } => {
                out.put_u64(*session_id);
                out.extend_from_slice(key.expose());
            }
            ClientMessage::LoginWithTicket { user, password, ticket_id, proof } => {
                out.put_str(user);
                out.put_str(password.expose());
                out.put_bytes(ticket_id.expose());
                out.put_bytes(proof);
            }
            ClientMessage::RequestTicket { public_key } => out.put_bytes(public_key),
            ClientMessage::KeyLogin { user, proof } => {
                out.put_str(user);
                out.put_bytes(proof);
            }
            ClientMessage::CertLogin { user } => out.put_str(user),
            ClientMessage::CloseCursor | ClientMessage::Ping | ClientMessage::Terminate => {}
        }
        end_frame(out, start);
    }

    fn tag(&self) -> u8 {
        match self {
            ClientMessage::Hello { .. } => tag::HELLO,
            ClientMessage::Login { .. } => tag::LOGIN,
            ClientMessage::SecondFactor { .. } => tag::SECOND_FACTOR,
            ClientMessage::ExecDirect { .. } => tag::EXEC_DIRECT,
            ClientMessage::Prepare { .. } => tag::PREPARE,
            ClientMessage::Execute { .. } => tag::EXECUTE,
            ClientMessage::Fetch { .. } => tag::FETCH,
            ClientMessage::CloseCursor => tag::CLOSE_CURSOR,
            ClientMessage::CloseStatement { .. } => tag::CLOSE_STATEMENT,
            ClientMessage::SetAutocommit { .. } => tag::SET_AUTOCOMMIT,
            ClientMessage::SessionOptions(_) => tag::SESSION_OPTIONS,
            ClientMessage::EndTransaction { .. } => tag::END_TRANSACTION,
            ClientMessage::Catalog { .. } => tag::CATALOG,
            ClientMessage::Cancel { .. } => tag::CANCEL,
            ClientMessage::Ping => tag::PING,
            ClientMessage::Terminate => tag::TERMINATE,
            ClientMessage::LoginWithTicket { .. } => tag::LOGIN_WITH_TICKET,
            ClientMessage::RequestTicket { .. } => tag::REQUEST_TICKET,
            ClientMessage::KeyLogin { .. } => tag::KEY_LOGIN,
            ClientMessage::CertLogin { .. } => tag::CERT_LOGIN,
        }
    }

    /// Decodes the first message in `buf`. `Ok(None)`: only part of a frame is there yet.
    /// On success also returns how many bytes the frame took.
    pub fn decode(buf: &[u8], max_frame_len: usize) -> Result<Option<(ClientMessage, usize)>, ProtocolError> {
        let Some(frame) = decode_frame(buf, max_frame_len)? else { return Ok(None) };
        let mut r = Reader::new(frame.tag, frame.payload);
        let msg = match frame.tag {
            tag::HELLO => {
                if r.fixed::<4>()? != MAGIC {
                    return Err(ProtocolError::BadMagic);
                }
                ClientMessage::Hello { min_version: r.u16()?, max_version: r.u16()?, client_name: r.string()? }
            }
            tag::LOGIN => ClientMessage::Login { user: r.string()?, password: Secret::new(r.string()?) },
            tag::SECOND_FACTOR => ClientMessage::SecondFactor { code: Secret::new(r.string()?) },
            tag::EXEC_DIRECT => {
                ClientMessage::ExecDirect { sql: r.string()?, params: RowBatch::decode(&mut r)?, fetch_rows: r.u32()? }
            }
            tag::PREPARE => ClientMessage::Prepare { sql: r.string()? },
            tag::EXECUTE => ClientMessage::Execute {
                statement_id: r.u32()?,
                params: RowBatch::decode(&mut r)?,
                fetch_rows: r.u32()?,
            },
            tag::FETCH => ClientMessage::Fetch { max_rows: r.u32()? },
            tag::CLOSE_CURSOR => ClientMessage::CloseCursor,
            tag::CLOSE_STATEMENT => ClientMessage::CloseStatement { statement_id: r.u32()? },
            tag::SET_AUTOCOMMIT => ClientMessage::SetAutocommit { on: r.bool()? },
            tag::SESSION_OPTIONS => {
                ClientMessage::SessionOptions(SessionOptions { read_only: r.bool()?, long_column_size: r.u32()? })
            }
            tag::END_TRANSACTION => ClientMessage::EndTransaction { commit: r.bool()? },
            tag::CATALOG => ClientMessage::Catalog { request: decode_catalog(&mut r)?, fetch_rows: r.u32()? },
            tag::CANCEL => ClientMessage::Cancel { session_id: r.u64()?, key: Secret::new(r.fixed::<16>()?) },
            tag::PING => ClientMessage::Ping,
            tag::TERMINATE => ClientMessage::Terminate,
            tag::LOGIN_WITH_TICKET => ClientMessage::LoginWithTicket {
                user: r.string()?,
                password: Secret::new(r.string()?),
                ticket_id: Secret::new(r.bytes()?.to_vec()),
                proof: r.bytes()?.to_vec(),
            },
            tag::REQUEST_TICKET => ClientMessage::RequestTicket { public_key: r.bytes()?.to_vec() },
            tag::KEY_LOGIN => ClientMessage::KeyLogin { user: r.string()?, proof: r.bytes()?.to_vec() },
            tag::CERT_LOGIN => ClientMessage::CertLogin { user: r.string()? },
            other => return Err(ProtocolError::UnknownTag(other)),
        };
        r.finish()?;
        Ok(Some((msg, frame.wire_len())))
    }
}

impl ServerMessage {
    /// The message's frame on its own. A Rows message of a batch built here is sent from
    /// the batch's own buffer, not copied (a result batch is up to a MiB).
    pub fn into_frame(self) -> Vec<u8> {
        match self {
            ServerMessage::Rows { batch, last } => batch.into_frame(tag::ROWS, last),
            other => {
                let mut out = Vec::new();
                other.encode(&mut out);
                out
            }
        }
    }

    /// Appends this message, framed, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = begin_frame(out, self.tag());
        match self {
            ServerMessage::HelloOk { version, server_name } => {
                out.put_u16(*version);
                out.put_str(server_name);
            }
            ServerMessage::FirstFactorOk { session_id, cancel_key, second_factor } => {
                out.put_u64(*session_id);
                out.extend_from_slice(cancel_key.expose());
                match second_factor {
                    SecondFactor::NotRequired => out.put_u8(0),
                    SecondFactor::VerifiedByTicket { expires_at } => {
                        out.put_u8(TICKET_VERIFIED);
                        out.put_i64(*expires_at);
                    }
                    SecondFactor::Required { method, seconds_left, hint } => {
                        out.put_u8(method.code());
                        out.put_u32(*seconds_left);
                        out.put_str(hint);
                    }
                }
            }
            ServerMessage::Error(e) => {
                out.extend_from_slice(&e.sqlstate);
                out.put_i32(e.native);
                out.put_str(&e.message);
                out.put_bool(e.fatal);
            }
            ServerMessage::Prepared { statement_id, params, columns } => {
                out.put_u32(*statement_id);
                out.put_u32(params.len() as u32);
                for p in params {
                    out.put_i16(p.sql_type);
                    out.put_u32(p.column_size);
                    out.put_i16(p.decimal_digits);
                    out.put_u8(p.nullable.odbc_code() as u8);
                }
                encode_columns(out, columns);
            }
            ServerMessage::ResultSet { columns } => encode_columns(out, columns),
            ServerMessage::Rows { batch, last } => {
                out.put_bool(*last);
                batch.encode(out);
            }
            ServerMessage::ExecuteDone { row_count } => out.put_i64(*row_count),
            ServerMessage::Ticket { ticket_id, expires_at, idle_secs } => {
                out.put_bytes(ticket_id.expose());
                out.put_i64(*expires_at);
                out.put_u32(*idle_secs);
            }
            ServerMessage::SecondFactorOk | ServerMessage::Ok | ServerMessage::Pong => {}
        }
        end_frame(out, start);
    }

    fn tag(&self) -> u8 {
        match self {
            ServerMessage::HelloOk { .. } => tag::HELLO_OK,
            ServerMessage::FirstFactorOk { .. } => tag::FIRST_FACTOR_OK,
            ServerMessage::SecondFactorOk => tag::SECOND_FACTOR_OK,
            ServerMessage::Error(_) => tag::ERROR,
            ServerMessage::Prepared { .. } => tag::PREPARED,
            ServerMessage::ResultSet { .. } => tag::RESULT_SET,
            ServerMessage::Rows { .. } => tag::ROWS,
            ServerMessage::ExecuteDone { .. } => tag::EXECUTE_DONE,
            ServerMessage::Ok => tag::OK,
            ServerMessage::Pong => tag::PONG,
            ServerMessage::Ticket { .. } => tag::TICKET,
        }
    }

    /// Decodes the first message in `buf`. `Ok(None)`: only part of a frame is there yet.
    pub fn decode(buf: &[u8], max_frame_len: usize) -> Result<Option<(ServerMessage, usize)>, ProtocolError> {
        let Some(frame) = decode_frame(buf, max_frame_len)? else { return Ok(None) };
        let mut r = Reader::new(frame.tag, frame.payload);
        let msg = match frame.tag {
            tag::HELLO_OK => ServerMessage::HelloOk { version: r.u16()?, server_name: r.string()? },
            tag::FIRST_FACTOR_OK => {
                let session_id = r.u64()?;
                let cancel_key = Secret::new(r.fixed::<16>()?);
                let second_factor = match r.u8()? {
                    0 => SecondFactor::NotRequired,
                    TICKET_VERIFIED => SecondFactor::VerifiedByTicket { expires_at: r.i64()? },
                    m => SecondFactor::Required {
                        method: SecondFactorMethod::from_code(m)?,
                        seconds_left: r.u32()?,
                        hint: r.string()?,
                    },
                };
                ServerMessage::FirstFactorOk { session_id, cancel_key, second_factor }
            }
            tag::SECOND_FACTOR_OK => ServerMessage::SecondFactorOk,
            tag::ERROR => {
                let sqlstate = r.fixed::<5>()?;
                if !sqlstate.iter().all(u8::is_ascii_alphanumeric) {
                    return Err(ProtocolError::InvalidField { what: "SQLSTATE", value: 0 });
                }
                ServerMessage::Error(ErrorInfo { sqlstate, native: r.i32()?, message: r.string()?, fatal: r.bool()? })
            }
            tag::PREPARED => {
                let statement_id = r.u32()?;
                let n = r.count(9)?;
                let mut params = Vec::with_capacity(n);
                for _ in 0..n {
                    params.push(ParamDesc {
                        sql_type: r.i16()?,
                        column_size: r.u32()?,
                        decimal_digits: r.i16()?,
                        nullable: Nullability::from_code(r.u8()?)?,
                    });
                }
                ServerMessage::Prepared { statement_id, params, columns: decode_columns(&mut r)? }
            }
            tag::RESULT_SET => ServerMessage::ResultSet { columns: decode_columns(&mut r)? },
            tag::ROWS => {
                let last = r.bool()?;
                ServerMessage::Rows { batch: RowBatch::decode(&mut r)?, last }
            }
            tag::EXECUTE_DONE => ServerMessage::ExecuteDone { row_count: r.i64()? },
            tag::OK => ServerMessage::Ok,
            tag::PONG => ServerMessage::Pong,
            tag::TICKET => ServerMessage::Ticket {
                ticket_id: Secret::new(r.bytes()?.to_vec()),
                expires_at: r.i64()?,
                idle_secs: r.u32()?,
            },
            other => return Err(ProtocolError::UnknownTag(other)),
        };
        r.finish()?;
        Ok(Some((msg, frame.wire_len())))
    }

    /// Decodes `buffer`, which holds exactly one frame (header included). A Rows message
    /// keeps `buffer` as its batch's storage, so a large batch read into a buffer of its own
    /// is not copied again; any other message decodes as `decode` would.
    pub fn decode_frame_buffer(buffer: Vec<u8>, max_frame_len: usize) -> Result<ServerMessage, ProtocolError> {
        let (checked, last) = {
            let frame = decode_frame(&buffer, max_frame_len)?
                .ok_or(ProtocolError::Truncated { tag: buffer.first().copied().unwrap_or(0), needed: 1 })?;
            if frame.wire_len() != buffer.len() {
                return Err(ProtocolError::TrailingBytes { tag: frame.tag, extra: buffer.len() - frame.wire_len() });
            }
            if frame.tag != tag::ROWS {
                return match Self::decode(&buffer, max_frame_len)? {
                    Some((message, _)) => Ok(message),
                    None => Err(ProtocolError::Truncated { tag: frame.tag, needed: 1 }),
                };
            }
            let mut r = Reader::new(frame.tag, frame.payload);
            let last = r.bool()?;
            let (checked, _) = CheckedBatch::read(&mut r)?;
            // The values are the frame's last bytes, so the batch can own the whole buffer.
            r.finish()?;
            (checked, last)
        };
        Ok(ServerMessage::Rows { batch: checked.with_buffer(buffer), last })
    }
}

fn encode_columns(out: &mut Vec<u8>, columns: &[ColumnDesc]) {
    out.put_u32(columns.len() as u32);
    for c in columns {
        out.put_str(&c.name);
        out.put_i16(c.sql_type);
        out.put_str(&c.type_name);
        out.put_u32(c.column_size);
        out.put_i16(c.decimal_digits);
        out.put_u8(c.nullable.odbc_code() as u8);
        out.put_str(&c.table_name);
    }
}

fn decode_columns(r: &mut Reader<'_>) -> Result<Vec<ColumnDesc>, ProtocolError> {
    // Smallest column: three empty strings (12) + type, size, digits, nullable (9).
    let n = r.count(21)?;
    let mut columns = Vec::with_capacity(n);
    for _ in 0..n {
        columns.push(ColumnDesc {
            name: r.string()?,
            sql_type: r.i16()?,
            type_name: r.string()?,
            column_size: r.u32()?,
            decimal_digits: r.i16()?,
            nullable: Nullability::from_code(r.u8()?)?,
            table_name: r.string()?,
        });
    }
    Ok(columns)
}

fn encode_catalog(out: &mut Vec<u8>, req: &CatalogRequest) {
    match req {
        CatalogRequest::Tables { catalog, schema, table, table_types } => {
            out.put_u8(1);
            for s in [catalog, schema, table, table_types] {
                out.put_opt_str(s.as_deref());
            }
        }
        CatalogRequest::Columns { catalog, schema, table, column } => {
            out.put_u8(2);
            for s in [catalog, schema, table, column] {
                out.put_opt_str(s.as_deref());
            }
        }
        CatalogRequest::PrimaryKeys { catalog, schema, table } => {
            out.put_u8(3);
            out.put_opt_str(catalog.as_deref());
            out.put_opt_str(schema.as_deref());
            out.put_str(table);
        }
        CatalogRequest::ForeignKeys { pk_table, fk_table } => {
            out.put_u8(4);
            out.put_opt_str(pk_table.as_deref());
            out.put_opt_str(fk_table.as_deref());
        }
        CatalogRequest::Statistics { table, unique_only } => {
            out.put_u8(5);
            out.put_str(table);
            out.put_bool(*unique_only);
        }
        CatalogRequest::SpecialColumns { table } => {
            out.put_u8(6);
            out.put_str(table);
        }
        CatalogRequest::TypeInfo { data_type } => {
            out.put_u8(7);
            out.put_i16(*data_type);
        }
        CatalogRequest::TablePrivileges { table } => {
            out.put_u8(8);
            out.put_opt_str(table.as_deref());
        }
        CatalogRequest::ColumnPrivileges { table, column } => {
            out.put_u8(9);
            out.put_str(table);
            out.put_opt_str(column.as_deref());
        }
        CatalogRequest::Procedures { schema, procedure } => {
            out.put_u8(10);
            out.put_opt_str(schema.as_deref());
            out.put_opt_str(procedure.as_deref());
        }
        CatalogRequest::ProcedureColumns { schema, procedure, column } => {
            out.put_u8(11);
            for s in [schema, procedure, column] {
                out.put_opt_str(s.as_deref());
            }
        }
    }
}

fn decode_catalog(r: &mut Reader<'_>) -> Result<CatalogRequest, ProtocolError> {
    Ok(match r.u8()? {
        1 => CatalogRequest::Tables {
            catalog: r.opt_string()?,
            schema: r.opt_string()?,
            table: r.opt_string()?,
            table_types: r.opt_string()?,
        },
        2 => CatalogRequest::Columns {
            catalog: r.opt_string()?,
            schema: r.opt_string()?,
            table: r.opt_string()?,
            column: r.opt_string()?,
        },
        3 => CatalogRequest::PrimaryKeys { catalog: r.opt_string()?, schema: r.opt_string()?, table: r.string()? },
        4 => CatalogRequest::ForeignKeys { pk_table: r.opt_string()?, fk_table: r.opt_string()? },
        5 => CatalogRequest::Statistics { table: r.string()?, unique_only: r.bool()? },
        6 => CatalogRequest::SpecialColumns { table: r.string()? },
        7 => CatalogRequest::TypeInfo { data_type: r.i16()? },
        8 => CatalogRequest::TablePrivileges { table: r.opt_string()? },
        9 => CatalogRequest::ColumnPrivileges { table: r.string()?, column: r.opt_string()? },
        10 => CatalogRequest::Procedures { schema: r.opt_string()?, procedure: r.opt_string()? },
        11 => CatalogRequest::ProcedureColumns {
            schema: r.opt_string()?,
            procedure: r.opt_string()?,
            column: r.opt_string()?,
        },
        v => return Err(ProtocolError::InvalidField { what: "catalog request", value: v.into() }),
    })
}
