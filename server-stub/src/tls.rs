//! TLS 1.3 with the ring provider, for the server and for test clients.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} holds no {what}")]
    Empty { path: String, what: &'static str },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |source| TlsError::Read { path: path.display().to_string(), source };
    let pem = std::fs::read(path).map_err(read)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>().map_err(read)?;
    if certs.is_empty() {
        return Err(TlsError::Empty { path: path.display().to_string(), what: "certificate" });
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let read = |source| TlsError::Read { path: path.display().to_string(), source };
    let pem = std::fs::read(path).map_err(read)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(read)?
        .ok_or_else(|| TlsError::Empty { path: path.display().to_string(), what: "private key" })
}

/// The server's TLS: TLS 1.3 only. A client certificate is asked for but optional
/// (`allow_unauthenticated`: people connect without one); one that is sent must chain
/// to `client_roots` (service accounts' CAs) or the handshake fails. Asked for always,
/// since the server's own client CA always exists: a client without a certificate
/// answers with an empty one and is served as before.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_roots: Vec<CertificateDer<'static>>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for root in client_roots {
        roots.add(root)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Rustls(rustls::Error::General(format!("client certificate verifier: {e}"))))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)?;
    Ok(Arc::new(config))
}

/// Server handshakes, at most [`crate::config::cores_but_one`] computing at once, the rule
/// `auth.hash_workers` follows too: a burst of new connections leaves a core to the
/// sessions already logged in.
///
/// Answering a ClientHello (key exchange, the certificate's signature, the server's flight)
/// is the one costly step of a handshake, about a millisecond of CPU. A burst of a thousand
/// connections would otherwise put a thousand such steps in the runtime's queues at once,
/// and a logged-in session's request, woken behind them, would wait for all of them. So a
/// handshake reads its ClientHello at the peer's pace holding nothing, takes a slot for the
/// single poll that answers it, and gives the slot back before it waits for the client's
/// Finished: a slow or silent peer never holds one.
pub struct Handshaker {
    config: Arc<rustls::ServerConfig>,
    slots: Semaphore,
}

impl Handshaker {
    pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
        Self::with_slots(config, crate::config::cores_but_one())
    }

    fn with_slots(config: Arc<rustls::ServerConfig>, slots: usize) -> Self {
        Handshaker { config, slots: Semaphore::new(slots) }
    }

    /// The whole handshake on `io`; the caller bounds it in time.
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
        let mut accept = hello.into_stream(self.config.clone());
        let first = {
            // The semaphore is never closed.
            let _slot = self.slots.acquire().await.ok();
            std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut accept).poll(cx))).await
        };
        match first {
            Poll::Ready(done) => done,
            Poll::Pending => accept.await,
        }
    }
}

/// A client that trusts only the CA in `ca_pem` (tests, tools).
pub fn client_config(ca_pem: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(ca_pem)? {
        roots.add(cert)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What a session needs to know of its TLS connection beyond the bytes: the exporter
/// value proofs of possession are bound to (`twofactor_protocol::proof`), and the client
/// certificate chain, if the client presented one the server's verifier accepted.
#[derive(Clone)]
pub struct TlsFacts {
    pub exporter: [u8; twofactor_protocol::proof::EXPORTER_LEN],
    pub client_certificates: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for TlsFacts {
    // The exporter value is session key material: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFacts").field("client_certificates", &self.client_certificates.len()).finish()
    }
}

impl TlsFacts {
    /// Read off a finished handshake. None when the exporter is unavailable (it always is
    /// after a TLS 1.3 handshake, the only version the server speaks).
    pub fn of(conn: &rustls::ServerConnection) -> Option<TlsFacts> {
        let exporter = conn
            .export_keying_material(
                [0u8; twofactor_protocol::proof::EXPORTER_LEN],
                twofactor_protocol::proof::EXPORTER_LABEL,
                None,
            )
            .ok()?;
        let client_certificates =
            conn.peer_certificates().map(|c| c.iter().map(|d| d.clone().into_owned()).collect()).unwrap_or_default();
        Some(TlsFacts { exporter, client_certificates })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::init::{generate_certificates, CA_CERT, SERVER_CERT, SERVER_KEY};

    /// With a single slot, a peer that sent its ClientHello, got the server's answer and
    /// then went silent (never sends its Finished) does not keep the next client from
    /// completing its handshake.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_silent_after_the_servers_answer_holds_no_handshake_slot() {
        let dir = tempfile::tempdir().unwrap();
        generate_certificates(dir.path(), &[]).unwrap();
        let client_roots = load_certs(&dir.path().join(CA_CERT)).unwrap();
        let config = server_config(&dir.path().join(SERVER_CERT), &dir.path().join(SERVER_KEY), client_roots).unwrap();
        let handshaker = Arc::new(Handshaker::with_slots(config, 1));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let handshaker = handshaker.clone();
                tokio::spawn(async move { handshaker.accept(tcp).await.map(drop) });
            }
        });
        let client = client_config(&dir.path().join(CA_CERT)).unwrap();

        let mut silent = rustls::ClientConnection::new(client.clone(), "localhost".try_into().unwrap()).unwrap();
        let mut hello = Vec::new();
        silent.write_tls(&mut hello).unwrap();
        let mut raw = TcpStream::connect(addr).await.unwrap();
        raw.write_all(&hello).await.unwrap();
        let mut answer = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), raw.read(&mut answer)).await;
        assert!(matches!(read, Ok(Ok(n)) if n > 0), "the server answered the ClientHello: {read:?}");

        let tcp = TcpStream::connect(addr).await.unwrap();
        let connect = tokio_rustls::TlsConnector::from(client).connect("localhost".try_into().unwrap(), tcp);
        let done = tokio::time::timeout(Duration::from_secs(10), connect).await;
        assert!(matches!(done, Ok(Ok(_))), "the second handshake finished while the first peer is silent");
        drop(raw);
    }
}
