//! Catalog functions on the PostgreSQL backend (pg_catalog / information_schema behind
//! them), through unixODBC and the real driver: SQLTables, SQLColumns, SQLPrimaryKeys,
//! SQLForeignKeys, SQLStatistics, SQLGetTypeInfo and SQLProcedures describe what the
//! user's PostgreSQL role created, in the ODBC 3 layout.
//!
//! Needs the PostgreSQL test cluster (`TWOFACTOR_TEST_PG_DIR`); without one each test
//! says so and returns.

use std::ffi::c_void;

use twofactor_e2e::odbc::{exec, login};
use twofactor_e2e::pg::PgTestServer;
use twofactor_e2e::raw::{Charset, Dbc, Env};
use twofactor_e2e::statement::{CallError, Catalog, Statement};

#[link(name = "odbc")]
extern "system" {
    fn SQLStatistics(
        stmt: *mut c_void,
        c: *const u8,
        cl: i16,
        s: *const u8,
        sl: i16,
        t: *const u8,
        tl: i16,
        unique: u16,
        reserved: u16,
    ) -> i16;
}

const SCHEMA: &str = "CREATE TABLE customers (cid int8 PRIMARY KEY, name text NOT NULL);
    CREATE TABLE orders (id int4 NOT NULL, line int4 NOT NULL, cid int8 REFERENCES customers (cid),
        item varchar(40), price numeric(10,2), PRIMARY KEY (id, line));
    CREATE INDEX orders_by_item ON orders (item);
    CREATE UNIQUE INDEX customers_by_name ON customers (name);
    CREATE VIEW big_orders AS SELECT id, price FROM orders WHERE price > 100;
    CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
    CREATE PROCEDURE bump(n int) LANGUAGE sql AS 'SELECT n';";

fn connect<'e>(env: &'e Env, pg: &PgTestServer<'_>, name: &str, cs: Charset) -> Dbc<'e> {
    let user = pg.user(name);
    let mut dbc = env.dbc(cs);
    let conn_str = pg.connection_string(&user, &format!("TwoFactorCode={}", user.fresh_code()));
    dbc.driver_connect(&conn_str).unwrap_or_else(|e| panic!("login failed: {e}"));
    dbc
}

fn text(rows: &[Vec<Option<String>>], column: usize) -> Vec<&str> {
    rows.iter().map(|r| r[column].as_deref().unwrap_or("NULL")).collect()
}

