//! One client's byte stream: frames in and replies out, under the limits every connection
//! must keep whatever the peer does. A frame that has begun must be complete within the
//! frame timeout (slowloris); the memory for frames still arriving comes from one budget
//! shared by all connections and grows with the bytes that actually arrived, never with
//! the length a header declares; a peer that takes none of a reply within the write
//! timeout is dropped.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use twofactor_protocol::{
    decode_frame, ClientMessage, ProtocolError, ServerMessage, FRAME_HEADER_LEN, MAX_FRAME_LEN, MAX_PREAUTH_FRAME_LEN,
};

/// Bytes asked of the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// What a connection may buffer without drawing on the shared budget: a whole pre-login
/// frame and one read. Every connection has this much anyway in its TLS buffers.
const FREE_BYTES: usize = MAX_PREAUTH_FRAME_LEN + FRAME_HEADER_LEN + READ_CHUNK;

pub(crate) enum ReadError {
    /// The peer closed the connection or the socket failed.
    Gone,
    /// The caller's deadline passed.
    Timeout,
    Shutdown,
    Protocol(ProtocolError),
    /// A frame began and was not complete within the frame timeout.
    SlowFrame,
    /// A frame larger than the whole frame memory budget.
    FrameOverBudget {
        len: usize,
    },
}

/// The memory all connections together may hold in frames still arriving, in bytes, as a
/// semaphore: a connection reserves a frame's length when its header arrives (and waits,
/// within the frame timeout, while others hold the budget), so the total stays bounded
/// however many peers send large frames slowly.
#[derive(Clone)]
pub(crate) struct FrameBudget {
    permits: Arc<Semaphore>,
    bytes: usize,
}

impl FrameBudget {
    pub fn new(mib: u32) -> Self {
        let bytes = (mib as usize).saturating_mul(1 << 20).min(Semaphore::MAX_PERMITS);
        FrameBudget { permits: Arc::new(Semaphore::new(bytes)), bytes }
    }
}

/// The per-connection limits, from `[server]`.
#[derive(Clone, Copy)]
pub(crate) struct IoLimits {
    pub frame_timeout: Duration,
    pub write_timeout: Duration,
}

