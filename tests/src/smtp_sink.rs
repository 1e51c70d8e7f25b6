//! A plain SMTP relay on loopback that accepts every message and keeps nothing: enough
//! for a server to send an e-mailed code whose text the test does not need (the state
//! and the prompt of a pending e-mail code). The tests that read the code use aiosmtpd.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// Starts the relay on a free loopback port (a thread per connection); returns the port.
pub fn start() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let mut lines = BufReader::new(stream);
                let _ = out.write_all(b"220 sink ESMTP\r\n");
                let mut in_data = false;
                let mut line = String::new();
                while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            b"250 queued\r\n"
                        } else {
                            b""
                        }
                    } else {
                        match line.get(..4).map(str::to_ascii_uppercase).as_deref() {
                            Some("EHLO") => b"250-sink\r\n250 8BITMIME\r\n",
                            Some("DATA") => {
                                in_data = true;
                                b"354 go on\r\n"
                            }
                            Some("QUIT") => {
                                let _ = out.write_all(b"221 bye\r\n");
                                return;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    let _ = out.write_all(reply);
                    line.clear();
                }
            });
        }
    });
    port
}

/// `[smtp]` keys that send the server's mail to a new sink (`ServerOptions::config`).
pub fn server_config() -> Vec<(String, String, String)> {
    let port = start();
    [("host", "\"127.0.0.1\"".to_owned()), ("port", port.to_string()), ("security", "\"none\"".to_owned())]
        .into_iter()
        .map(|(k, v)| ("smtp".to_owned(), k.to_owned(), v))
        .collect()
}
