//! The readiness check a TCP load balancer probes (`server.health_listen`): plain HTTP/1.0,
//! because every balancer (HAProxy's `option httpchk`, keepalived's `HTTP_GET`, cloud
//! load balancers) can send that without TLS or keys.
//!
//! `GET /ready` answers 200 while this instance can serve logins, and 503 with a one-line
//! reason when it cannot (draining after SIGTERM, the user store unreachable). `GET /live`
//! answers 200 as long as the process answers at all, for supervisors that restart a hung
//! process. The store is asked at most once per [`CACHE_FOR`], and one check at a time, so
//! a storm of probes cannot load it; the listener itself is bounded in connections,
//! request size and time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::lifecycle::{Lifecycle, Stage};
use crate::store::StoreError;

/// One round trip to the user store ([`crate::store::UserStore::check_health`]).
pub(crate) type StoreProbe = Arc<dyn Fn() -> Result<(), StoreError> + Send + Sync>;

/// Probe connections served at once; more are closed unanswered (a balancer has a few).
const MAX_CONNECTIONS: usize = 32;
/// A probe must have sent its whole request within this.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The answer must be taken within this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// A request line and headers longer than this are refused (a probe sends ~100 bytes).
const MAX_REQUEST_BYTES: usize = 2048;
/// Headers parsed at most.
const MAX_HEADERS: usize = 16;
/// How long one answer of the store stands for.
const CACHE_FOR: Duration = Duration::from_secs(1);
/// A store that has not answered within this is reported unreachable (its check goes on,
/// and no other starts until it ends).
const STORE_ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Whether logins can be served now, and why not.
pub(crate) struct Readiness {
    probe: StoreProbe,
    lifecycle: Arc<Lifecycle>,
    check: Mutex<StoreCheck>,
}

#[derive(Default)]
struct StoreCheck {
    /// The last answer and when it came.
    last: Option<(Instant, Result<(), NotReady>)>,
    /// A check that did not answer in time and is still running.
    running: Option<JoinHandle<Result<(), StoreError>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotReady {
    Draining,
    StoreUnreachable,
    StoreSlow,
}

impl NotReady {
    /// The reason a probe reads: short, and without the store's own message (which may
    /// name hosts); the server log has that.
    pub fn reason(self) -> &'static str {
        match self {
            NotReady::Draining => "draining: shutting down after SIGTERM/SIGINT",
            NotReady::StoreUnreachable => "user store unreachable",
            NotReady::StoreSlow => "user store not answering",
        }
    }
}

impl Readiness {
    pub fn new(probe: StoreProbe, lifecycle: Arc<Lifecycle>) -> Self {
        Readiness { probe, lifecycle, check: Mutex::new(StoreCheck::default()) }
    }

    pub async fn ready(&self) -> Result<(), NotReady> {
        if self.lifecycle.stage() != Stage::Serving {
            return Err(NotReady::Draining);
        }
        // Probes arriving together wait for the one check under way and share its answer.
        let mut check = self.check.lock().await;
        if let Some((at, verdict)) = check.last {
            if at.elapsed() < CACHE_FOR {
                return verdict;
            }
        }
        let mut task = match check.running.take() {
            Some(t) => t,
            None => {
                let probe = self.probe.clone();
                tokio::task::spawn_blocking(move || probe())
            }
        };
        let verdict = match tokio::time::timeout(STORE_ANSWER_WITHIN, &mut task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => {
                if !matches!(check.last, Some((_, Err(NotReady::StoreUnreachable)))) {
                    log::warn!("readiness: the user store is unreachable: {e}");
                }
                Err(NotReady::StoreUnreachable)
            }
            Ok(Err(e)) => {
                log::error!("readiness: the store check failed: {e}");
                Err(NotReady::StoreUnreachable)
            }
            Err(_) => {
                if check.running.is_none() && !matches!(check.last, Some((_, Err(NotReady::StoreSlow)))) {
                    log::warn!("readiness: the user store did not answer within {}s", STORE_ANSWER_WITHIN.as_secs());
                }
                check.running = Some(task);
                Err(NotReady::StoreSlow)
            }
        };
        if verdict.is_ok() && matches!(check.last, Some((_, Err(_)))) {
            log::info!("readiness: the user store answers again");
        }
        check.last = Some((Instant::now(), verdict));
        verdict
    }
}

/// Binds the readiness listener; the caller spawns [`serve`] with it.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Answers probes until the task is aborted (when the server has finished).
pub(crate) async fn serve(listener: TcpListener, readiness: Arc<Readiness>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like; the main listener logs those.
                log::debug!("readiness: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            log::debug!("{peer}: readiness probe refused: {MAX_CONNECTIONS} probes already open");
            continue;
        };
        let readiness = readiness.clone();
        tokio::spawn(async move {
            let _permit = permit;
            answer(tcp, &readiness).await;
        });
    }
}

