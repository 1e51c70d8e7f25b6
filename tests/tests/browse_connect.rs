//! SQLBrowseConnect through the unixODBC driver manager: a login in steps (driver and
//! server, then user and password, then the one-time code), narrow and wide, and a wrong
//! code that ends the browse with 28000.

use std::sync::OnceLock;

use twofactor_e2e::raw::{Charset, Env};
use twofactor_e2e::statement::{browse_connect, Statement, SQL_ERROR, SQL_NEED_DATA, SQL_SUCCESS};
use twofactor_e2e::{driver_library, isolate_odbc_config, TestServer};

/// unixODBC's SQLBrowseConnect finds `DRIVER=` in odbcinst.ini only (no library path), so
/// the driver gets a section in this process's own odbcinst.ini.
fn driver_name() -> &'static str {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        let dir = isolate_odbc_config();
        let ini = format!("[TwoFactor Browse]\nDriver={}\n", driver_library().display());
        std::fs::write(dir.join("odbcinst.ini"), ini).unwrap();
    });
    "TwoFactor Browse"
}

fn first_step(server: &TestServer) -> String {
    format!("DRIVER={{{}}};Server=127.0.0.1;Port={};CAFile={}", driver_name(), server.port, server.ca_file().display())
}

#[test]
fn a_login_completes_in_three_steps_and_returns_the_full_connection_string() {
    let server = TestServer::start();
    let env = Env::new();
    for cs in [Charset::Narrow, Charset::Wide] {
        let user = server.user(&format!("browser_{cs:?}").to_lowercase());
        let dbc = env.dbc(cs);
        let (rc, out, diag) = browse_connect(&dbc, &first_step(&server), cs);
        assert_eq!((rc, out.as_str()), (SQL_NEED_DATA, "UID:User name=?;PWD:Password=?"), "{cs:?} {diag:?}");
        let (rc, out, diag) = browse_connect(&dbc, &format!("UID={};PWD={}", user.name, user.password), cs);
        assert_eq!((rc, out.as_str()), (SQL_NEED_DATA, "TwoFactorCode:One-time code=?"), "{cs:?} {diag:?}");
        let code = user.fresh_code();
        let (rc, out, diag) = browse_connect(&dbc, &format!("TwoFactorCode={code}"), cs);
        assert_eq!(rc, SQL_SUCCESS, "{cs:?} {diag:?}");
        assert!(out.contains(&format!("UID={}", user.name)) && out.contains("Port="), "{out}");
        assert!(!out.contains(&code), "the one-time code is not handed back: {out}");
        // The session runs SQL.
        let stmt = Statement::new(&dbc);
        stmt.exec("SELECT 40 + 2").unwrap();
        stmt.fetch().unwrap();
        assert_eq!(stmt.get_i64(1).unwrap(), Some(42));
    }
}

#[test]
fn a_missing_server_is_asked_for_first() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = env.dbc(Charset::Narrow);
    let (rc, out, _) = browse_connect(&dbc, &format!("DRIVER={{{}}}", driver_name()), Charset::Narrow);
    assert_eq!((rc, out.as_str()), (SQL_NEED_DATA, "Server:Server=?;UID:User name=?;PWD:Password=?"));
    let more = format!("Server=127.0.0.1;Port={};CAFile={}", server.port, server.ca_file().display());
    let (rc, out, _) = browse_connect(&dbc, &more, Charset::Narrow);
    assert_eq!((rc, out.as_str()), (SQL_NEED_DATA, "UID:User name=?;PWD:Password=?"));
}

#[test]
fn a_wrong_code_ends_the_browse_with_28000() {
    let server = TestServer::start();
    let env = Env::new();
    let user = server.user("browser_wrong");
    let dbc = env.dbc(Charset::Narrow);
    assert_eq!(browse_connect(&dbc, &first_step(&server), Charset::Narrow).0, SQL_NEED_DATA);
    let login = format!("UID={};PWD={}", user.name, user.password);
    assert_eq!(browse_connect(&dbc, &login, Charset::Narrow).0, SQL_NEED_DATA);
    let (rc, _, diag) = browse_connect(&dbc, "TwoFactorCode=000000", Charset::Narrow);
    assert_eq!(rc, SQL_ERROR);
    assert_eq!(diag[0].state, "28000", "{diag:?}");
    // The browse is over: it starts again from the first step.
    let (rc, out, diag) = browse_connect(&dbc, &first_step(&server), Charset::Narrow);
    assert_eq!((rc, out.as_str()), (SQL_NEED_DATA, "UID:User name=?;PWD:Password=?"), "{diag:?}");
}

#[test]
fn a_wrong_password_fails_at_its_step_with_28000() {
    let server = TestServer::start();
    let env = Env::new();
    let user = server.user("browser_badpw");
    let dbc = env.dbc(Charset::Narrow);
    assert_eq!(browse_connect(&dbc, &first_step(&server), Charset::Narrow).0, SQL_NEED_DATA);
    let (rc, _, diag) = browse_connect(&dbc, &format!("UID={};PWD=not-it", user.name), Charset::Narrow);
    assert_eq!(rc, SQL_ERROR);
    assert_eq!(diag[0].state, "28000", "{diag:?}");
}
