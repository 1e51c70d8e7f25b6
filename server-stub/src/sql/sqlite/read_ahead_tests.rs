//! `serve_cursor`'s read-ahead on real SQLite statements: what a client sees is what it
//! saw without it (rows in order, at most as many as asked, errors at the same Fetch),
//! and no more than one batch is ever stepped ahead of the client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;
use twofactor_protocol::{ErrorInfo, Nullability, RowBatchBuilder, ServerMessage, ValueRef, MAX_FRAME_LEN};

use super::cursor::SqliteCursor;
use super::errors::map_error;
use super::types::Kind;
use crate::sql::cursor::RowSource;
use crate::sql::thread::{serve_cursor, Inbox, Job, Shared};
use crate::sql::Request;

/// `1..=n`, one integer column; row `fail_at` (if any) fails with an integer overflow,
/// as a bad row in a real table would fail mid-scan.
fn numbers_sql(n: u32, fail_at: Option<u32>) -> String {
    let value = match fail_at {
        // Depends on x, so SQLite cannot hoist it out of the loop as a constant.
        Some(bad) => format!("CASE WHEN x = {bad} THEN abs(x - {bad} - 9223372036854775807 - 1) ELSE x END"),
        None => "x".to_owned(),
    };
    format!("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {n}) SELECT {value} FROM n")
}

/// Counts the rows the cursor has stepped, and may hold a fill until the test lets it go.
struct Watched<'s> {
    inner: SqliteCursor<'s>,
    stepped: Arc<AtomicUsize>,
    fills: usize,
    /// `(fill number, started, go)`: that fill says it started and waits for `go`.
    hold: Option<(usize, mpsc::Sender<()>, mpsc::Receiver<()>)>,
}

impl RowSource for Watched<'_> {
    fn fill(&mut self, batch: &mut RowBatchBuilder, max_rows: usize) -> Result<bool, ErrorInfo> {
        self.fills += 1;
        if let Some((n, started, go)) = &self.hold {
            if *n == self.fills {
                started.send(()).unwrap();
                go.recv().unwrap();
            }
        }
        let before = batch.rows();
        let result = self.inner.fill(batch, max_rows);
        self.stepped.fetch_add(batch.rows() - before, Ordering::SeqCst);
        result
    }
}

/// A cursor served on its own thread, as a session's SQL thread serves it.
struct Served {
    jobs: Option<mpsc::Sender<Job>>,
    first: Option<oneshot::Receiver<Vec<u8>>>,
    stepped: Arc<AtomicUsize>,
    /// After the cursor ends, the thread runs `SELECT 7` on the same connection.
    after: mpsc::Receiver<Result<i64, String>>,
    interrupt: rusqlite::InterruptHandle,
}

fn serve(sql: String, fetch: usize, hold: Option<(usize, mpsc::Sender<()>, mpsc::Receiver<()>)>) -> Served {
    let conn = Connection::open_in_memory().unwrap();
    let interrupt = conn.get_interrupt_handle();
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let (first_tx, first) = oneshot::channel();
    let (after_tx, after) = mpsc::channel();
    let stepped = Arc::new(AtomicUsize::new(0));
    let counter = stepped.clone();
    std::thread::spawn(move || {
        let inbox = Inbox { jobs: jobs_rx, shared: Arc::new(Shared::default()) };
        {
            let mut stmt = conn.prepare(&sql).unwrap();
            let mut cursor = Watched {
                inner: SqliteCursor { rows: stmt.raw_query(), kinds: vec![Kind::Plain] },
                stepped: counter,
                fills: 0,
                hold,
            };
            let columns =
                vec![super::types::column_desc("x", super::types::from_value(None), Nullability::Unknown, "")];
            let _ = serve_cursor(columns, &mut cursor, RowBatchBuilder::new(1), fetch, first_tx, &inbox);
        }
        let _ = after_tx.send(conn.query_row("SELECT 7", [], |r| r.get(0)).map_err(|e| map_error(&e).message));
    });
    Served { jobs: Some(jobs_tx), first: Some(first), stepped, after, interrupt }
}

/// What one reply said: the rows of its batch and whether it was the last, or an error.
#[derive(Debug, PartialEq)]
enum Got {
    Rows(Vec<i64>, bool),
    Error(String),
    Ok,
}

fn decode(bytes: Vec<u8>) -> Got {
    let mut at = 0;
    let mut got = None;
    while at < bytes.len() {
        let (msg, used) = ServerMessage::decode(&bytes[at..], MAX_FRAME_LEN).unwrap().unwrap();
        at += used;
        got = match msg {
            ServerMessage::ResultSet { .. } => continue,
            ServerMessage::Rows { batch, last } => Some(Got::Rows(
                (0..batch.rows())
                    .map(|r| match batch.value(r, 0) {
                        ValueRef::Int(v) => v,
                        other => panic!("unexpected value {other:?}"),
                    })
                    .collect(),
                last,
            )),
            ServerMessage::Error(e) => Some(Got::Error(String::from_utf8_lossy(&e.sqlstate).into_owned())),
            ServerMessage::Ok => Some(Got::Ok),
            other => panic!("unexpected reply {other:?}"),
        };
    }
    got.expect("an empty reply")
}

impl Served {
    fn first(&mut self) -> Got {
        decode(self.first.take().unwrap().blocking_recv().unwrap())
    }

