//! The code from an environment variable. A test binary of its own with one test: the
//! variable is set before the first ODBC call, so no thread reads the environment while
//! it changes.

use twofactor_e2e::raw::{Charset, Env};
use twofactor_e2e::TestServer;

#[test]
fn the_code_in_the_named_environment_variable_is_used() {
    let server = TestServer::start();
    let default_user = server.user("env_default");
    let named_user = server.user("env_named");
    std::env::set_var("TWOFACTOR_CODE", default_user.fresh_code());
    std::env::set_var("TWOFACTOR_E2E_CODE", named_user.fresh_code());

    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    dbc.driver_connect(&server.connection_string(&default_user, "")).expect("TWOFACTOR_CODE by default");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0, "the code from TWOFACTOR_CODE was used");

    let mut dbc = env.dbc(Charset::Wide);
    dbc.driver_connect(&server.connection_string(&named_user, "TwoFactorCodeEnv=TWOFACTOR_E2E_CODE"))
        .expect("TwoFactorCodeEnv names the variable");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0, "the code from TWOFACTOR_E2E_CODE was used");
    assert_eq!(dbc.query_i64("SELECT 1").unwrap(), Some(1));
}
