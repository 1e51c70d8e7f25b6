//! Set-up and native references that need no ODBC:
//! - `users`: adds many users to a server's data directory at once, through the server's
//!   own store, crypto and Argon2 code (one hash per run, shared by the users: the CLI would
//!   spend an Argon2 hash and a process per user, minutes for a thousand users); the store
//!   is the one `server.toml` configures (SQLite's users.db or PostgreSQL);
//! - `argon2`: times the server's password verification alone, with its default cost;
//! - `native-sqlite`: reads a table with SQLite's C library (rusqlite), the floor any
//!   SQLite-backed driver stands on.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use twofactor_bench::{die, summary_ms, Args};
use twofactor_server::config::{AuthSection, Config};
use twofactor_server::crypto::{SecretsKey, KEY_FILE};
use twofactor_server::password::{hash_password, verify_password, HashCost};
use twofactor_server::store::{TotpEnrolment, UserStore};
use twofactor_server::totp::{generate_secret, to_base32, Algorithm};

fn main() {
    let args = Args::parse();
    match args.command.as_str() {
        "users" => users(&args),
        "argon2" => argon2(&args),
        "native-sqlite" => native_sqlite(&args),
        "sqlite-conn-memory" => sqlite_conn_memory(&args),
        _ => die("usage: bench-setup users|argon2|native-sqlite ..."),
    }
}

fn default_cost() -> HashCost {
    HashCost::from_config(&AuthSection::default())
}

/// `--data-dir D --prefix P --count N --password PW [--no-two-factor] [--cheap-hash]
/// [--out FILE]`: users P0001..PN (or exactly P when N is 0); with TOTP unless
/// `--no-two-factor`; FILE gets `name base32-secret` lines.
fn users(args: &Args) {
    let dir = Path::new(args.req("data-dir"));
    let prefix = args.req("prefix");
    let count: usize = args.num("count", 0);
    let password = args.req("password");
    let cost = if args.flag("cheap-hash") {
        // Only for the idle-sessions memory figure: 10,000 logins at the real cost would
        // take minutes of Argon2 and say nothing about idle memory.
        HashCost { memory_kib: 64, iterations: 1, parallelism: 1 }
    } else {
        default_cost()
    };
    let hash = hash_password(password, cost).unwrap_or_else(|e| die(&e));
    let config = Config::load(dir).unwrap_or_else(|e| die(&e.to_string()));
    let store: std::sync::Arc<dyn UserStore> =
        twofactor_server::store::open(&config).unwrap_or_else(|e| die(&e.to_string()));
    let key = SecretsKey::load(&dir.join(KEY_FILE)).unwrap_or_else(|e| die(&e.to_string()));
    let names: Vec<String> =
        if count == 0 { vec![prefix.to_owned()] } else { (1..=count).map(|i| format!("{prefix}{i:04}")).collect() };
    let mut out = String::new();
    for name in &names {
        store.create_user(name, &hash).unwrap_or_else(|e| die(&format!("{name}: {e}")));
        if args.flag("no-two-factor") {
            store.set_two_factor_required(name, false).unwrap_or_else(|e| die(&e.to_string()));
            out.push_str(&format!("{name} -\n"));
        } else {
            let secret = generate_secret(Algorithm::Sha1);
            let enrolment =
                TotpEnrolment { sealed_secret: key.seal(name, &secret), algorithm: "SHA1".into(), digits: 6 };
            store.set_totp(name, &enrolment).unwrap_or_else(|e| die(&e.to_string()));
            out.push_str(&format!("{name} {}\n", to_base32(&secret)));
        }
    }
    if let Some(path) = args.get("out") {
        std::fs::write(path, out).unwrap_or_else(|e| die(&e.to_string()));
    }
    println!("{}", json!({"users": names.len()}));
}

/// `--n N`: N verifications of a hash made with the server's default cost.
fn argon2(args: &Args) {
    let n: usize = args.num("n", 20);
    let cost = default_cost();
    let hash = hash_password("benchmark password", cost).unwrap_or_else(|e| die(&e));
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        assert!(verify_password("benchmark password", &hash));
        samples.push(t.elapsed());
    }
    let mut out = summary_ms(&samples);
    out["memory_kib"] = json!(cost.memory_kib);
    out["iterations"] = json!(cost.iterations);
    out["parallelism"] = json!(cost.parallelism);
    println!("{out}");
}

/// `--db FILE --sql SQL [--reps N]`: every value of every row read into Rust values.
fn native_sqlite(args: &Args) {
    let db = args.req("db");
    let sql = args.req("sql");
    let reps: usize = args.num("reps", 1);
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| die(&e.to_string()));
    let mut times = Vec::new();
    let mut rows = 0u64;
    let mut checksum = 0f64;
    for _ in 0..reps {
        let t = Instant::now();
        rows = 0;
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| die(&e.to_string()));
        let columns = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            for c in 0..columns {
                match row.get_ref(c).unwrap() {
                    rusqlite::types::ValueRef::Integer(i) => checksum += i as f64,
                    rusqlite::types::ValueRef::Real(f) => checksum += f,
                    rusqlite::types::ValueRef::Text(t) => checksum += t.len() as f64,
                    rusqlite::types::ValueRef::Blob(b) => checksum += b.len() as f64,
                    _ => {}
                }
            }
            rows += 1;
        }
        times.push(t.elapsed());
    }
    let best: Duration = *times.iter().min().unwrap();
    println!(
        "{}",
        json!({"rows": rows, "seconds": best.as_secs_f64(), "rows_per_s": rows as f64 / best.as_secs_f64(), "checksum": checksum})
    );
}

/// `--db FILE --n N [--lookaside-off] [--threads]`: RSS per open SQLite connection (what
/// each logged-in server session holds), to find where idle-session memory goes.
fn sqlite_conn_memory(args: &Args) {
    let db = args.req("db").to_owned();
    let n: usize = args.num("n", 1000);
    let lookaside_off = args.flag("lookaside-off");
    let threads = args.flag("threads");
    let before = twofactor_bench::proc_status_kib("self", "VmRSS:");
    let open = move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        if lookaside_off {
            // SAFETY: right after open, no lookaside memory is in use yet.
            unsafe {
                rusqlite::ffi::sqlite3_db_config(
                    conn.handle(),
                    rusqlite::ffi::SQLITE_DBCONFIG_LOOKASIDE,
                    std::ptr::null_mut::<std::ffi::c_void>(),
                    0i32,
                    0i32,
                );
            }
        }
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn
    };
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let mut conns = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..n {
        if threads {
            let (open, rx) = (open.clone(), rx.clone());
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            handles.push(
                std::thread::Builder::new()
                    .stack_size(512 * 1024)
                    .spawn(move || {
                        let c = open();
                        ready_tx.send(()).unwrap();
                        let _ = rx.lock().unwrap().recv();
                        drop(c);
                    })
                    .unwrap(),
            );
            ready_rx.recv().unwrap();
        } else {
            conns.push(open());
        }
    }
    let after = twofactor_bench::proc_status_kib("self", "VmRSS:");
    println!(
        "{}",
        json!({"connections": n, "threads": threads, "lookaside_off": lookaside_off,
        "rss_kib": after, "per_connection_kib": (after - before) as f64 / n as f64})
    );
    drop(tx);
    std::process::exit(0);
}
