//! The driver's TCP socket. Writes go through send(2) with MSG_NOSIGNAL (SO_NOSIGPIPE on
//! Apple systems), so a server that closed the connection gives EPIPE, an error the driver
//! reports, instead of a SIGPIPE that kills a host process which did not ignore it.
//! A second handle on the same socket (`Severer`) lets a timer thread shut the socket
//! down, which ends a read blocked on a frozen link.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::SockRef;

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
const SEND_FLAGS: i32 = 0;

/// A connected TCP stream whose writes never raise SIGPIPE, and whose reads and writes
/// can share one deadline.
#[derive(Debug)]
pub struct Socket {
    tcp: TcpStream,
    /// While set, every read and write gets only the time left until it, and fails with
    /// TimedOut once it has passed: a peer that trickles a byte at a time cannot stretch
    /// a bounded phase (the login), however many reads it takes.
    deadline: Option<Instant>,
}

impl Socket {
    pub fn new(tcp: TcpStream) -> io::Result<Socket> {
        #[cfg(any(target_os = "macos", target_os = "ios", target_os = "tvos", target_os = "watchos"))]
        SockRef::from(&tcp).set_nosigpipe(true)?;
        Ok(Socket { tcp, deadline: None })
    }

    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The time left before the deadline, if one is set; TimedOut once it has passed.
    fn time_left(&self) -> io::Result<Option<Duration>> {
        match self.deadline {
            None => Ok(None),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(io::Error::new(io::ErrorKind::TimedOut, "deadline expired")),
            },
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(timeout)
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_write_timeout(timeout)
    }

    /// Non-blocking mode, for a probe that must not wait (a pool asking whether the
    /// server closed an idle session).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.tcp.set_nonblocking(nonblocking)
    }

    pub fn shutdown(&self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }

    /// A handle that can shut this socket down from another thread; `dead` is set
    /// before it does, so the session knows the link is gone by its own hand.
    pub fn severer(&self, dead: Arc<AtomicBool>) -> io::Result<Severer> {
        Ok(Severer { socket: self.tcp.try_clone()?, dead })
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(left) = self.time_left()? {
            self.tcp.set_read_timeout(Some(left))?;
        }
        self.tcp.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(left) = self.time_left()? {
            self.tcp.set_write_timeout(Some(left))?;
        }
        SockRef::from(&self.tcp).send_with_flags(buf, SEND_FLAGS)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A second descriptor of a session's socket, held by a query timer: shutting it down
/// makes the session's blocked read return at once (shutdown(2) acts on the socket, not
/// on one descriptor), and the session then reports the link as dead.
#[derive(Debug)]
pub struct Severer {
    socket: TcpStream,
    dead: Arc<AtomicBool>,
}

impl Severer {
    pub fn sever(&self) {
        self.dead.store(true, Ordering::Release);
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    // That a write to a closed peer is an error and not a SIGPIPE is tested end to end
    // (tests/tests/driver_hardening.rs), in a child process that does not ignore SIGPIPE.

    #[test]
    fn a_deadline_bounds_many_reads_together() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let trickle = std::thread::spawn(move || {
            while peer.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut s = Socket::new(tcp).unwrap();
        let begun = Instant::now();
        s.set_deadline(begun.checked_add(Duration::from_millis(300)));
        let mut byte = [0u8; 1];
        let e = loop {
            if let Err(e) = s.read(&mut byte) {
                break e;
            }
        };
        assert!(matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock), "{e}");
        assert!(begun.elapsed() < Duration::from_secs(2), "{:?}", begun.elapsed());
        drop(s);
        trickle.join().unwrap();
    }

    #[test]
    fn severing_ends_a_read_blocked_in_another_thread() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        let mut s = Socket::new(tcp).unwrap();
        let dead = Arc::new(AtomicBool::new(false));
        let severer = s.severer(Arc::clone(&dead)).unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 16];
            s.read(&mut buf)
        });
        std::thread::sleep(Duration::from_millis(100));
        severer.sever();
        assert_eq!(reader.join().unwrap().unwrap(), 0, "the blocked read returns end-of-stream");
        assert!(dead.load(Ordering::Acquire), "the link is marked dead");
    }
}