#[test]
fn tables_columns_and_keys_describe_what_the_role_created() {
    let Some(pg) = PgTestServer::start(&["cat"]) else { return };
    let user = pg.user("cat");
    let conn = login(&pg, &user);
    for statement in SCHEMA.split(";\n") {
        exec(&conn, statement);
    }

    let tables: Vec<_> = conn.tables("", "public", "%", "").unwrap().map(|r| r.unwrap()).collect();
    let mut listed: Vec<(String, String, String)> = tables
        .iter()
        .map(|t| {
            let s = |v: &odbc_api::parameter::VarCharArray<255>| v.as_str().unwrap().unwrap_or("").to_owned();
            (t.schema.as_str().unwrap().unwrap_or("").to_owned(), s(&t.table), s(&t.table_type))
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("public".into(), "big_orders".into(), "VIEW".into()),
            ("public".into(), "customers".into(), "TABLE".into()),
            ("public".into(), "orders".into(), "TABLE".into()),
        ],
        "public's tables and views, nothing of pg_catalog"
    );
    let catalog = tables[0].catalog.as_str().unwrap();
    assert!(catalog.is_none() || catalog == Some(pg.db.name.as_str()), "TABLE_CAT: {catalog:?}");
    let only_views: Vec<_> = conn.tables("", "public", "%", "VIEW").unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(only_views.len(), 1, "the table-type filter");

    let columns: Vec<_> = conn.columns("", "public", "orders", "%").unwrap().map(|r| r.unwrap()).collect();
    let described: Vec<(String, i16, i32, i16)> = columns
        .iter()
        .map(|c| (c.column_name.as_str().unwrap().unwrap().to_owned(), c.data_type, c.ordinal_position, c.nullable))
        .collect();
    let types: Vec<i16> = described.iter().map(|d| d.1).collect();
    assert_eq!(
        described.iter().map(|d| (d.0.as_str(), d.2, d.3)).collect::<Vec<_>>(),
        [("id", 1, 0), ("line", 2, 0), ("cid", 3, 1), ("item", 4, 1), ("price", 5, 1)],
        "names, ordinals and NOT NULL"
    );
    assert_eq!(&types[..3], [4, 4, -5], "int4, int4, int8");
    assert!([12, -9].contains(&types[3]), "varchar: {types:?}");
    assert!([2, 3].contains(&types[4]), "numeric: {types:?}");
    assert_eq!(columns[3].column_size.as_opt().copied(), Some(40), "varchar(40)");
    assert_eq!(
        (columns[4].column_size.as_opt().copied(), columns[4].decimal_digits.as_opt().copied()),
        (Some(10), Some(2))
    );

    let keys: Vec<_> = conn.primary_keys(None, Some("public"), "orders").unwrap().map(|r| r.unwrap()).collect();
    let keys: Vec<(String, i16, String)> = keys
        .iter()
        .map(|k| {
            (
                k.column.as_str().unwrap().unwrap().to_owned(),
                k.key_seq,
                k.pk_name.as_str().unwrap().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(keys, [("id".into(), 1, "orders_pkey".into()), ("line".into(), 2, "orders_pkey".into())]);

    // Keys of other tables that refer to customers' primary key, and keys of orders.
    for (pk_table, fk_table) in [("customers", ""), ("", "orders")] {
        let fks: Vec<_> =
            conn.foreign_keys("", "public", pk_table, "", "public", fk_table).unwrap().map(|r| r.unwrap()).collect();
        let fks: Vec<(String, String, String, String, i16)> = fks
            .iter()
            .map(|f| {
                let s = |v: Option<&str>| v.unwrap_or("").to_owned();
                (
                    s(f.pk_table.as_str().unwrap()),
                    s(f.pk_column.as_str().unwrap()),
                    s(f.fk_table.as_str().unwrap()),
                    s(f.fk_column.as_str().unwrap()),
                    f.key_seq,
                )
            })
            .collect();
        assert_eq!(
            fks,
            [("customers".into(), "cid".into(), "orders".into(), "cid".into(), 1)],
            "SQLForeignKeys(pk {pk_table:?}, fk {fk_table:?})"
        );
    }
}

#[test]
fn statistics_list_the_indexes_of_a_table() {
    let Some(pg) = PgTestServer::start(&["stats"]) else { return };
    let env = Env::new();
    let dbc = connect(&env, &pg, "stats", Charset::Narrow);
    for statement in SCHEMA.split(";\n") {
        dbc.exec(statement).unwrap();
    }
    for table in ["orders", "customers"] {
        let stmt = Statement::new(&dbc);
        let (schema, name) = ("public", table);
        let rc = unsafe {
            SQLStatistics(
                stmt.h,
                std::ptr::null(),
                0,
                schema.as_ptr(),
                schema.len() as i16,
                name.as_ptr(),
                name.len() as i16,
                1, // SQL_INDEX_ALL
                1, // SQL_QUICK
            )
        };
        stmt.check(rc).unwrap_or_else(|e: CallError| panic!("SQLStatistics({table}): {:?}", e.records));
        let columns: Vec<String> = stmt.columns().unwrap().into_iter().map(|c| c.0).collect();
        assert_eq!(
            columns[..9],
            [
                "TABLE_CAT",
                "TABLE_SCHEM",
                "TABLE_NAME",
                "NON_UNIQUE",
                "INDEX_QUALIFIER",
                "INDEX_NAME",
                "TYPE",
                "ORDINAL_POSITION",
                "COLUMN_NAME"
            ]
        );
        let rows = stmt.all_text_rows().unwrap();
        // (index, column, non-unique) of the index rows (TYPE 0 is the table's statistics).
        let mut indexes: Vec<(&str, &str, &str)> = rows
            .iter()
            .filter(|r| r[6].as_deref() != Some("0"))
            .map(|r| (r[5].as_deref().unwrap_or(""), r[8].as_deref().unwrap_or(""), r[3].as_deref().unwrap_or("")))
            .collect();
        indexes.sort();
        let expected: &[(&str, &str, &str)] = if table == "orders" {
            &[("orders_by_item", "item", "1"), ("orders_pkey", "id", "0"), ("orders_pkey", "line", "0")]
        } else {
            &[("customers_by_name", "name", "0"), ("customers_pkey", "cid", "0")]
        };
        assert_eq!(indexes, expected, "{table}: {rows:?}");
        assert!(text(&rows, 2).iter().all(|t| *t == table));
    }
}

#[test]
fn type_info_offers_names_postgresql_accepts_in_create_table() {
    let Some(pg) = PgTestServer::start(&["typeinfo_narrow", "typeinfo_wide"]) else { return };
    let env = Env::new();
    for cs in [Charset::Narrow, Charset::Wide] {
        let dbc = connect(&env, &pg, &format!("typeinfo_{cs:?}").to_lowercase(), cs);
        let types = dbc.type_info().unwrap_or_else(|e| panic!("{cs:?}: SQLGetTypeInfo: {e}"));
        let codes: Vec<i16> = types.iter().map(|(_, t)| *t).collect();
        for (wanted, what) in [
            (&[5][..], "SMALLINT"),
            (&[4], "INTEGER"),
            (&[-5], "BIGINT"),
            (&[7, 6], "REAL"),
            (&[8, 6], "DOUBLE"),
            (&[2, 3], "NUMERIC"),
            (&[12, -9], "VARCHAR"),
            (&[-3, -4], "VARBINARY (bytea)"),
            (&[-7], "BIT (bool)"),
            (&[91], "DATE"),
            (&[92], "TIME"),
            (&[93], "TIMESTAMP"),
        ] {
            assert!(wanted.iter().any(|w| codes.contains(w)), "{cs:?}: SQLGetTypeInfo lacks {what}: {types:?}");
        }
        if cs == Charset::Narrow {
            // An application (or an ORM) writes DDL with TYPE_NAME: every name must be a
            // type PostgreSQL knows.
            let mut refused = Vec::new();
            for (k, (name, _)) in types.iter().enumerate() {
                if dbc.exec(&format!("CREATE TABLE type_probe_{k} (c {name})")).is_err() {
                    refused.push(name.clone());
                }
            }
            assert!(refused.is_empty(), "TYPE_NAMEs PostgreSQL does not know: {refused:?}");
        }
    }
}

#[test]
fn procedures_lists_the_roles_functions_and_procedures() {
    let Some(pg) = PgTestServer::start(&["procs"]) else { return };
    let env = Env::new();
    let dbc = connect(&env, &pg, "procs", Charset::Narrow);
    for statement in SCHEMA.split(";\n") {
        dbc.exec(statement).unwrap();
    }
    for cs in [Charset::Narrow, Charset::Wide] {
        let stmt = Statement::new(&dbc);
        stmt.catalog(Catalog::Procedures(Some("%")), cs).unwrap();
        let columns = stmt.columns().unwrap();
        assert_eq!(
            columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
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
        let rows = stmt.all_text_rows().unwrap();
        let ours: Vec<(&str, &str)> = rows
            .iter()
            .filter(|r| r[1].as_deref() == Some("public"))
            .map(|r| (r[2].as_deref().unwrap_or(""), r[7].as_deref().unwrap_or("")))
            .collect();
        // SQL_PT_PROCEDURE 1, SQL_PT_FUNCTION 2.
        let mut ours = ours;
        ours.sort();
        assert_eq!(ours, [("add_one", "2"), ("bump", "1")], "{cs:?}: {rows:?}");
        stmt.catalog(Catalog::Procedures(Some("add_o%")), cs).unwrap();
        assert_eq!(text(&stmt.all_text_rows().unwrap(), 2), ["add_one"], "{cs:?}: the pattern");
    }
}
