//! The enrolment web page (`[enrol_web]`, docs/enrolment-links.md): its own HTTPS listener
//! with the server's certificate, hyper's HTTP/1.1 over tokio-rustls, server-rendered
//! pages without script. Bounded like the ODBC listener: connections at once, the TLS
//! handshake, the request head (size and time), the body, and each connection's life.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::crypto::{SecretsKey, KEY_FILE};
use crate::lifecycle::Stage;
use crate::server::{StartError, State};

mod flow;
mod http;
mod pages;
mod qr;
mod sessions;

use http::Reply;

const STYLE: &str = include_str!("style.css");
/// The request line and headers must have arrived within this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes buffered for a request head (hyper answers 431 past it).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// A connection (with keep-alive, several requests) is closed after this, whatever it does.
const CONNECTION_LIFE: Duration = Duration::from_secs(120);

/// What the page needs from the server, shared by its connections.
pub(crate) struct Web {
    state: Arc<State>,
    /// Seals the confirmed secret as the store keeps every TOTP secret.
    key: SecretsKey,
    sessions: sessions::Sessions,
}

impl Web {
    fn account<'a>(&'a self, user: &'a str) -> pages::Account<'a> {
        pages::Account { issuer: &self.state.config.totp.issuer, user }
    }
}

/// The bound listener and its TLS, made before the server starts serving so that a bad
/// address or certificate stops the start with a clear error.
pub(crate) struct Prepared {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    key: SecretsKey,
}

/// The same certificate and key files as the ODBC listener, TLS 1.3, no client
/// certificates (browsers would prompt for one), ALPN `http/1.1`.
fn tls_config(config: &Config) -> Result<Arc<rustls::ServerConfig>, StartError> {
    let certs = crate::tls::load_certs(&config.path(&config.server.cert))?;
    let key = crate::tls::load_key(&config.path(&config.server.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| StartError::EnrolWeb(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::EnrolWeb(format!("TLS: {e}")))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// None when `[enrol_web] enabled` is false.
pub(crate) async fn prepare(config: &Config) -> Result<Option<Prepared>, StartError> {
    if !config.enrol_web.enabled {
        return Ok(None);
    }
    let tls = tls_config(config)?;
    let key = SecretsKey::load(&config.data_dir.join(KEY_FILE))?;
    let addr = config.enrol_web.listen_addr();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::EnrolWeb(format!("cannot listen on {addr} (enrol_web.listen): {e}")))?;
    let local_addr = listener.local_addr().map_err(|e| StartError::EnrolWeb(e.to_string()))?;
    Ok(Some(Prepared { listener, local_addr, tls, key }))
}

impl Prepared {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until the server stops accepting (the drain's Refusing stage).
    pub fn start(self, state: &Arc<State>) -> JoinHandle<()> {
        let section = &state.config.enrol_web;
        let sessions = sessions::Sessions::new(section.max_sessions, Duration::from_secs(section.session_secs));
        let web = Arc::new(Web { state: state.clone(), key: self.key, sessions });
        log::info!("enrolment page on https://{}/enrol/ (links: {}/enrol/...)", self.local_addr, section.base_url());
        tokio::spawn(accept_loop(web, self.listener, TlsAcceptor::from(self.tls)))
    }
}

async fn accept_loop(web: Arc<Web>, listener: TcpListener, acceptor: TlsAcceptor) {
    let permits = Arc::new(Semaphore::new(web.state.config.enrol_web.max_connections));
    let handshake_timeout = Duration::from_secs(web.state.config.server.tls_handshake_timeout_secs);
    let lifecycle = web.state.lifecycle.clone();
    let refusing = lifecycle.reached(Stage::Refusing);
    tokio::pin!(refusing);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    log::warn!("enrolment page: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut refusing => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            log::warn!("{peer}: enrolment page refused a connection: enrol_web.max_connections reached");
            continue;
        };
        let (web, acceptor) = (web.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    log::info!("{peer}: enrolment page: TLS handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            };
            serve_connection(web, tls, peer).await;
        });
    }
}

async fn serve_connection(
    web: Arc<Web>,
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    peer: SocketAddr,
) {
    let mut closing = web.state.lifecycle.closing();
    let handler = web.clone();
    let service = service_fn(move |req| {
        let web = handler.clone();
        async move { Ok::<_, Infallible>(route(&web, peer, req).await) }
    });
    // hyper borrows the stream, so it is still here for the lingering close below.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(&mut tls), service);
    tokio::pin!(conn);
    let life = tokio::time::sleep(CONNECTION_LIFE);
    tokio::pin!(life);
    let mut shutting = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    log::debug!("{peer}: enrolment page connection: {e}");
                }
                break;
            }
            _ = &mut life, if !shutting => {
                conn.as_mut().graceful_shutdown();
                shutting = true;
            }
            _ = closing.wait_for(|c| *c), if !shutting => {
                conn.as_mut().graceful_shutdown();
                shutting = true;
            }
        }
    }
    linger(&mut tls).await;
}

/// How long, and how many bytes, a closing connection's unread input is drained.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// A lingering close. A request refused before it was read in full (431 for an oversized
/// head, 413 for a body) leaves the rest of it unread, and a socket closed with unread
/// input makes the kernel answer with RST, which can destroy the refusal before the
/// client reads it (the client sees a reset instead of the status). So the server stops
/// writing first (close_notify, then FIN) and reads and discards what still comes, for
/// a bounded time and amount, before the socket is dropped.
async fn linger<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(LINGER_TIME, async {
        let _ = stream.shutdown().await;
        let mut buf = [0u8; 8192];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

fn not_found() -> Reply {
    http::html(StatusCode::NOT_FOUND, pages::message("Not found", "There is no page here."))
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = http::html(
        StatusCode::METHOD_NOT_ALLOWED,
        pages::message("Not allowed", "This page does not take that request."),
    );
    r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
    r
}

async fn route(web: &Arc<Web>, peer: SocketAddr, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    if path == "/enrol/style.css" {
        return if req.method() == Method::GET { http::css(STYLE) } else { method_not_allowed("GET") };
    }
    let Some(rest) = path.strip_prefix("/enrol/") else { return not_found() };
    let (token, download) = match rest.strip_suffix("/backup-codes.txt") {
        Some(t) => (t, true),
        None => (rest, false),
    };
    if token.is_empty() || token.contains('/') {
        return not_found();
    }
    let (ip, peer_text) = (peer.ip().to_canonical(), peer.to_string());
    let cookie = http::cookie(&req);
    match (req.method().clone(), download) {
        (Method::GET, false) => flow::open_link(web, token, ip, &peer_text).await,
        (Method::GET, true) => flow::download(web, token, cookie),
        (Method::POST, false) => match http::read_body(req).await {
            Ok(body) => flow::post(web, token, ip, &peer_text, cookie, body).await,
            Err(http::BodyError::TooLarge) => {
                log::info!("{peer}: enrolment page: request body over {} bytes refused", http::MAX_BODY_BYTES);
                http::html(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    pages::message("Request too large", "The form sent was too large."),
                )
            }
            Err(http::BodyError::Unreadable) => {
                http::html(StatusCode::BAD_REQUEST, pages::message("Bad request", "The request could not be read."))
            }
        },
        (_, false) => method_not_allowed("GET, POST"),
        (_, true) => method_not_allowed("GET"),
    }
}