    fn ask(&self, req: Request) -> Got {
        let (tx, rx) = oneshot::channel();
        self.jobs.as_ref().unwrap().send((req, tx)).unwrap();
        decode(rx.blocking_recv().unwrap())
    }

    fn fetch(&self, max_rows: u32) -> Got {
        self.ask(Request::Fetch { max_rows })
    }

    /// Waits until the thread has stepped `n` rows (or a second has passed).
    fn stepped_settles_at(&self, n: usize) -> usize {
        for _ in 0..100 {
            if self.stepped.load(Ordering::SeqCst) >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // A little longer: anything stepped beyond `n` would show now.
        std::thread::sleep(Duration::from_millis(50));
        self.stepped.load(Ordering::SeqCst)
    }

    fn after(self) -> Result<i64, String> {
        drop(self.jobs);
        self.after.recv_timeout(Duration::from_secs(10)).unwrap()
    }
}

fn rows(a: i64, b: i64) -> Vec<i64> {
    (a..=b).collect()
}

#[test]
fn every_row_arrives_once_in_order_and_one_batch_at_most_is_stepped_ahead() {
    let mut s = serve(numbers_sql(95, None), 10, None);
    assert_eq!(s.first(), Got::Rows(rows(1, 10), false));
    // The first batch is not read ahead of: a client that closes now stepped 10 rows.
    assert_eq!(s.stepped_settles_at(10), 10);
    assert_eq!(s.fetch(10), Got::Rows(rows(11, 20), false));
    // A client that reads nothing more (a slow one) costs one batch ahead, no more.
    assert_eq!(s.stepped_settles_at(30), 30);
    let mut seen = 20;
    loop {
        match s.fetch(10) {
            Got::Rows(got, last) => {
                assert_eq!(got, rows(seen as i64 + 1, seen as i64 + got.len() as i64));
                seen += got.len();
                if last {
                    break;
                }
                assert!(s.stepped_settles_at(seen + 10) <= seen + 10, "more than one batch ahead");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, 95);
    assert_eq!(s.after(), Ok(7));
}

#[test]
fn a_smaller_fetch_gets_only_the_rows_it_asks_for_and_a_larger_one_is_topped_up() {
    let mut s = serve(numbers_sql(60, None), 10, None);
    assert_eq!(s.first(), Got::Rows(rows(1, 10), false));
    assert_eq!(s.fetch(10), Got::Rows(rows(11, 20), false));
    // Rows 21-30 are ahead now.
    assert_eq!(s.fetch(3), Got::Rows(rows(21, 23), false));
    assert_eq!(s.fetch(3), Got::Rows(rows(24, 26), false));
    assert_eq!(s.fetch(25), Got::Rows(rows(27, 51), false));
    assert_eq!(s.fetch(25), Got::Rows(rows(52, 60), true));
    assert_eq!(s.after(), Ok(7));
}

#[test]
fn closing_mid_stream_drops_the_batch_ahead_and_frees_the_statement() {
    let mut s = serve(numbers_sql(1000, None), 10, None);
    assert_eq!(s.first(), Got::Rows(rows(1, 10), false));
    assert_eq!(s.fetch(10), Got::Rows(rows(11, 20), false));
    assert_eq!(s.ask(Request::CloseCursor), Got::Ok);
    assert_eq!(s.stepped_settles_at(30), 30);
    assert_eq!(s.after(), Ok(7));
}

#[test]
fn an_error_met_ahead_is_reported_by_the_fetch_that_reaches_its_row() {
    // Row 25 fails. Fetches of 10: rows 1-20 arrive, the third Fetch reports the error
    // (the rows 21-24 of its batch are not sent, as without read-ahead).
    let mut s = serve(numbers_sql(100, Some(25)), 10, None);
    assert_eq!(s.first(), Got::Rows(rows(1, 10), false));
    assert_eq!(s.fetch(10), Got::Rows(rows(11, 20), false));
    // (The SQLSTATE of an overflow is SQLite's mapping's to choose; any error will do.)
    assert!(matches!(s.fetch(10), Got::Error(_)));
    assert_eq!(s.after(), Ok(7));

    // Smaller Fetches after the read-ahead get every good row before the error.
    let mut s = serve(numbers_sql(100, Some(25)), 10, None);
    assert_eq!(s.first(), Got::Rows(rows(1, 10), false));
    assert_eq!(s.fetch(10), Got::Rows(rows(11, 20), false));
    assert_eq!(s.fetch(2), Got::Rows(rows(21, 22), false));
    assert_eq!(s.fetch(2), Got::Rows(rows(23, 24), false));
    assert!(matches!(s.fetch(2), Got::Error(_)));
    assert_eq!(s.after(), Ok(7));
}

#[test]
fn a_cancel_during_read_ahead_is_reported_by_the_next_fetch() {
    let (started_tx, started) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    // Fill 1 is the first batch, fill 2 the first Fetch's, fill 3 the first read-ahead.
    let mut s = serve(numbers_sql(1000, None), 10, Some((3, started_tx, go_rx)));
    assert_eq!(s.first(), Got::Rows(rows(1, 10), false));
    assert_eq!(s.fetch(10), Got::Rows(rows(11, 20), false));
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    s.interrupt.interrupt();
    go.send(()).unwrap();
    assert_eq!(s.fetch(10), Got::Error("HY008".into()));
    // The cursor is gone; the connection serves the next statement.
    assert_eq!(s.after(), Ok(7));
}
