//! The delegated second factor through the ODBC driver and the unixODBC driver manager:
//! the real `twofactor-server serve` runs the sample HOTP hook (docs/hooks/hotp_hook.py);
//! the driver reads the method `delegated` and the hook's hint in 0x4001/0x4002, the code
//! goes through attribute 1002, and the same code on a second connection is refused.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use twofactor_e2e::raw::{Charset, Env};
use twofactor_e2e::raw_attr::*;
use twofactor_e2e::{ServerOptions, TestServer};

const TOKEN_SECRET: &[u8] = b"hotp-token-secret-20";
const PENDING: u32 = 2;
const VERIFIED: u32 = 3;

/// RFC 4226 HOTP: a TOTP with one-second steps at time `counter`.
fn hotp(counter: u64) -> String {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(1)
        .with_secret(totp_rs::Secret::new(TOKEN_SECRET.into()))
        .build_noncompliant()
        .generate(counter)
        .to_string()
}

#[test]
fn a_hotp_code_checked_by_the_sample_hook_logs_in_once_through_unixodbc() {
    // The hook and its token file, in a private directory (the server refuses a hook
    // others could change).
    let hook_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(hook_dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let hook = hook_dir.path().join("hotp_hook.py");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/hooks/hotp_hook.py"), &hook).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o700)).unwrap();
    let tokens = hook_dir.path().join("tokens.json");
    let hex: String = TOKEN_SECRET.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&tokens, format!(r#"{{"hana": {{"secret_hex": "{hex}", "counter": 0, "digits": 6}}}}"#)).unwrap();

    let program = format!("[\"{}\", \"{}\"]", hook.display(), tokens.display());
    let config = vec![("hook".to_owned(), "program".to_owned(), program)];
    let server = TestServer::start_with(ServerOptions { config, ..ServerOptions::default() });
    let user = server.user("hana");
    server.admin(&["user", "method", "hana", "delegated"]);

    let env = Env::new();
    for (cs, counter) in [(Charset::Narrow, 0), (Charset::Wide, 1)] {
        let mut dbc = env.dbc(cs);
        dbc.driver_connect(&server.connection_string(&user, "")).unwrap_or_else(|e| panic!("{cs:?}: {e}"));
        assert_eq!(dbc.attr_u32(SQL_ATTR_TWO_FACTOR_STATE).unwrap(), PENDING);
        assert_eq!(dbc.attr_text(SQL_ATTR_TWO_FACTOR_METHOD, 256).unwrap().text, "delegated");
        let destination = dbc.attr_text(SQL_ATTR_TWO_FACTOR_DESTINATION, 256).unwrap().text;
        assert_eq!(destination, "the next code of your HOTP token");
        dbc.submit_code(&hotp(counter)).unwrap_or_else(|e| panic!("{cs:?}: {e}"));
        assert_eq!(dbc.attr_u32(SQL_ATTR_TWO_FACTOR_STATE).unwrap(), VERIFIED);
        assert_eq!(dbc.query_i64("SELECT 40 + 2").unwrap(), Some(42));
        dbc.disconnect().unwrap();
    }

    // The code accepted last, on a new connection of the same process: the driver's own
    // code ledger refuses it before it reaches the server (28000/1020, nothing counted);
    // the server's replay ledger for DELEGATED is covered by server-stub/tests/hook.rs.
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&user, "")).unwrap();
    let err = dbc.submit_code(&hotp(1)).expect_err("a replayed code");
    assert_eq!((err.state(), err.native()), ("28000", 1020), "{err}");
}
