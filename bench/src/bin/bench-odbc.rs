//! The ODBC client of the benchmark, the same code for every driver (ours, psqlODBC, the
//! SQLite ODBC driver), through the unixODBC driver manager with odbc-api's wide calls:
//! - `login`: connect + disconnect N times (TLS, password, second factor), each timed;
//! - `fetch`: the whole table through a block cursor of typed column buffers (10,000 rows
//!   per SQLFetch), every value touched;
//! - `insert`: rows through a prepared INSERT with column-wise parameter arrays.
//!
//! Every subcommand prints one JSON object on stdout.

use std::time::{Duration, Instant};

use odbc_api::buffers::{BufferDesc, ColumnarDynBuffer};
use odbc_api::sys::Timestamp;
use odbc_api::{BindParamDesc, ConnectionOptions, Cursor, Environment};
use serde_json::json;
use twofactor_bench::{die, peak_rss_kib, read_users, summary_ms, totp_now, Args};

fn main() {
    let args = Args::parse();
    let env = Environment::new().unwrap_or_else(|e| die(&e.to_string()));
    match args.command.as_str() {
        "login" => login(&env, &args),
        "fetch" => fetch(&env, &args),
        "insert" => insert(&env, &args),
        _ => die("usage: bench-odbc login|fetch|insert --conn STRING ..."),
    }
}

/// `--conn TEMPLATE [--users FILE] [--n N] [--warmup W]`: `{user}` and `{code}` in the
/// template are replaced per login by the next user of FILE and its current TOTP code
/// (computed before the clock starts); the first W logins (users) are not counted. Without
/// FILE the same string is used W + N times.
fn login(env: &Environment, args: &Args) {
    let template = args.req("conn");
    let users = args.get("users").map(read_users).unwrap_or_default();
    let warmup: usize = args.num("warmup", 0);
    let total = if users.is_empty() { warmup + args.num("n", 40) } else { users.len() };
    let mut samples: Vec<Duration> = Vec::with_capacity(total);
    for i in 0..total {
        let conn_str = match users.get(i) {
            Some((name, secret)) => template.replace("{user}", name).replace("{code}", &totp_now(secret)),
            None => template.to_owned(),
        };
        let t = Instant::now();
        let conn = env
            .connect_with_connection_string(&conn_str, ConnectionOptions::default())
            .unwrap_or_else(|e| die(&format!("login {i}: {e}")));
        drop(conn);
        if i >= warmup {
            samples.push(t.elapsed());
        }
    }
    println!("{}", summary_ms(&samples));
}

fn connect<'e>(env: &'e Environment, args: &Args) -> odbc_api::Connection<'e> {
    env.connect_with_connection_string(args.req("conn"), ConnectionOptions::default())
        .unwrap_or_else(|e| die(&format!("connect: {e}")))
}

/// `--conn STRING --sql SELECT [--batch 10000] [--cols SPEC]`: SPEC lists the result's
/// columns as buffer kinds, comma-separated: `i64`, `i32`, `f64`, `ts`, `date`, `text:N`
/// (also how decimals are read: as characters), `bin:N`. The default is the narrow
/// benchmark table's `i64,text:32,f64,ts`. The same buffers for every driver, whatever
/// each reports for the columns, so all do the same work.
fn fetch(env: &Environment, args: &Args) {
    let batch: usize = args.num("batch", 10_000);
    let descs = column_buffers(args.get("cols").unwrap_or("i64,text:32,f64,ts"));
    let conn = connect(env, args);
    // The application's buffers are made before the clock starts: zeroing 10,000 rows of
    // a 2 KiB text column (20 MB) takes longer than SQLite reads that table, the same for
    // every driver, and is no part of what a driver does.
    let buffer = ColumnarDynBuffer::from_descs(batch, descs.iter().copied());
    let t = Instant::now();
    let cursor = conn
        .execute(args.req("sql"), (), None)
        .unwrap_or_else(|e| die(&format!("execute: {e}")))
        .unwrap_or_else(|| die("the statement returned no result set"));
    let mut block = cursor.bind_buffer(buffer).unwrap_or_else(|e| die(&format!("bind: {e}")));
    let mut rows = 0u64;
    let mut sums = vec![0f64; descs.len()];
    while let Some(set) = block.fetch().unwrap_or_else(|e| die(&format!("fetch: {e}"))) {
        for (c, desc) in descs.iter().enumerate() {
            sums[c] += read_column(set.column(c), desc);
        }
        rows += set.num_rows() as u64;
    }
    let elapsed = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "rows": rows, "seconds": elapsed, "rows_per_s": rows as f64 / elapsed,
            "client_peak_rss_kib": peak_rss_kib(),
            "checksum": sums,
        })
    );
}