async fn answer(mut tcp: TcpStream, readiness: &Readiness) {
    let reply = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut tcp)).await {
        Ok(Ok(head)) => route(&head, readiness).await,
        Ok(Err(BadRequest::Gone)) => return,
        Ok(Err(BadRequest::TooLarge)) => Reply::plain(431, "request too large", false),
        Ok(Err(BadRequest::Malformed)) => Reply::plain(400, "bad request", false),
        Err(_) => Reply::plain(408, "request not received in time", false),
    };
    let bytes = reply.encode();
    let write = async {
        tcp.write_all(&bytes).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, write).await;
}

enum BadRequest {
    Gone,
    TooLarge,
    Malformed,
}

/// What the routing needs of a request.
struct Head {
    method: String,
    path: String,
}

/// Reads up to the end of the headers, at most [`MAX_REQUEST_BYTES`].
async fn read_request(tcp: &mut TcpStream) -> Result<Head, BadRequest> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = tcp.read(&mut chunk).await.map_err(|_| BadRequest::Gone)?;
        if n == 0 {
            return Err(if buf.is_empty() { BadRequest::Gone } else { BadRequest::Malformed });
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let method = req.method.unwrap_or_default().to_string();
                let path = req.path.unwrap_or_default().to_string();
                return Ok(Head { method, path });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST_BYTES => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => return Err(BadRequest::TooLarge),
            Err(_) => return Err(BadRequest::Malformed),
        }
    }
}

async fn route(head: &Head, readiness: &Readiness) -> Reply {
    let with_body = head.method != "HEAD";
    if head.method != "GET" && head.method != "HEAD" {
        return Reply::plain(405, "only GET and HEAD", with_body);
    }
    // A query string (some balancers add one) does not change the answer.
    let path = head.path.split('?').next().unwrap_or_default();
    match path {
        "/ready" => match readiness.ready().await {
            Ok(()) => Reply::plain(200, "ready", with_body),
            Err(why) => Reply::plain(503, why.reason(), with_body),
        },
        "/live" => Reply::plain(200, "live", with_body),
        _ => Reply::plain(404, "not found; try /ready or /live", with_body),
    }
}

struct Reply {
    status: u16,
    body: &'static str,
    with_body: bool,
}

impl Reply {
    fn plain(status: u16, body: &'static str, with_body: bool) -> Reply {
        Reply { status, body, with_body }
    }

    fn encode(&self) -> Vec<u8> {
        let phrase = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            _ => "Service Unavailable",
        };
        let body = format!("{}\n", self.body);
        let mut out = format!(
            "HTTP/1.0 {} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            body.len()
        );
        if self.with_body {
            out.push_str(&body);
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteUserStore, UserStore};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_reply_is_http_1_0_with_its_length_and_no_body_for_head() {
        let get = String::from_utf8(Reply::plain(503, "draining", true).encode()).unwrap();
        assert!(get.starts_with("HTTP/1.0 503 Service Unavailable\r\n"), "{get}");
        assert!(get.contains("Content-Length: 9\r\n") && get.ends_with("\r\n\r\ndraining\n"), "{get}");
        let head = String::from_utf8(Reply::plain(200, "ready", false).encode()).unwrap();
        assert!(head.ends_with("\r\n\r\n") && head.contains("Content-Length: 6\r\n"), "{head}");
    }

    #[tokio::test]
    async fn probes_within_a_second_share_one_store_check_and_draining_needs_none() {
        let store = SqliteUserStore::open_in_memory().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let probe: StoreProbe = Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            store.check_health()
        });
        let lifecycle = Arc::new(Lifecycle::new());
        let readiness = Arc::new(Readiness::new(probe, lifecycle.clone()));
        let probes: Vec<_> = (0..100)
            .map(|_| {
                let r = readiness.clone();
                tokio::spawn(async move { r.ready().await })
            })
            .collect();
        for p in probes {
            assert_eq!(p.await.unwrap(), Ok(()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "100 probes at once: one store check");
        tokio::time::sleep(CACHE_FOR + Duration::from_millis(50)).await;
        assert_eq!(readiness.ready().await, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "a second later the store is asked again");
        lifecycle.advance(Stage::Draining);
        tokio::time::sleep(CACHE_FOR + Duration::from_millis(50)).await;
        assert_eq!(readiness.ready().await, Err(NotReady::Draining));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "draining is known without the store");
    }
}
