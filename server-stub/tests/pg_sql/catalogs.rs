//! Catalog functions on the PostgreSQL backend: pg_catalog in the ODBC 3 layouts.

use super::*;

async fn catalog(c: &mut Client, request: CatalogRequest) -> (Vec<ColumnDesc>, Vec<Vec<Value>>) {
    c.send(ClientMessage::Catalog { request, fetch_rows: 0 }).await;
    let columns = match c.recv().await {
        Some(ServerMessage::ResultSet { columns }) => columns,
        other => panic!("catalog result: {other:?}"),
    };
    let Some(ServerMessage::Rows { batch, last: true }) = c.recv().await else { panic!("one batch") };
    let rows =
        (0..batch.rows()).map(|r| (0..batch.columns()).map(|i| batch.value(r, i).to_owned()).collect()).collect();
    (columns, rows)
}

fn texts(rows: &[Vec<Value>], column: usize) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[column] {
            Value::Text(s) => s.clone(),
            Value::Null => "NULL".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn catalogs_come_from_pg_catalog_in_the_odbc_layouts() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    db.client()
        .batch_execute(
            "CREATE TABLE orders (no int8 PRIMARY KEY, item int NOT NULL REFERENCES t (id) ON DELETE CASCADE, \
               at timestamptz DEFAULT now(), tags text[]); \
             CREATE INDEX orders_at ON orders (at DESC); \
             CREATE VIEW cheap AS SELECT id FROM t WHERE price < 1",
        )
        .unwrap();
    let name = db.name.clone();
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        let any = || None::<String>;
        let (cols, rows) =
            catalog(&mut c, CatalogRequest::Tables { catalog: any(), schema: any(), table: any(), table_types: any() })
                .await;
        assert_eq!(cols.len(), 5);
        let tables: Vec<String> = rows
            .iter()
            .filter(|r| r[1] == Value::Text("public".into()))
            .map(|r| texts(std::slice::from_ref(r), 2)[0].clone())
            .collect();
        assert_eq!(tables, ["orders", "secret", "t", "cheap"], "tables, then views");
        assert_eq!(rows[0][0], Value::Text(name.clone()), "TABLE_CAT is the database");
        let (_, views) = catalog(
            &mut c,
            CatalogRequest::Tables {
                catalog: any(),
                schema: Some("pub%".into()),
                table: any(),
                table_types: Some("'VIEW'".into()),
            },
        )
        .await;
        assert_eq!(texts(&views, 2), ["cheap"]);
        let (cols, rows) = catalog(
            &mut c,
            CatalogRequest::Columns { catalog: any(), schema: any(), table: Some("t".into()), column: any() },
        )
        .await;
        assert_eq!(cols.len(), 18);
        assert_eq!(texts(&rows, 3), ["id", "name", "price", "blob"]);
        let data_types: Vec<&Value> = rows.iter().map(|r| &r[4]).collect();
        assert_eq!(
            data_types,
            [
                &Value::Int(sql_type::INTEGER.into()),
                &Value::Int(sql_type::VARCHAR.into()),
                &Value::Int(sql_type::NUMERIC.into()),
                &Value::Int(sql_type::LONGVARBINARY.into())
            ]
        );
        assert_eq!((&rows[1][6], &rows[2][6], &rows[2][8]), (&Value::Int(40), &Value::Int(10), &Value::Int(2)));
        assert_eq!(texts(&rows, 17), ["NO", "NO", "YES", "YES"]);
        let (_, rows) = catalog(
            &mut c,
            CatalogRequest::Columns {
                catalog: any(),
                schema: any(),
                table: Some("orders".into()),
                column: Some("t%".into()),
            },
        )
        .await;
        assert_eq!(texts(&rows, 5), ["_text"]);
        let (_, pk) =
            catalog(&mut c, CatalogRequest::PrimaryKeys { catalog: any(), schema: any(), table: "t".into() }).await;
        assert_eq!((texts(&pk, 3), texts(&pk, 5)), (vec!["id".to_string()], vec!["t_pkey".to_string()]));
        let (cols, fk) =
            catalog(&mut c, CatalogRequest::ForeignKeys { pk_table: Some("t".into()), fk_table: any() }).await;
        assert_eq!(cols.len(), 14);
        assert_eq!(
            (texts(&fk, 2), texts(&fk, 3), texts(&fk, 6), texts(&fk, 7)),
            (vec!["t".into()], vec!["id".into()], vec!["orders".into()], vec!["item".into()])
        );
        assert_eq!(fk[0][10], Value::Int(0), "ON DELETE CASCADE");
        let (_, stats) =
            catalog(&mut c, CatalogRequest::Statistics { table: "orders".into(), unique_only: false }).await;
        assert_eq!(texts(&stats, 5), ["NULL", "orders_pkey", "orders_at"]);
        assert_eq!(texts(&stats, 9), ["NULL", "A", "D"]);
        let (_, special) = catalog(&mut c, CatalogRequest::SpecialColumns { table: "orders".into() }).await;
        assert_eq!(texts(&special, 1), ["no"]);
        let (cols, types) = catalog(&mut c, CatalogRequest::TypeInfo { data_type: 0 }).await;
        assert_eq!(cols.len(), 19);
        let names = texts(&types, 0);
        for n in ["int4", "text", "bytea", "uuid", "jsonb", "timestamptz", "numeric"] {
            assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
        }
        let (_, privileges) = catalog(&mut c, CatalogRequest::TablePrivileges { table: Some("t".into()) }).await;
        assert!(texts(&privileges, 4).contains(&alice), "alice's GRANT is listed");
    });
}

#[test]
fn procedures_and_their_columns_come_from_pg_proc() {
    let server = shared_pg!();
    let (db, alice, dir) = setup(server);
    db.client()
        .batch_execute(
            "CREATE FUNCTION add_tax(amount numeric, rate float8 DEFAULT 0.2) RETURNS numeric \
               LANGUAGE sql AS 'SELECT amount * (1 + rate)'; \
             CREATE PROCEDURE archive(before date) LANGUAGE sql AS 'SELECT 1'",
        )
        .unwrap();
    run(async {
        let f = pg_start(&db, &alice, &dir, |_| {}).await;
        let mut c = logged_in(&f, "alice", "alice-pw").await;
        let (cols, procs) = catalog(&mut c, CatalogRequest::Procedures { schema: None, procedure: None }).await;
        assert_eq!(cols.len(), 8);
        assert_eq!(texts(&procs, 2), ["add_tax", "archive"]);
        assert_eq!((&procs[0][3], &procs[0][7], &procs[1][7]), (&Value::Int(2), &Value::Int(2), &Value::Int(1)));
        let (cols, args) = catalog(
            &mut c,
            CatalogRequest::ProcedureColumns {
                schema: Some("public".into()),
                procedure: Some("add%".into()),
                column: None,
            },
        )
        .await;
        assert_eq!(cols.len(), 19);
        assert_eq!(texts(&args, 3), ["returnValue", "amount", "rate"]);
        let kinds: Vec<&Value> = args.iter().map(|r| &r[4]).collect();
        assert_eq!(kinds, [&Value::Int(5), &Value::Int(1), &Value::Int(1)]);
        assert_eq!(args[2][5], Value::Int(sql_type::DOUBLE.into()));
        assert_eq!(
            args.iter().map(|r| r[17].clone()).collect::<Vec<_>>(),
            [Value::Int(0), Value::Int(1), Value::Int(2)]
        );
    });
}