fn column_buffers(spec: &str) -> Vec<BufferDesc> {
    spec.split(',')
        .map(|kind| {
            let (name, len) = kind.split_once(':').unwrap_or((kind, ""));
            let len = || len.parse::<usize>().unwrap_or_else(|_| die(&format!("--cols {kind}: no length")));
            match name {
                "i64" => BufferDesc::I64 { nullable: true },
                "i32" => BufferDesc::I32 { nullable: true },
                "f64" => BufferDesc::F64 { nullable: true },
                "ts" => BufferDesc::Timestamp { nullable: true },
                "date" => BufferDesc::Date { nullable: true },
                "text" => BufferDesc::Text { max_str_len: len() },
                "bin" => BufferDesc::Binary { max_bytes: len() },
                _ => die(&format!("--cols: unknown kind {kind}")),
            }
        })
        .collect()
}

/// Reads every value of one column of a rowset into a number, so nothing is skipped.
fn read_column(column: odbc_api::buffers::AnyColumnBufferSlice<'_>, desc: &BufferDesc) -> f64 {
    match desc {
        BufferDesc::I64 { .. } => column.as_nullable_slice::<i64>().unwrap().flatten().map(|v| *v as f64).sum(),
        BufferDesc::I32 { .. } => column.as_nullable_slice::<i32>().unwrap().flatten().map(|v| f64::from(*v)).sum(),
        BufferDesc::F64 { .. } => column.as_nullable_slice::<f64>().unwrap().flatten().sum(),
        BufferDesc::Timestamp { .. } => {
            column.as_nullable_slice::<Timestamp>().unwrap().flatten().map(|t| f64::from(t.second)).sum()
        }
        BufferDesc::Date { .. } => {
            column.as_nullable_slice::<odbc_api::sys::Date>().unwrap().flatten().map(|d| f64::from(d.day)).sum()
        }
        BufferDesc::Text { .. } => column.as_text().unwrap().iter().flatten().map(|t| t.len() as f64).sum(),
        BufferDesc::Binary { .. } => column.as_binary().unwrap().iter().flatten().map(|b| b.len() as f64).sum(),
        _ => 0.0,
    }
}

/// `--conn STRING --table T --rows N [--batch 10000] [--dollar-markers]`: the table must
/// be empty with the benchmark table's columns. One transaction, committed at the end, as
/// pyodbc does (autocommit off): with autocommit on, the SQLite ODBC driver commits every
/// row. `--dollar-markers` writes PostgreSQL's `$1..$4` instead of ODBC's `?` (for a
/// backend that does not translate `?` yet).
fn insert(env: &Environment, args: &Args) {
    let rows: usize = args.num("rows", 100_000);
    let batch: usize = args.num("batch", 10_000);
    let conn = connect(env, args);
    conn.set_autocommit(false).unwrap_or_else(|e| die(&format!("autocommit off: {e}")));
    let markers = if args.flag("dollar-markers") { "$1, $2, $3, $4" } else { "?, ?, ?, ?" };
    let sql = format!("INSERT INTO {} (id, name, score, ts) VALUES ({markers})", args.req("table"));
    let t = Instant::now();
    let prepared = conn.prepare(&sql).unwrap_or_else(|e| die(&format!("prepare: {e}")));
    let descs = [
        BindParamDesc::i64(false),
        BindParamDesc::text(32),
        BindParamDesc::f64(false),
        BindParamDesc::timestamp(false, 3),
    ];
    let mut inserter =
        prepared.into_column_inserter(batch, descs).unwrap_or_else(|e| die(&format!("column inserter: {e}")));
    let mut done = 0;
    while done < rows {
        let n = batch.min(rows - done);
        inserter.set_num_rows(n);
        {
            let ids = inserter.column_mut(0).as_slice::<i64>().unwrap();
            for (k, id) in ids.iter_mut().enumerate().take(n) {
                *id = (done + k) as i64;
            }
        }
        {
            let mut names = inserter.column_mut(1).as_text().unwrap();
            for k in 0..n {
                names.set_cell(k, Some(format!("name_{}", (done + k) * 7919 % 1_000_003).as_bytes()));
            }
        }
        {
            let scores = inserter.column_mut(2).as_slice::<f64>().unwrap();
            for (k, s) in scores.iter_mut().enumerate().take(n) {
                *s = ((done + k) * 37 % 10_007) as f64 / 7.0;
            }
        }
        {
            let ts = inserter.column_mut(3).as_slice::<Timestamp>().unwrap();
            for (k, v) in ts.iter_mut().enumerate().take(n) {
                let i = done + k;
                *v = Timestamp {
                    year: 2024,
                    month: 1 + (i / 86_400 % 12) as u16,
                    day: 1 + (i / 3600 % 28) as u16,
                    hour: (i / 60 % 24) as u16,
                    minute: (i % 60) as u16,
                    second: (i * 7 % 60) as u16,
                    fraction: (i % 1000) as u32 * 1_000_000,
                };
            }
        }
        inserter.execute().unwrap_or_else(|e| die(&format!("execute: {e}")));
        done += n;
    }
    drop(inserter);
    conn.commit().unwrap_or_else(|e| die(&format!("commit: {e}")));
    let elapsed = t.elapsed().as_secs_f64();
    println!("{}", json!({"rows": rows, "seconds": elapsed, "rows_per_s": rows as f64 / elapsed}));
}
