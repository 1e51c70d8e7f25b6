//! Connections not yet logged in (accepting, the PROXY header, the TLS handshake, the
//! login with its store calls) run on a tokio runtime of their own, whose threads run at
//! nice [`HANDSHAKE_THREAD_NICE`]; a connection moves to the server's runtime, where the
//! sessions run, once its login has succeeded ([`MovableTcp`]).
//!
//! Why: tokio has no task priorities. On one runtime, a burst of 1,000 connections puts
//! 1,000 ClientHello reads, handshake steps and login steps in the workers' run queues,
//! and a request of a session already logged in waits behind them (the burst's first two
//! seconds were where `SELECT 1`'s p99 went from 0.5 to 5-18 ms). On threads of their own
//! at a lower priority, that work waits in the kernel's run queue instead, where a session
//! worker that wakes goes first; on an idle server the logins get all the CPU there is.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Below the sessions (nice 0), above the password threads (nice 19): a handshake or a
/// login step costs a fraction of a millisecond, a verify 20 ms, and a burst's logins
/// should get through those steps while their passwords wait.
pub const HANDSHAKE_THREAD_NICE: i32 = 10;

/// The threads' name (Linux shows 15 bytes of it).
const THREAD_NAME: &str = "handshake";

/// Runs `accept` (the accept loop) on a new handshake runtime of `threads` workers and
/// returns a handle that the calling runtime can await. The runtime and its threads end
/// when `accept` returns, or when the calling runtime shuts down first (a test that drops
/// its runtime without shutting the server down): the accept loop then stops too, as it
/// did when it was a task of that runtime.
pub fn spawn_accept_loop<F>(threads: usize, accept: F) -> io::Result<JoinHandle<()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        // The logins' store calls and SMS requests run on this runtime's blocking pool,
        // at this priority too (`on_thread_start` applies to its threads as well).
        .thread_name(THREAD_NAME)
        .on_thread_start(lower)
        .enable_all()
        .build()?;
    let (alive, caller_gone) = oneshot::channel::<()>();
    // Dropped, and so `caller_gone` fires, when the calling runtime shuts down.
    tokio::spawn(async move {
        let _alive = alive;
        std::future::pending::<()>().await
    });
    let (done, finished) = oneshot::channel::<()>();
    std::thread::Builder::new().name(THREAD_NAME.into()).spawn(move || {
        // The accept loop itself runs on this thread (block_on); the connections' tasks
        // on the workers.
        lower();
        runtime.block_on(async {
            tokio::select! {
                _ = accept => {}
                _ = caller_gone => {}
            }
        });
        // Tasks still in a handshake are dropped with the runtime; their connections close.
        drop(runtime);
        let _ = done.send(());
    })?;
    Ok(tokio::spawn(async move {
        let _ = finished.await;
    }))
}

fn lower() {
    crate::resources::lower_this_threads_priority(HANDSHAKE_THREAD_NICE, "handshake");
}

/// A TCP stream that can leave the runtime it was accepted on and go on in another one,
/// inside the TLS stream that wraps it: [`MovableTcp::depart`] on the first runtime, then
/// [`MovableTcp::arrive`] on the second. In between it reads and writes nothing.
#[derive(Debug)]
pub struct MovableTcp(Option<TcpStream>);

/// A stream on its way between runtimes, registered with neither.
#[derive(Debug)]
pub struct InTransit(std::net::TcpStream);

impl MovableTcp {
    pub fn new(tcp: TcpStream) -> Self {
        Self(Some(tcp))
    }

    /// Takes the stream out of the current runtime's reactor. Bytes that arrive meanwhile
    /// stay in the socket, and [`Self::arrive`] sees them.
    pub fn depart(&mut self) -> io::Result<InTransit> {
        let tcp = self.0.take().ok_or_else(gone)?;
        tcp.into_std().map(InTransit)
    }

    /// Registers the stream with the runtime this is called on.
    pub fn arrive(&mut self, moving: InTransit) -> io::Result<()> {
        self.0 = Some(TcpStream::from_std(moving.0)?);
        Ok(())
    }

    /// Polls the stream with `poll`, or fails at once while it is between runtimes.
    fn poll_tcp<T>(
        self: Pin<&mut Self>,
        poll: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match self.get_mut().0.as_mut() {
            Some(tcp) => poll(Pin::new(tcp)),
            None => Poll::Ready(Err(gone())),
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is moving between runtimes")
}

impl AsyncRead for MovableTcp {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll_tcp(|tcp| tcp.poll_read(cx, buf))
    }
}

impl AsyncWrite for MovableTcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_tcp(|tcp| tcp.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_tcp(|tcp| tcp.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(|t| t.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_tcp(|tcp| tcp.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_tcp(|tcp| tcp.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair: the end the runtimes pass around, and a plain blocking peer.
    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let ours = listener.accept().unwrap().0;
        ours.set_nonblocking(true).unwrap();
        (ours, peer)
    }

    #[test]
    fn a_stream_moved_to_another_runtime_keeps_every_byte_and_its_readiness() {
        use std::io::{Read, Write};
        let first = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let second = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (ours, mut peer) = pair();
        peer.write_all(b"before").unwrap();
        let (mut moving, transit) = first.block_on(async {
            let mut moving = MovableTcp::new(TcpStream::from_std(ours).unwrap());
            let mut got = [0u8; 6];
            moving.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"before");
            let transit = moving.depart().unwrap();
            (moving, transit)
        });
        // Sent while the stream is between runtimes: only the socket holds it, and the
        // second runtime's reactor has never seen it become readable.
        peer.write_all(b"in transit").unwrap();
        assert_eq!(first.block_on(moving.read(&mut [0u8; 4])).unwrap_err().kind(), io::ErrorKind::NotConnected);
        drop(first);
        second.block_on(async {
            moving.arrive(transit).unwrap();
            let mut got = [0u8; 10];
            tokio::time::timeout(Duration::from_secs(5), moving.read_exact(&mut got)).await.unwrap().unwrap();
            assert_eq!(&got, b"in transit");
            moving.write_all(b"answer").await.unwrap();
        });
        let mut back = [0u8; 6];
        peer.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"answer");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_accept_loop_runs_on_threads_below_the_sessions_and_ends_with_its_caller() {
        let own = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let (nices_tx, nices_rx) = oneshot::channel();
        let dropped = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        let caller = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let handle = std::thread::spawn(move || {
            caller.block_on(async move {
                let done = spawn_accept_loop(1, async move {
                    let _flag = flag;
                    let here = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
                    let worker = tokio::spawn(async {
                        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
                    })
                    .await
                    .unwrap();
                    let _ = nices_tx.send((here, worker));
                    std::future::pending::<()>().await
                })
                .unwrap();
                // The caller's runtime ends here without awaiting the loop.
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert!(!done.is_finished());
            });
            drop(caller);
        });
        let (here, worker) = nices_rx.await.unwrap();
        assert_eq!((here, worker), (HANDSHAKE_THREAD_NICE, HANDSHAKE_THREAD_NICE), "own nice is {own}");
        handle.join().unwrap();
        for _ in 0..500 {
            if dropped.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the accept loop outlived the runtime that started it");
    }
}
