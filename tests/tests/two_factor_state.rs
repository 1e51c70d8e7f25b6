//! The two-factor state attributes 0x4000-0x4004 through the unixODBC driver manager,
//! read with SQLGetConnectAttr and SQLGetConnectAttrW in every state a password login
//! reaches: not connected, pending (TOTP, e-mail), verified, not required, rejected,
//! locked and expired. (Tickets and service accounts set theirs in their own suites.)

use std::time::Duration;

use twofactor_e2e::raw::{Charset, Dbc, Env};
use twofactor_e2e::raw_attr::*;
use twofactor_e2e::smtp_sink;
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
fn a_code_from_the_connection_string_reads_verified_and_a_backup_code_is_named() {
    let server = TestServer::start();
    let env = Env::new();
    let user = server.user("state_dsn_code");
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()))).unwrap();
    let r = read_all(&dbc);
    assert_eq!((r.state, r.method.as_str()), (VERIFIED, "TOTP"), "{r:?}");

    let backup = server.admin(&["backup-codes", "generate", "state_dsn_code"]);
    let codes: Vec<&str> = backup.lines().map(str::trim).filter(|l| l.len() >= 10 && l.contains('-')).collect();
    assert!(codes.len() >= 2, "backup codes: {backup}");
    for (cs, code) in BOTH.into_iter().zip(codes) {
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
        dbc.submit_code(code).unwrap_or_else(|e| panic!("{cs:?}: backup code: {e}"));
        let r = read_all(&dbc);
        assert_eq!((r.state, r.method.as_str()), (VERIFIED, "backup code"), "{cs:?}: {r:?}");
        assert_eq!(r.description, "The second factor was verified with a backup code.");
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

#[test]
fn a_pending_e_mail_code_names_its_masked_destination() {
    let config = smtp_sink::server_config();
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
        // The server masks the address; the driver passes it on as it is.
        assert_eq!(r.destination, "e-mail to j***@example.org", "{r:?}");
        assert!(r.description.starts_with("The server waits for the e-mail code sent to j***@example.org ("), "{r:?}");
    }
}

#[test]
fn a_service_account_login_reads_service_account_with_its_credential() {
    const SERVICE_ACCOUNT: u32 = 5;
    let server = TestServer::start();
    let key = server.scratch().join("nightly.pem");
    let key_arg = key.display().to_string();
    server.admin(&["service-account", "add", "nightly", "--from", "127.0.0.1/32", "--generate-key", &key_arg]);
    let extra = format!("UID=nightly;ServiceKeyFile={}", twofactor_e2e::quote_value(&key_arg));
    let env = Env::new();
    for cs in BOTH {
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.base_connection_string(&extra)).unwrap();
        let r = read_all(&dbc);
        assert_eq!(
            (r.state, r.method.as_str(), r.destination.as_str(), r.seconds_left),
            (SERVICE_ACCOUNT, "key", "", 0)
        );
        assert!(r.description.contains("service account"), "{cs:?}: {r:?}");
        dbc.disconnect().unwrap();
    }
}
