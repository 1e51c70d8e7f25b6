//! One TLS session with the server: blocking TCP, rustls, and the protocol's framing.
//! Requests are buffered by `send` and flushed by `receive`, so a batch of messages costs
//! one write.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use twofactor_protocol::{
    frame_payload_len, ClientMessage, ServerMessage, FRAME_HEADER_LEN, MAX_FRAME_LEN, MAX_PREAUTH_FRAME_LEN,
};

use super::socket::{Severer, Socket};
use crate::diag::{OdbcError, OdbcResult, SqlState};

const READ_CHUNK: usize = 64 * 1024;
/// Below this much free room at the end of the read buffer, it is compacted or grown
/// before the next read (a TLS record holds up to 16 KiB).
const MIN_READ: usize = 16 * 1024;
/// A frame at least this long (a batch of rows, in practice) is read into a buffer of its
/// own rather than through `rbuf` (`receive_into_own_buffer`).
const OWN_BUFFER_FRAME_LEN: usize = READ_CHUNK;

/// A request sent ahead of need (a Fetch for the open cursor), at most one.
enum Ahead {
    None,
    /// Sent; its answer has not been read.
    InFlight,
    /// Read, because another request had to go out after it.
    Received(OdbcResult<ServerMessage>),
}

/// The message for every call on a connection the server has dropped.
pub fn link_failure(detail: &str) -> OdbcError {
    OdbcError::new(SqlState::COMMUNICATION_LINK_FAILURE, format!("communication link failure: {detail}"))
}

pub fn closed_by_server() -> OdbcError {
    link_failure("connection closed by the server; disconnect and connect again")
}

pub struct Session {
    stream: StreamOwned<ClientConnection, Socket>,
    /// Read buffer. Its whole length is initialized (zeroed once, when it is allocated or
    /// grown), so reads go straight into it without zero-filling each time; received
    /// bytes not yet decoded are `rbuf[rpos..rend]`.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    wbuf: Vec<u8>,
    /// Shared with the connection: set when the link is unusable.
    dead: Arc<AtomicBool>,
    /// SQLSTATE a read timeout reports (HYT00 while logging in, HYT01 afterwards).
    timeout_state: SqlState,
    /// The largest frame the server accepts now: 16 KiB until the session is ready for
    /// SQL (the server closes the connection on a bigger one), then 64 MiB. A bigger
    /// request is refused here, before anything is written.
    frame_limit: usize,
    /// Serial of the statement whose server cursor is open, if any (the server keeps
    /// one open cursor per session).
    pub cursor_owner: Option<u64>,
    /// The owner's next Fetch, sent before it was needed (`send_ahead`). Only ever set
    /// while `cursor_owner` is `Some`; whoever ends the cursor takes it with
    /// `release_cursor`.
    ahead: Ahead,
    peer: String,
}

impl Session {
    /// This TLS session's exporter value, which proofs of possession are bound to
    /// (`twofactor_protocol::proof`): a proof made for one connection proves nothing on
    /// another.
    pub fn proof_exporter(&self) -> OdbcResult<[u8; twofactor_protocol::proof::EXPORTER_LEN]> {
        self.stream
            .conn
            .export_keying_material(
                [0u8; twofactor_protocol::proof::EXPORTER_LEN],
                twofactor_protocol::proof::EXPORTER_LABEL,
                None,
            )
            .map_err(|e| OdbcError::new(SqlState::GENERAL_ERROR, format!("no TLS exporter for the proof: {e}")))
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("peer", &self.peer).field("cursor_owner", &self.cursor_owner).finish()
    }
}

/// `now + timeout`, or no deadline when that is beyond what `Instant` can hold (a
/// timeout of centuries is no timeout).
pub fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)))
}

fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// A request bigger than the server accepts now. Text the application gave (a user name,
/// password, code or statement) that is too long is HY090; parameter data is 22001.
fn too_large(message: &ClientMessage, len: usize, limit: usize) -> OdbcError {
    let (state, what) = match message {
        ClientMessage::Login { .. } => (SqlState::INVALID_BUFFER_LENGTH, "the user name and password"),
        ClientMessage::SecondFactor { .. } => (SqlState::INVALID_BUFFER_LENGTH, "the two-factor code"),
        ClientMessage::ExecDirect { sql, params, .. } if params.byte_len() > sql.len() => {
            (SqlState::STRING_RIGHT_TRUNCATED, "the parameter data")
        }
        ClientMessage::Execute { .. } => (SqlState::STRING_RIGHT_TRUNCATED, "the parameter data"),
        ClientMessage::ExecDirect { .. } | ClientMessage::Prepare { .. } => {
            (SqlState::INVALID_BUFFER_LENGTH, "the statement text")
        }
        _ => (SqlState::INVALID_BUFFER_LENGTH, "the request"),
    };
    OdbcError::new(
        state,
        format!(
            "{what} make a request of {len} bytes; the server accepts at most {limit} bytes here; nothing was sent"
        ),
    )
}

fn login_timeout(peer: &str) -> OdbcError {
    OdbcError::new(SqlState::TIMEOUT_EXPIRED, format!("login timeout expired while connecting to {peer}"))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Opens TCP (within the deadline) and completes the TLS handshake.
pub fn open(
    host: &str,
    port: u16,
    tls: Arc<ClientConfig>,
    server_name: &str,
    deadline: Option<Instant>,
    dead: Arc<AtomicBool>,
) -> OdbcResult<Session> {
    let peer = format!("{host}:{port}");
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| OdbcError::new(SqlState::UNABLE_TO_CONNECT, format!("cannot resolve server {host:?}: {e}")))?
        .collect();
    let mut last_error = None;
    let mut tcp = None;
    for addr in &addrs {
        if expired(deadline) {
            return Err(login_timeout(&peer));
        }
        let attempt = match remaining(deadline) {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) if is_timeout(&e) => return Err(login_timeout(&peer)),
            Err(e) => last_error = Some(e),
        }
    }
    let tcp = tcp.ok_or_else(|| {
        let why = last_error.map_or_else(|| "no address".to_string(), |e| e.to_string());
        OdbcError::new(SqlState::UNABLE_TO_CONNECT, format!("could not connect to {peer}: {why}"))
    })?;
    let _ = tcp.set_nodelay(true);
    // Keepalive probes notice a peer that vanished without closing (a dead host, a
    // dropped NAT entry), so a blocked read ends with 08S01 instead of hanging forever.
    let keepalive =
        socket2::TcpKeepalive::new().with_time(Duration::from_secs(30)).with_interval(Duration::from_secs(10));
    let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive);
    let setup =
        |e: std::io::Error| OdbcError::new(SqlState::UNABLE_TO_CONNECT, format!("socket setup for {peer} failed: {e}"));
    let mut socket = Socket::new(tcp).map_err(setup)?;
    // The login deadline covers every read and write until `set_timeout` ends it: the
    // handshake, Hello, the first and the second factor together.
    socket.set_deadline(deadline);

    let name = super::tls::server_name(server_name)?;
    let conn = ClientConnection::new(tls, name)
        .map_err(|e| OdbcError::new(SqlState::UNABLE_TO_CONNECT, format!("TLS setup for {peer} failed: {e}")))?;
    let mut session = Session {
        stream: StreamOwned::new(conn, socket),
        rbuf: vec![0; READ_CHUNK],
        rpos: 0,
        rend: 0,
        wbuf: Vec::with_capacity(4096),
        dead,
        timeout_state: SqlState::TIMEOUT_EXPIRED,
        frame_limit: MAX_PREAUTH_FRAME_LEN,
        cursor_owner: None,
        ahead: Ahead::None,
        peer: peer.clone(),
    };
    while session.stream.conn.is_handshaking() {
        let stream = &mut session.stream;
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            if is_timeout(&e) || expired(deadline) {
                return Err(login_timeout(&session.peer));
            }
            let hint = if e.kind() == ErrorKind::InvalidData {
                " (check CAFile, and TLSServerName against the name in the server certificate)"
            } else {
                ""
            };
            return Err(OdbcError::new(
                SqlState::UNABLE_TO_CONNECT,
                format!("TLS handshake with {} failed: {e}{hint}", session.peer),
            ));
        }
    }
    Ok(session)
}

