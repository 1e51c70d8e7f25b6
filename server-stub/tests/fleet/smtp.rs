//! A real SMTP server for e-mailed codes: aiosmtpd (Debian's `python3-aiosmtpd`) with its
//! Debugging handler, which prints every message it receives; the output goes to a file
//! the test reads the code from.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// Starts aiosmtpd on a free loopback port; None (said on stderr) without it, unless
    /// `TWOFACTOR_REQUIRE_SMTP=1`, where that fails the test.
    pub fn start() -> Option<SmtpSink> {
        let found = Command::new("python3")
            .args(["-c", "import aiosmtpd.handlers"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            let why = "no aiosmtpd: apt-get install python3-aiosmtpd";
            assert!(!std::env::var("TWOFACTOR_REQUIRE_SMTP").is_ok_and(|v| v == "1"), "{why}");
            eprintln!("skipped: {why}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages.txt");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-u", "-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Debugging", "stdout"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sink = SmtpSink { child, port, out, _dir: dir };
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            // The greeting proves aiosmtpd answers on the port (not some other process).
            if let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut greeting = [0u8; 3];
                if tcp.read_exact(&mut greeting).is_ok() && &greeting == b"220" {
                    let _ = tcp.write_all(b"QUIT\r\n");
                    return Some(sink);
                }
            }
            assert!(Instant::now() < until, "aiosmtpd did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The codes of the messages received so far ("code is NNNNNN"), in order.
    pub fn codes(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.split("code is ")
            .skip(1)
            .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>())
            .filter(|c| !c.is_empty())
            .collect()
    }

    /// The code of the `n`-th message (1-based), waiting for it.
    pub fn code(&self, n: usize) -> String {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(c) = self.codes().get(n - 1) {
                return c.clone();
            }
            let have = self.codes().len();
            assert!(Instant::now() < until, "message {n} not delivered; have {have}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