pub(crate) struct Conn<S> {
    pub stream: S,
    pub peer: String,
    pub ip: IpAddr,
    pub shutdown: watch::Receiver<bool>,
    buf: Vec<u8>,
    budget: FrameBudget,
    /// The budget held for the frame at the front of `buf`.
    reserved: Option<OwnedSemaphorePermit>,
    /// When the first byte of the frame at the front of `buf` arrived.
    frame_started: Option<Instant>,
    limits: IoLimits,
    /// The TLS exporter and client certificates (proofs of possession, service accounts).
    pub tls: crate::tls::TlsFacts,
    /// The version the Hello negotiated (0 before it): what the driver can decode.
    pub protocol_version: u16,
    /// The first-factor mechanism that accepted this connection's password (`local`,
    /// `ldap`), for the audit lines that follow; None for a service-account login.
    pub first_factor: Option<&'static str>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(
        stream: S,
        peer: std::net::SocketAddr,
        shutdown: watch::Receiver<bool>,
        budget: FrameBudget,
        limits: IoLimits,
        tls: crate::tls::TlsFacts,
    ) -> Self {
        Conn {
            stream,
            peer: peer.to_string(),
            ip: peer.ip(),
            shutdown,
            buf: Vec::new(),
            budget,
            reserved: None,
            frame_started: None,
            limits,
            tls,
            protocol_version: 0,
            first_factor: None,
        }
    }

    /// The next message, at most `limit` bytes, by `deadline` if there is one.
    pub async fn read(&mut self, limit: usize, deadline: Option<Instant>) -> Result<ClientMessage, ReadError> {
        loop {
            match ClientMessage::decode(&self.buf, limit) {
                Ok(Some((msg, used))) => {
                    self.consumed(used);
                    return Ok(msg);
                }
                Ok(None) => {}
                Err(e) => return Err(ReadError::Protocol(e)),
            }
            self.fill(limit, deadline).await?;
        }
    }

    /// Runs `work` (a request on the SQL thread) while watching the socket, so a peer
    /// that goes away, a frame that stalls and a shutdown are seen while it runs; bytes
    /// that arrive meanwhile (a pipelined request) are kept for the next [`Conn::read`].
    /// Once a whole request (or a bad header) is waiting, nothing more is read until this
    /// one is answered.
    pub async fn watching<T>(&mut self, work: impl std::future::Future<Output = T>) -> Result<T, ReadError> {
        tokio::pin!(work);
        loop {
            // A whole request, or a header no request can have (reported by the next read).
            let waiting = !matches!(decode_frame(&self.buf, MAX_FRAME_LEN), Ok(None));
            if waiting {
                return tokio::select! {
                    v = &mut work => Ok(v),
                    _ = self.shutdown.changed() => Err(ReadError::Shutdown),
                };
            }
            tokio::select! {
                v = &mut work => return Ok(v),
                r = self.fill(MAX_FRAME_LEN, None) => r?,
            }
        }
    }

    /// Reads once into the buffer. Cancel-safe: what it read is in the buffer, and a
    /// budget it was waiting for is not taken.
    async fn fill(&mut self, limit: usize, deadline: Option<Instant>) -> Result<(), ReadError> {
        let frame_deadline = self.frame_started.map(|t| t + self.limits.frame_timeout);
        let until = match (deadline, frame_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let expired = || {
            if frame_deadline.is_some_and(|f| until == Some(f)) {
                ReadError::SlowFrame
            } else {
                ReadError::Timeout
            }
        };
        let sleep = async {
            match until {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        let frame_len = self.front_frame_len(limit);
        if let Some(len) = frame_len.filter(|&n| n > FREE_BYTES && self.reserved.is_none()) {
            if len > self.budget.bytes {
                return Err(ReadError::FrameOverBudget { len });
            }
            let want = u32::try_from(len).map_err(|_| ReadError::FrameOverBudget { len })?;
            let permit = tokio::select! {
                p = self.budget.permits.clone().acquire_many_owned(want) => p.map_err(|_| ReadError::Shutdown)?,
                _ = &mut sleep => return Err(expired()),
                _ = self.shutdown.changed() => return Err(ReadError::Shutdown),
            };
            self.reserved = Some(permit);
        }
        let mut chunk = [0u8; READ_CHUNK];
        let n = tokio::select! {
            r = self.stream.read(&mut chunk) => r.map_err(|_| ReadError::Gone)?,
            _ = &mut sleep => return Err(expired()),
            _ = self.shutdown.changed() => return Err(ReadError::Shutdown),
        };
        if n == 0 {
            return Err(ReadError::Gone);
        }
        let needed = self.buf.len() + n;
        if needed > self.buf.capacity() {
            // Doubling, but never past the frame being received (or FREE_BYTES before its
            // header is known): the buffer follows the bytes, not the declared length.
            let cap = frame_len.unwrap_or(FREE_BYTES).max(needed);
            let target = (self.buf.capacity() * 2).clamp(needed, cap);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        self.frame_started.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// The whole length of the frame at the front of the buffer, once its header is in
    /// (and it is within `limit`, else decoding refuses it first).
    fn front_frame_len(&self, limit: usize) -> Option<usize> {
        let header = self.buf.get(..FRAME_HEADER_LEN)?;
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        (len <= limit).then_some(len + FRAME_HEADER_LEN)
    }

    /// A frame of `used` bytes was decoded: hand back its budget and its memory.
    fn consumed(&mut self, used: usize) {
        self.buf.drain(..used);
        self.reserved = None;
        self.frame_started = if self.buf.is_empty() { None } else { Some(Instant::now()) };
        if self.buf.capacity() > FREE_BYTES {
            self.buf.shrink_to(FREE_BYTES.max(self.buf.len()));
        }
    }

    /// Writes and flushes; false if the peer is gone or took nothing for the write timeout.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> bool {
        let write = async { self.stream.write_all(bytes).await.is_ok() && self.stream.flush().await.is_ok() };
        match tokio::time::timeout(self.limits.write_timeout, write).await {
            Ok(ok) => ok,
            Err(_) => {
                log::info!(
                    "{}: the client read nothing for {}s (server.write_timeout_secs); connection closed",
                    self.peer,
                    self.limits.write_timeout.as_secs()
                );
                false
            }
        }
    }

    pub async fn send(&mut self, msg: ServerMessage) -> bool {
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.send_bytes(&out).await
    }

    /// Closes the TLS session, within the write timeout.
    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(self.limits.write_timeout, self.stream.shutdown()).await;
    }
}
