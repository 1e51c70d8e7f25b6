//! The two-factor state attributes 0x4000-0x4004 through the unixODBC driver manager,
//! read with SQLGetConnectAttr and SQLGetConnectAttrW in every state a password login
//! reaches: not connected, pending (TOTP, e-mail), verified, not required, rejected,
//! locked and expired. (Tickets and service accounts set theirs in their own suites.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use twofactor_e2e::raw::{Charset, Dbc, Env};
use twofactor_e2e::raw_attr::*;
use twofactor_e2e::{ServerOptions, TestServer};

const BOTH: [Charset; 2] = [Charset::Narrow, Charset::Wide];

const NOT_REQUIRED: u32 = 1;
const PENDING: u32 = 2;
const VERIFIED: u32 = 3;
const REJECTED: u32 = 6;
const LOCKED: u32 = 7;
const EXPIRED: u32 = 8;

/// Every state attribute of `dbc`, the texts read into a roomy buffer.
#[derive(Debug)]
struct Read {
    state: u32,
    method: String,
    destination: String,
    seconds_left: u32,
    description: String,
}

fn read_all(dbc: &Dbc<'_>) -> Read {
    let text = |attr| {
        let t = dbc.attr_text(attr, 512).unwrap_or_else(|e| panic!("{:?}: attribute {attr:#x}: {e}", dbc.cs));
        let unit = if dbc.cs == Charset::Wide { 2 } else { 1 };
        let expected = if unit == 2 { t.text.encode_utf16().count() * 2 } else { t.text.len() };
        assert_eq!(t.len_bytes as usize, expected, "{:?}: {t:?}", dbc.cs);
        t.text
    };
    Read {
        state: dbc.attr_u32(SQL_ATTR_TWO_FACTOR_STATE).unwrap(),
        method: text(SQL_ATTR_TWO_FACTOR_METHOD),
        destination: text(SQL_ATTR_TWO_FACTOR_DESTINATION),
        seconds_left: dbc.attr_u32(SQL_ATTR_TWO_FACTOR_SECONDS_LEFT).unwrap(),
        description: text(SQL_ATTR_TWO_FACTOR_DESCRIPTION),
    }
}

#[test]
fn a_handle_that_is_not_connected_gets_08003_from_the_driver_manager() {
    // unixODBC answers attributes of an unconnected handle itself (the driver is not
    // loaded yet); the driver's NOT_CONNECTED (0) is for driver managers that ask it.
    let env = Env::new();
    for cs in BOTH {
        let dbc = env.dbc(cs);
        let err = dbc.attr_u32(SQL_ATTR_TWO_FACTOR_STATE).expect_err("not connected");
        assert_eq!(err.state(), "08003", "{cs:?}: {err}");
    }
}

#[test]
fn a_pending_totp_code_then_a_verified_one_read_alike_through_both_entry_points() {
    let server = TestServer::start_with(ServerOptions { two_factor_timeout_secs: 300, ..ServerOptions::default() });
    let env = Env::new();
    for cs in BOTH {
        let user = server.user(&format!("state_totp_{cs:?}").to_lowercase());
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let pending = read_all(&dbc);
        assert_eq!(pending.state, PENDING, "{cs:?}: {pending:?}");
        assert_eq!(pending.method, "TOTP", "{cs:?}");
        assert_eq!(pending.destination, "", "{cs:?}");
        assert!((290..=300).contains(&pending.seconds_left), "{cs:?}: {pending:?}");
        assert!(pending.description.starts_with("The server waits for the TOTP code ("), "{cs:?}: {pending:?}");

        dbc.submit_code(&user.fresh_code()).unwrap();
        let verified = read_all(&dbc);
        assert_eq!(verified.state, VERIFIED, "{cs:?}: {verified:?}");
        assert_eq!(verified.method, "TOTP");
        assert_eq!(verified.seconds_left, 0);
        assert_eq!(verified.description, "The second factor was verified with the TOTP code.");
        dbc.disconnect().unwrap();
    }
}

#[test]
fn a_short_buffer_truncates_the_description_with_01004_and_the_full_length_in_bytes() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("state_truncated");
    let env = Env::new();
    for cs in BOTH {
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let full = dbc.attr_text(SQL_ATTR_TWO_FACTOR_DESCRIPTION, 512).unwrap();
        let unit = if cs == Charset::Wide { 2 } else { 1 };
        assert_eq!(full.len_bytes as usize, full.text.len() * unit, "{cs:?}: {full:?}");
        let short = dbc.attr_text(SQL_ATTR_TWO_FACTOR_DESCRIPTION, 10 * unit).unwrap();
        assert_eq!(short.text, full.text[..9], "{cs:?}: NUL-terminated within the buffer");
        assert_eq!(short.len_bytes, full.len_bytes, "{cs:?}: the full length is reported");
        assert!(short.warnings.iter().any(|w| w.state == "01004"), "{cs:?}: {short:?}");
        dbc.disconnect().unwrap();
    }
}

