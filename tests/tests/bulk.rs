//! Volume through the driver: parameter arrays in, block cursors out.

use std::time::Instant;

use odbc_api::buffers::{BufferDesc, ColumnarDynBuffer};
use odbc_api::Cursor;
use twofactor_e2e::odbc::{exec, insert_bulk_rows, login, single_i64};
use twofactor_e2e::TestServer;

#[test]
fn a_hundred_thousand_rows_insert_with_parameter_arrays() {
    let server = TestServer::start();
    let user = server.user("bulk_insert");
    let conn = login(&server, &user);
    exec(&conn, "CREATE TABLE bulk (id BIGINT NOT NULL, name VARCHAR(40), score DOUBLE)");

    const TOTAL: usize = 100_000;
    const BATCH: usize = 40_000;
    let started = Instant::now();
    insert_bulk_rows(&conn, TOTAL, BATCH);
    eprintln!("inserted {TOTAL} rows in {:?}", started.elapsed());

    assert_eq!(single_i64(&conn, "SELECT COUNT(*) FROM bulk"), TOTAL as i64);
    assert_eq!(single_i64(&conn, "SELECT SUM(id) FROM bulk"), (TOTAL * (TOTAL + 1) / 2) as i64);
    assert_eq!(single_i64(&conn, "SELECT COUNT(*) FROM bulk WHERE score IS NULL"), (TOTAL / 10) as i64);
    assert_eq!(single_i64(&conn, "SELECT COUNT(*) FROM bulk WHERE name = 'näme-77777' AND score = 77777 / 4.0"), 1);
}

#[test]
fn a_million_rows_fetch_through_a_columnar_block_cursor() {
    let server = TestServer::start();
    let user = server.user("bulk_fetch");
    let conn = login(&server, &user);
    exec(&conn, "CREATE TABLE big (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(24) NOT NULL)");
    exec(
        &conn,
        "INSERT INTO big (id, name) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) \
         SELECT x, 'row-' || x FROM c",
    );

    let started = Instant::now();
    let cursor = conn.execute("SELECT id, name FROM big ORDER BY id", (), None).unwrap().expect("a result set");
    let buffer = ColumnarDynBuffer::from_descs(
        10_000,
        [BufferDesc::I64 { nullable: false }, BufferDesc::Text { max_str_len: 24 }],
    );
    let mut block = cursor.bind_buffer(buffer).unwrap();
    let (mut rows, mut sum, mut checked) = (0u64, 0i64, 0u32);
    while let Some(batch) = block.fetch().unwrap() {
        let ids = batch.column(0).as_slice::<i64>().unwrap();
        let names = batch.column(1).as_text().unwrap();
        for (k, id) in ids.iter().enumerate().take(batch.num_rows()) {
            rows += 1;
            sum += id;
            assert_eq!(*id as u64, rows, "rows arrive in order, none lost or repeated");
            if rows % 9_973 == 1 || rows == 1_000_000 {
                let name = names.get(k).expect("name is not NULL");
                assert_eq!(name, format!("row-{id}").as_bytes());
                checked += 1;
            }
        }
    }
    eprintln!("fetched {rows} rows in {:?}", started.elapsed());
    assert_eq!(rows, 1_000_000);
    assert_eq!(sum, 500_000_500_000);
    assert!(checked > 100);
}
