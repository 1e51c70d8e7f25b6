//! A real SMTP server for the tests that send codes by e-mail or through an e-mail-to-SMS
//! gateway: aiosmtpd (Debian's `python3-aiosmtpd`, or PyPI's `aiosmtpd`) on a free
//! loopback port, with its Mailbox handler writing one Maildir file per message.
//!
//! The interpreter is looked for, not assumed: on machines where `python3` on PATH is not
//! Debian's (pyenv, a venv), Debian's package is only importable from `/usr/bin/python3`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// A running aiosmtpd; killed when dropped.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

/// One received message: the envelope recipient and the whole text (headers and body).
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub text: String,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first Python that can import aiosmtpd: PATH's `python3`, then Debian's own.
fn python_with_aiosmtpd() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd.handlers"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpSink {
    /// Starts aiosmtpd, or returns None (said on stderr) when it is not installed. With
    /// `TWOFACTOR_REQUIRE_SMTP` set (scripts/test.sh sets it) a missing aiosmtpd panics
    /// instead, so a skip cannot hide a failure in CI.
    pub fn start() -> Option<SmtpSink> {
        let Some(py) = python_with_aiosmtpd() else {
            let msg = "no real SMTP server: install Debian's python3-aiosmtpd \
                       (apt-get install python3-aiosmtpd) or `pip install aiosmtpd`";
            if std::env::var_os("TWOFACTOR_REQUIRE_SMTP").is_some() {
                panic!("{msg} (TWOFACTOR_REQUIRE_SMTP is set)");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let maildir = tempfile::tempdir().unwrap();
        // A free port can be taken between the probe and aiosmtpd's bind: a few tries.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(py)
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(maildir.path().join("mail"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn aiosmtpd");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                    // The greeting proves it is aiosmtpd and not another process on the port.
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut line = String::new();
                    let _ = BufReader::new(&mut s).read_line(&mut line);
                    let _ = s.write_all(b"QUIT\r\n");
                    if line.starts_with("220") {
                        return Some(SmtpSink { child, port, maildir });
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("aiosmtpd did not start");
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<(SystemTime, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.maildir.path().join("mail").join(sub)) {
                for e in rd.flatten() {
                    let t = e.metadata().and_then(|m| m.modified()).unwrap();
                    files.push((t, e.path()));
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| {
                let text = std::fs::read_to_string(p).unwrap();
                let to = text.lines().find_map(|l| l.strip_prefix("X-RcptTo: ")).unwrap_or("").trim().to_owned();
                Mail { to, text }
            })
            .collect()
    }

    /// Waits (up to 15 s) for the `n`-th message (1-based) and returns it.
    pub fn wait_for(&self, n: usize) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "message {n} not delivered; have {}", m.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Mail {
    /// The first run of exactly `digits` digits in the body: the code the message carries.
    pub fn code(&self, digits: usize) -> Option<String> {
        let text = &self.text;
        let body = text.split_once("\n\n").or_else(|| text.split_once("\r\n\r\n")).map(|(_, b)| b).unwrap_or(text);
        let mut run = String::new();
        for c in body.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_digit() {
                run.push(c);
            } else {
                if run.len() == digits {
                    return Some(run);
                }
                run.clear();
            }
        }
        None
    }
}
