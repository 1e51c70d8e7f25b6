//! SQLProcedures, SQLProcedureColumns, SQLTablePrivileges and SQLColumnPrivileges through
//! the unixODBC driver manager: the ODBC 3 columns (names, types, order) and their rows
//! on SQLite, narrow and wide; and SQLGetFunctions says they are there.

use twofactor_e2e::raw::{Charset, Dbc, Env};
use twofactor_e2e::statement::{has_function, Catalog, Statement};
use twofactor_e2e::TestServer;

const VARCHAR: i16 = 12;
const SMALLINT: i16 = 5;
const INTEGER: i16 = 4;
const NO_NULLS: i16 = 0;

fn connect<'e>(env: &'e Env, server: &TestServer, name: &str, cs: Charset) -> Dbc<'e> {
    let user = server.user(name);
    let mut dbc = env.dbc(cs);
    let conn_str = server.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()));
    dbc.driver_connect(&conn_str).unwrap_or_else(|e| panic!("login failed: {e}"));
    dbc.exec("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total REAL)").unwrap();
    dbc.exec("CREATE VIEW IF NOT EXISTS big_orders AS SELECT id FROM orders WHERE total > 100").unwrap();
    dbc
}

fn names(columns: &[(String, i16, i16)]) -> Vec<&str> {
    columns.iter().map(|c| c.0.as_str()).collect()
}

#[test]
fn procedures_and_their_columns_are_empty_results_in_the_odbc3_layout() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "procs", Charset::Narrow);
    let stmt = Statement::new(&dbc);
    stmt.catalog(Catalog::Procedures(Some("%")), Charset::Narrow).unwrap();
    let columns = stmt.columns().unwrap();
    assert_eq!(
        names(&columns),
        [
            "PROCEDURE_CAT",
            "PROCEDURE_SCHEM",
            "PROCEDURE_NAME",
            "NUM_INPUT_PARAMS",
            "NUM_OUTPUT_PARAMS",
            "NUM_RESULT_SETS",
            "REMARKS",
            "PROCEDURE_TYPE"
        ]
    );
    assert_eq!((columns[2].1, columns[2].2), (VARCHAR, NO_NULLS));
    assert_eq!((columns[3].1, columns[7].1), (INTEGER, SMALLINT));
    assert!(stmt.all_text_rows().unwrap().is_empty(), "SQLite has no stored procedures");

    stmt.catalog(Catalog::ProcedureColumns(None, None), Charset::Narrow).unwrap();
    let columns = stmt.columns().unwrap();
    assert_eq!(columns.len(), 19);
    assert_eq!(
        names(&columns)[..8],
        [
            "PROCEDURE_CAT",
            "PROCEDURE_SCHEM",
            "PROCEDURE_NAME",
            "COLUMN_NAME",
            "COLUMN_TYPE",
            "DATA_TYPE",
            "TYPE_NAME",
            "COLUMN_SIZE"
        ]
    );
    assert_eq!(names(&columns)[17..], ["ORDINAL_POSITION", "IS_NULLABLE"]);
    assert!(stmt.all_text_rows().unwrap().is_empty());
}

#[test]
fn table_privileges_list_what_every_session_may_do() {
    let server = TestServer::start();
    let env = Env::new();
    for cs in [Charset::Narrow, Charset::Wide] {
        let dbc = connect(&env, &server, &format!("grants_{cs:?}").to_lowercase(), cs);
        let stmt = Statement::new(&dbc);
        stmt.catalog(Catalog::TablePrivileges(Some("%orders")), cs).unwrap();
        let columns = stmt.columns().unwrap();
        assert_eq!(
            names(&columns),
            ["TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "GRANTOR", "GRANTEE", "PRIVILEGE", "IS_GRANTABLE"]
        );
        assert!(columns.iter().all(|c| c.1 == VARCHAR));
        let rows = stmt.all_text_rows().unwrap();
        let summary: Vec<(String, String)> =
            rows.iter().map(|r| (r[2].clone().unwrap(), r[5].clone().unwrap())).collect();
        let expected: Vec<(String, String)> = [
            ("big_orders", "SELECT"),
            ("orders", "DELETE"),
            ("orders", "INSERT"),
            ("orders", "REFERENCES"),
            ("orders", "SELECT"),
            ("orders", "UPDATE"),
        ]
        .iter()
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect();
        assert_eq!(summary, expected, "{cs:?}");
        assert!(rows
            .iter()
            .all(|r| r[3].is_none() && r[4].as_deref() == Some("PUBLIC") && r[6].as_deref() == Some("NO")));
    }
}

#[test]
fn column_privileges_follow_the_table_and_the_column_pattern() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "column_grants", Charset::Wide);
    let stmt = Statement::new(&dbc);
    stmt.catalog(Catalog::ColumnPrivileges("orders", Some("t%")), Charset::Wide).unwrap();
    let columns = stmt.columns().unwrap();
    assert_eq!(
        names(&columns),
        ["TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "COLUMN_NAME", "GRANTOR", "GRANTEE", "PRIVILEGE", "IS_GRANTABLE"]
    );
    let rows = stmt.all_text_rows().unwrap();
    let privileges: Vec<&str> = rows.iter().map(|r| r[6].as_deref().unwrap()).collect();
    assert_eq!(privileges, ["INSERT", "REFERENCES", "SELECT", "UPDATE"]);
    assert!(rows.iter().all(|r| r[3].as_deref() == Some("total")));
    stmt.catalog(Catalog::ColumnPrivileges("no_such_table", None), Charset::Wide).unwrap();
    assert!(stmt.all_text_rows().unwrap().is_empty());
}

#[test]
fn sql_get_functions_reports_the_new_catalog_functions_set_pos_and_browse_connect() {
    let server = TestServer::start();
    let env = Env::new();
    let dbc = connect(&env, &server, "functions", Charset::Narrow);
    for (id, name) in [
        (67, "SQLProcedures"),
        (66, "SQLProcedureColumns"),
        (70, "SQLTablePrivileges"),
        (56, "SQLColumnPrivileges"),
        (68, "SQLSetPos"),
        (55, "SQLBrowseConnect"),
        (1021, "SQLFetchScroll"),
    ] {
        assert!(has_function(&dbc, id), "{name}");
    }
    assert!(!has_function(&dbc, 24), "SQLBulkOperations is not offered");
}
