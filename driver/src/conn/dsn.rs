//! DSN keys from odbc.ini, read through the hosting driver manager's installer library
//! (unixODBC's or iODBC's) so that ODBCINI, ODBCSYSINI and the user/system search order
//! work as for every driver of that manager.

use crate::diag::{OdbcError, OdbcResult, SqlState};

/// The `(key, value)` pairs of a DSN, in file order.
pub fn read_dsn(dsn: &str) -> OdbcResult<Vec<(String, String)>> {
    let keys = crate::ffi::odbcinst::dsn_keys(dsn).ok_or_else(|| {
        OdbcError::new(
            SqlState::UNABLE_TO_CONNECT,
            format!("data source {dsn:?} not found in odbc.ini (check ODBCINI / ODBCSYSINI)"),
        )
    })?;
    Ok(keys
        .into_iter()
        .filter_map(|k| crate::ffi::odbcinst::dsn_value(dsn, &k).map(|v| (k, unbrace(v.trim()))))
        .collect())
}

/// Adds the keys of `dsn` below those already present.
pub fn add_dsn(settings: &mut super::config::Settings, name: &str, driver_given: bool) -> OdbcResult<()> {
    match read_dsn(name) {
        Ok(pairs) => {
            settings.extend(pairs);
            Ok(())
        }
        // `DSN=x;Driver=/path.so`: the driver was named directly, a missing DSN is moot.
        Err(e) if driver_given => {
            log::debug!("{}", e.message);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// odbc.ini values are literal, but people paste brace-quoted values from connection
/// strings (`PWD={a;b}`); a value wholly in braces is unquoted like one.
fn unbrace(v: &str) -> String {
    match v.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(inner) if !inner.replace("}}", "").contains('}') => inner.replace("}}", "}"),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brace_quoted_ini_values_are_unquoted_and_others_kept() {
        assert_eq!(unbrace("{a;b}}c}"), "a;b}c");
        assert_eq!(unbrace("plain"), "plain");
        assert_eq!(unbrace("{a}b{c}"), "{a}b{c}");
    }

    #[test]
    fn dsn_keys_come_from_the_file_odbcini_names() {
        let dir = std::env::temp_dir().join(format!("tf-dsn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ini = dir.join("odbc.ini");
        std::fs::write(&ini, "[unit_demo]\nDriver = /x.so\nServer = db.example\nPWD = {p;w}\nEmpty =\n").unwrap();
        // Only this test touches ODBCINI in the unit-test process.
        std::env::set_var("ODBCINI", &ini);
        std::env::set_var("ODBCSYSINI", &dir);
        let pairs = read_dsn("unit_demo").unwrap();
        assert!(pairs.contains(&("Server".into(), "db.example".into())), "{pairs:?}");
        assert!(pairs.contains(&("PWD".into(), "p;w".into())));
        assert!(pairs.contains(&("Empty".into(), "".into())));
        assert_eq!(read_dsn("no_such_dsn").unwrap_err().state, SqlState::UNABLE_TO_CONNECT);
    }
}