#[test]
fn a_user_without_a_second_factor_reads_not_required() {
    let server = TestServer::start();
    let user = server.user_without_two_factor("state_none");
    let env = Env::new();
    for cs in BOTH {
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let r = read_all(&dbc);
        assert_eq!((r.state, r.method.as_str(), r.destination.as_str(), r.seconds_left), (NOT_REQUIRED, "", "", 0));
        assert_eq!(r.description, "Connected; the server asks no second factor of this user.");
    }
}

#[test]
fn a_wrong_code_reads_rejected_until_the_disconnect() {
    let server = TestServer::start();
    let env = Env::new();
    for cs in BOTH {
        let user = server.user(&format!("state_wrong_{cs:?}").to_lowercase());
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let err = dbc.submit_code(&user.wrong_code()).expect_err("wrong code");
        assert_eq!(err.native(), 1002, "{err}");
        let r = read_all(&dbc);
        assert_eq!(r.state, REJECTED, "{cs:?}: {r:?}");
        assert_eq!(r.method, "TOTP");
        assert!(r.description.contains("rejected"), "{r:?}");
        dbc.disconnect().unwrap();
    }
}

#[test]
fn the_failure_that_locks_the_account_reads_locked() {
    let server = TestServer::start_with(ServerOptions { max_failed_attempts: 1, ..ServerOptions::default() });
    let env = Env::new();
    for cs in BOTH {
        let user = server.user(&format!("state_locked_{cs:?}").to_lowercase());
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let err = dbc.submit_code(&user.wrong_code()).expect_err("wrong code");
        assert_eq!(err.native(), 1003, "{err}");
        let r = read_all(&dbc);
        assert_eq!(r.state, LOCKED, "{cs:?}: {r:?}");
        assert!(r.description.contains("locked"), "{r:?}");
    }
}

#[test]
fn no_code_within_the_servers_timeout_reads_expired_before_and_after_a_late_code() {
    let server = TestServer::start_with(ServerOptions { two_factor_timeout_secs: 2, ..ServerOptions::default() });
    let env = Env::new();
    for cs in BOTH {
        let user = server.user(&format!("state_late_{cs:?}").to_lowercase());
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        let r = read_all(&dbc);
        assert_eq!(r.state, PENDING, "{cs:?}: {r:?}");
        assert!(r.seconds_left <= 2, "{r:?}");
        std::thread::sleep(Duration::from_millis(3000));
        let r = read_all(&dbc);
        assert_eq!((r.state, r.seconds_left), (EXPIRED, 0), "{cs:?}: {r:?}");
        dbc.submit_code(&user.fresh_code()).expect_err("too late");
        let r = read_all(&dbc);
        assert_eq!(r.state, EXPIRED, "{cs:?}: {r:?}");
        assert!(r.description.contains("timeout"), "{r:?}");
    }
}

/// A plain SMTP relay on loopback that accepts every message and keeps nothing.
fn smtp_sink() -> u16 {
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

#[test]
fn a_pending_e_mail_code_names_its_masked_destination() {
    let port = smtp_sink();
    let config = [
        ("smtp", "host", "\"127.0.0.1\"".to_owned()),
        ("smtp", "port", port.to_string()),
        ("smtp", "security", "\"none\"".to_owned()),
    ]
    .into_iter()
    .map(|(s, k, v)| (s.to_owned(), k.to_owned(), v))
    .collect();
    let server = TestServer::start_with(ServerOptions { config, ..ServerOptions::default() });
    let env = Env::new();
    for cs in BOTH {
        let name = format!("state_mail_{cs:?}").to_lowercase();
        let user = server.user(&name);
        server.admin(&["user", "email", &name, "jane.doe@example.org"]);
        server.admin(&["user", "method", &name, "email"]);
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap_or_else(|e| panic!("{cs:?}: {e}"));
        let r = read_all(&dbc);
        assert_eq!(r.state, PENDING, "{cs:?}: {r:?}");
        assert_eq!(r.method, "e-mail");
        assert!(r.destination.starts_with("e-mail to "), "{r:?}");
        assert!(!r.destination.contains("jane.doe"), "the address stays masked: {r:?}");
        assert!(r.destination.ends_with("example.org"), "{r:?}");
        assert!(r.description.contains("e-mail code sent to "), "{r:?}");
    }
}
