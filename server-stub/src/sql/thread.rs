//! What every backend's per-session SQL thread shares: the request channel, the state the
//! session reads without asking the thread, reply encoding, and the loop that serves an
//! open cursor's Fetch requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use tokio::sync::oneshot;
use twofactor_protocol::{ColumnDesc, ErrorInfo, RowBatch, RowBatchBuilder, ServerMessage};

use super::cursor::RowSource;
use super::read_ahead::ReadAhead;
use super::Request;

pub type Reply = oneshot::Sender<Vec<u8>>;
pub type Job = (Request, Reply);

/// What the session and its SQL thread both see.
#[derive(Default)]
pub struct Shared {
    /// Set when the session is gone: a running statement stops at its next progress check,
    /// even one that started after the interrupt.
    pub abandoned: AtomicBool,
    /// True while the thread waits with a transaction or a cursor open, which holds a
    /// snapshot (SQLite: keeps the WAL from being checkpointed past it).
    pub holds_snapshot: AtomicBool,
    /// True while the thread works on a request (false while it waits for one): a
    /// PostgreSQL cancel request is sent only then.
    pub busy: AtomicBool,
    /// Counts the requests the thread has taken, so a cancel retried later can tell it
    /// is still the same request running.
    pub requests: std::sync::atomic::AtomicU64,
    /// Set by the thread when its database connection is lost: the session ends after
    /// the reply that says so (08S01).
    pub ended: AtomicBool,
}

pub fn encode(msgs: &[ServerMessage]) -> Vec<u8> {
    // A batch of rows is up to a MiB: one allocation of about its size, not a doubling
    // growth that copies it several times over.
    let rows: usize =
        msgs.iter().map(|m| if let ServerMessage::Rows { batch, .. } = m { batch.byte_len() } else { 0 }).sum();
    let mut out = Vec::with_capacity(rows + 256);
    for m in msgs {
        m.encode(&mut out);
    }
    out
}

pub fn send(reply: Reply, msgs: &[ServerMessage]) {
    // The session may have gone; then nobody wants the answer.
    let _ = reply.send(encode(msgs));
}

/// Sends a batch of rows: its frame is the batch's own buffer (no copy of up to a MiB).
pub fn send_rows(reply: Reply, batch: RowBatch, last: bool) {
    let _ = reply.send(ServerMessage::Rows { batch, last }.into_frame());
}

pub fn send_error(reply: Reply, e: ErrorInfo) {
    send(reply, &[ServerMessage::Error(e)]);
}

pub fn fetch_size(requested: u32, default: u32) -> usize {
    if requested == 0 {
        default as usize
    } else {
        requested as usize
    }
}

/// Where the thread waits for its session's next request.
pub struct Inbox {
    pub jobs: mpsc::Receiver<Job>,
    pub shared: std::sync::Arc<Shared>,
}

impl Inbox {
    /// The next request; `holds_snapshot` says what the session may see while it waits.
    pub fn next(&self, holds_snapshot: bool) -> Option<Job> {
        self.shared.holds_snapshot.store(holds_snapshot, Ordering::Release);
        self.shared.busy.store(false, Ordering::Release);
        let job = self.jobs.recv().ok();
        self.shared.requests.fetch_add(1, Ordering::AcqRel);
        self.shared.busy.store(true, Ordering::Release);
        job
    }
}

/// Sends the result set and its first batch, then serves Fetch until the cursor is
/// exhausted or closed. Returns the request that ended the cursor, if it was another one.
/// `batch` may already hold rows (a backend that had to read the first row to type its
/// columns); an empty one is replaced.
///
/// After each batch it sends, it steps the next one at once (`read_ahead.rs`), so the
/// database works while the session encrypts and writes, and the client decodes; the
/// first batch is not followed by one, so a statement whose client reads a few rows and
/// closes steps no more than it asked for.
pub fn serve_cursor(
    columns: Vec<ColumnDesc>,
    cursor: &mut dyn RowSource,
    mut batch: RowBatchBuilder,
    fetch: usize,
    reply: Reply,
    inbox: &Inbox,
) -> Option<Job> {
    if batch.rows() == 0 && batch.byte_len() == 0 {
        batch = RowBatchBuilder::with_capacity(columns.len() as u16, 4096);
    }
    let done = match cursor.fill(&mut batch, fetch) {
        Ok(done) => done,
        Err(e) => {
            send_error(reply, e);
            return None;
        }
    };
    let ncols = columns.len() as u16;
    // Batches of one cursor are alike: the last one's size saves the growth.
    let mut last_bytes = batch.byte_len();
    // The first batch shares its reply with the result set's description, so it is copied
    // into that reply once either way; `send_rows` saves the copy for the batches after it.
    send(reply, &[ServerMessage::ResultSet { columns }, ServerMessage::Rows { batch: batch.finish(), last: done }]);
    if done {
        return None;
    }
    let mut ahead: Option<ReadAhead> = None;
    loop {
        // An open cursor holds a snapshot until it is closed.
        let (req, reply) = inbox.next(true)?;
        match req {
            Request::Fetch { max_rows } => {
                let want = fetch_size(max_rows, fetch as u32);
                let stepped =
                    ahead.take().unwrap_or_else(|| ReadAhead::step(cursor, ncols, want, last_bytes.max(4096)));
                let (answer, rest) = stepped.answer(cursor, want);
                match answer {
                    Ok((batch, done)) => {
                        last_bytes = batch.byte_len();
                        send_rows(reply, batch, done);
                        if done {
                            return None;
                        }
                        ahead = Some(match rest {
                            Some(rest) => rest,
                            None => ReadAhead::step(cursor, ncols, want, last_bytes.max(4096)),
                        });
                    }
                    Err(e) => {
                        send_error(reply, e);
                        return None;
                    }
                }
            }
            // A batch read ahead is dropped with the cursor.
            Request::CloseCursor => {
                send(reply, &[ServerMessage::Ok]);
                return None;
            }
            other => return Some((other, reply)),
        }
    }
}
