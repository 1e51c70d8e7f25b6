//! The directory first factor end to end: the real `twofactor-server serve` checks the
//! password against a real OpenLDAP (testkit/slapd, LDAPS with a test CA), and the
//! application logs in through unixODBC and our driver with the directory password plus
//! the TOTP code in attribute 1002. A wrong (local) password is 28000/1001; a directory
//! that is down is 08004/1023, and logins work again once it is back.

use twofactor_e2e::raw::{Charset, Env};
use twofactor_e2e::{ServerOptions, TestServer};
use twofactor_slapd_testkit::{Person, Slapd, GROUP_DN, PEOPLE};

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn the_directory_password_and_a_totp_code_log_in_through_unixodbc() {
    let people = [Person { uid: "lena", password: "lena-directory-pw", in_group: true }];
    let Some(mut directory) = Slapd::start(&people) else { return };
    let set = |key: &str, value: String| ("ldap".to_owned(), key.to_owned(), value);
    let config = vec![
        ("auth".to_owned(), "first_factor".to_owned(), "[\"ldap\", \"local\"]".to_owned()),
        set("url", toml_string(&directory.ldaps_url())),
        set("ca_file", toml_string(&directory.ca_file.display().to_string())),
        set("user_dn_template", toml_string(&format!("uid={{user}},{PEOPLE}"))),
        set("group_dn", toml_string(GROUP_DN)),
    ];
    let server = TestServer::start_with(ServerOptions { config, ..ServerOptions::default() });
    // A local user with a TOTP key whose password the directory checks (the CLI pins it).
    let user = server.user("lena");
    server.admin(&["user", "first-factor", "lena", "ldap"]);

    let env = Env::new();
    for cs in [Charset::Narrow, Charset::Wide] {
        let mut dbc = env.dbc(cs);
        let cs_str = server.connection_string_for("lena", "lena-directory-pw", "");
        dbc.driver_connect(&cs_str).unwrap_or_else(|e| panic!("{cs:?}: directory password: {e}"));
        assert_eq!(dbc.two_factor_pending().unwrap(), 1, "{cs:?}");
        dbc.submit_code(&user.fresh_code()).unwrap_or_else(|e| panic!("{cs:?}: code: {e}"));
        assert_eq!(dbc.query_i64("SELECT 6 * 7").unwrap(), Some(42), "{cs:?}");
        dbc.disconnect().unwrap();
    }

    // The local password is not the directory's, and nothing falls through to it.
    let mut dbc = env.dbc(Charset::Narrow);
    let err = dbc.driver_connect(&server.connection_string(&user, "")).expect_err("the local password");
    assert_eq!((err.state(), err.native()), ("28000", 1001), "{err}");

    directory.stop();
    let mut dbc = env.dbc(Charset::Narrow);
    let down = server.connection_string_for("lena", "lena-directory-pw", "");
    let err = dbc.driver_connect(&down).expect_err("the directory is down");
    assert_eq!((err.state(), err.native()), ("08004", 1023), "{err}");
    assert!(err.message().contains("directory"), "{err}");

    directory.resume();
    let mut dbc = env.dbc(Charset::Wide);
    dbc.driver_connect(&down).unwrap_or_else(|e| panic!("after the directory came back: {e}"));
    dbc.submit_code(&user.fresh_code()).unwrap();
    assert_eq!(dbc.query_i64("SELECT 1").unwrap(), Some(1));
}