impl super::Connection {
    /// The severer of the current session's socket, if connected.
    pub fn severer(&self) -> Option<Arc<Severer>> {
        super::lock(&self.info).as_ref().and_then(|i| i.severer.clone())
    }
}

impl Session {
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Ends the login phase: sets the read/write timeout for what follows (no deadline
    /// any more) and the SQLSTATE it raises.
    pub fn set_timeout(&mut self, timeout: Option<Duration>, state: SqlState) {
        self.stream.sock.set_deadline(None);
        let _ = self.stream.sock.set_read_timeout(timeout);
        let _ = self.stream.sock.set_write_timeout(timeout);
        self.timeout_state = state;
    }

    /// Still logging in: the reads and writes from now on share a new deadline `timeout`
    /// from now (none for `None`).
    pub fn restart_deadline(&mut self, timeout: Option<Duration>) {
        self.stream.sock.set_deadline(timeout.and_then(deadline_after));
    }

    /// The server now runs SQL for this session: frames up to 64 MiB.
    pub fn set_ready(&mut self) {
        self.frame_limit = MAX_FRAME_LEN;
    }

    /// A handle that shuts the socket down from another thread (a query timer whose
    /// cancel went unanswered), marking the connection dead first.
    pub fn severer(&self) -> Option<Severer> {
        self.stream.sock.severer(Arc::clone(&self.dead)).ok()
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    fn fail(&self, error: OdbcError) -> OdbcError {
        self.dead.store(true, Ordering::Release);
        log::warn!("connection to {} is no longer usable: {}", self.peer, error.message);
        error
    }

    fn io_error(&self, e: std::io::Error) -> OdbcError {
        if is_timeout(&e) {
            // The answer may still arrive later and would be taken for the answer to the
            // next request: the session cannot be trusted after a timeout.
            return self.fail(OdbcError::new(
                self.timeout_state,
                format!("timeout expired waiting for the server at {}", self.peer),
            ));
        }
        match e.kind() {
            ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe => self.fail(closed_by_server()),
            _ => self.fail(link_failure(&e.to_string())),
        }
    }

    /// Queues a message; it is written by the next `receive` (or `flush`). A request sent
    /// ahead is answered first: its answer is read now and kept for `take_ahead`, so the
    /// answer to this message is the next one `receive` reads.
    pub fn send(&mut self, message: &ClientMessage) -> OdbcResult<()> {
        if self.is_dead() {
            return Err(closed_by_server());
        }
        if matches!(self.ahead, Ahead::InFlight) {
            self.ahead = Ahead::None;
            let answer = self.receive();
            if self.is_dead() {
                return Err(answer.err().unwrap_or_else(closed_by_server));
            }
            self.ahead = Ahead::Received(answer);
        }
        let start = self.wbuf.len();
        message.encode(&mut self.wbuf);
        let len = self.wbuf.len() - start;
        if len - FRAME_HEADER_LEN > self.frame_limit {
            // Never written: the server would close the connection on it.
            self.wbuf.truncate(start);
            self.wbuf.shrink_to(64 * 1024);
            return Err(too_large(message, len, self.frame_limit));
        }
        Ok(())
    }

    /// Sends `message` (the cursor owner's next Fetch) now, without waiting for its
    /// answer, so the server works on it while the application uses the rows it has.
    /// The answer is taken with `take_ahead`; at most one request is ahead.
    pub fn send_ahead(&mut self, message: &ClientMessage) -> OdbcResult<()> {
        debug_assert!(self.cursor_owner.is_some() && matches!(self.ahead, Ahead::None));
        self.send(message)?;
        self.flush()?;
        self.ahead = Ahead::InFlight;
        Ok(())
    }

    /// The answer to the request sent ahead, if one was (read now if it was not yet).
    pub fn take_ahead(&mut self) -> Option<OdbcResult<ServerMessage>> {
        match std::mem::replace(&mut self.ahead, Ahead::None) {
            Ahead::None => None,
            Ahead::InFlight => Some(self.receive()),
            Ahead::Received(answer) => Some(answer),
        }
    }

    /// No statement owns the server cursor any more. Returns the answer to the Fetch sent
    /// ahead for it, if any, so the caller can keep its rows (a drain) or drop them.
    pub fn release_cursor(&mut self) -> Option<OdbcResult<ServerMessage>> {
        self.cursor_owner = None;
        self.take_ahead()
    }

    pub fn flush(&mut self) -> OdbcResult<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        if self.is_dead() {
            self.wbuf.clear();
            return Err(closed_by_server());
        }
        let result = self.stream.write_all(&self.wbuf).and_then(|_| self.stream.flush());
        self.wbuf.clear();
        result.map_err(|e| self.io_error(e))
    }

    /// The next message from the server. `Error` messages become `Err` with the server's
    /// SQLSTATE, native code and text; a fatal one also marks the connection dead.
    pub fn receive(&mut self) -> OdbcResult<ServerMessage> {
        match self.receive_raw()? {
            ServerMessage::Error(e) => {
                let error = OdbcError::server(SqlState(e.sqlstate), e.native, e.message);
                if e.fatal {
                    self.dead.store(true, Ordering::Release);
                    log::info!(
                        "server ended the session: {} ({}, native {})",
                        error.message,
                        error.state,
                        error.native
                    );
                }
                Err(error)
            }
            other => Ok(other),
        }
    }

    /// `send` then `receive`.
    pub fn request(&mut self, message: &ClientMessage) -> OdbcResult<ServerMessage> {
        self.send(message)?;
        self.receive()
    }

    fn receive_raw(&mut self) -> OdbcResult<ServerMessage> {
        self.flush()?;
        if self.is_dead() {
            return Err(closed_by_server());
        }
        loop {
            match ServerMessage::decode(&self.rbuf[self.rpos..self.rend], MAX_FRAME_LEN) {
                Ok(Some((message, used))) => {
                    self.rpos += used;
                    if self.rpos == self.rend {
                        self.rpos = 0;
                        self.rend = 0;
                    }
                    return Ok(message);
                }
                Ok(None) => {}
                Err(e) => return Err(self.fail(link_failure(&format!("malformed message from the server: {e}")))),
            }
            if let Ok(Some(len)) = frame_payload_len(&self.rbuf[self.rpos..self.rend], MAX_FRAME_LEN) {
                if len >= OWN_BUFFER_FRAME_LEN {
                    return self.receive_into_own_buffer(FRAME_HEADER_LEN + len);
                }
            }
            if self.rbuf.len() - self.rend < MIN_READ {
                // Move the start of the partial message to the front (it is at most one
                // message, and only when the room at the end runs short), then grow if
                // that did not make room. Only growth zero-fills, and only the new part.
                if self.rpos > 0 {
                    self.rbuf.copy_within(self.rpos..self.rend, 0);
                    self.rend -= self.rpos;
                    self.rpos = 0;
                }
                if self.rbuf.len() - self.rend < MIN_READ {
                    let grown = (self.rbuf.len() * 2).max(self.rend + READ_CHUNK);
                    self.rbuf.resize(grown, 0);
                }
            }
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Err(self.fail(closed_by_server())),
                Ok(n) => self.rend += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    /// Reads the rest of the frame of `total` bytes that starts at `rbuf[rpos..]` into a
    /// buffer of its own, which a Rows message's batch then keeps: a batch of a MiB is
    /// copied once from TLS into it, instead of into `rbuf` and again out of it.
    fn receive_into_own_buffer(&mut self, total: usize) -> OdbcResult<ServerMessage> {
        let mut have = self.rend - self.rpos;
        let mut frame = Vec::with_capacity(total);
        frame.extend_from_slice(&self.rbuf[self.rpos..self.rend]);
        self.rpos = 0;
        self.rend = 0;
        while have < total {
            // Safe Rust reads only into initialised bytes, so the buffer is zero-filled
            // ahead of the reads (one pass of writes, cheaper than the copy it replaces),
            // a step at a time: a header that announces 64 MiB and sends nothing more
            // costs address space, not memory.
            if have == frame.len() {
                frame.resize(total.min(have + 4 * READ_CHUNK), 0);
            }
            match self.stream.read(&mut frame[have..]) {
                Ok(0) => return Err(self.fail(closed_by_server())),
                Ok(n) => have += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        ServerMessage::decode_frame_buffer(frame, MAX_FRAME_LEN)
            .map_err(|e| self.fail(link_failure(&format!("malformed message from the server: {e}"))))
    }

    /// Whether the server has closed this idle session, asked without blocking (a pool
    /// asks before it hands the connection out again). The server sends nothing
    /// unprompted except the notice that it is closing the session, so on an idle
    /// session any message, a TLS close_notify, EOF or an error means closed. A session
    /// with an answer outstanding or unread is not idle and is not probed.
    pub fn closed_by_peer(&mut self) -> bool {
        if self.is_dead() {
            return true;
        }
        if !matches!(self.ahead, Ahead::None) || self.rpos != self.rend {
            return false;
        }
        if self.stream.sock.set_nonblocking(true).is_err() {
            return false;
        }
        let probe = self.stream.read(&mut self.rbuf[self.rend..]);
        let restored = self.stream.sock.set_nonblocking(false).is_ok();
        let closed = match probe {
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(e) if e.kind() == ErrorKind::Interrupted => false,
            Ok(n) => {
                // Kept for the log: the server's parting message, if it is one.
                self.rend += n;
                if let Ok(Some((ServerMessage::Error(e), _))) =
                    ServerMessage::decode(&self.rbuf[self.rpos..self.rend], MAX_FRAME_LEN)
                {
                    log::info!("the server closed the idle session: {} ({})", e.message, SqlState(e.sqlstate));
                }
                true
            }
            Err(_) => true,
        };
        if closed || !restored {
            self.dead.store(true, Ordering::Release);
        }
        closed || !restored
    }

    /// Says goodbye (Terminate, TLS close_notify) without waiting for an answer.
    pub fn close(mut self) {
        if !self.is_dead() {
            self.stream.sock.set_deadline(deadline_after(Duration::from_secs(2)));
            let _ = self.send(&ClientMessage::Terminate);
            let _ = self.flush();
            self.stream.conn.send_close_notify();
            let _ = self.stream.conn.complete_io(&mut self.stream.sock);
        }
        self.stream.sock.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twofactor_protocol::{RowBatchBuilder, Secret};

    #[test]
    fn an_oversized_request_names_what_made_it_too_big() {
        let login = ClientMessage::Login { user: "u".repeat(20_000), password: Secret::new("p".into()) };
        let e = too_large(&login, 20_010, MAX_PREAUTH_FRAME_LEN);
        assert_eq!(e.state, SqlState::INVALID_BUFFER_LENGTH);
        assert!(
            e.message.contains("user name and password") && e.message.contains("nothing was sent"),
            "{}",
            e.message
        );
        let sql =
            ClientMessage::ExecDirect { sql: "x".repeat(100), params: RowBatchBuilder::new(0).finish(), fetch_rows: 1 };
        assert_eq!(too_large(&sql, 100, 10).state, SqlState::INVALID_BUFFER_LENGTH);
        let execute =
            ClientMessage::Execute { statement_id: 1, params: RowBatchBuilder::new(0).finish(), fetch_rows: 1 };
        assert_eq!(too_large(&execute, 100, 10).state, SqlState::STRING_RIGHT_TRUNCATED);
    }
}
