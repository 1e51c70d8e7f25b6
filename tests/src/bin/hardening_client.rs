//! A client process for tests/tests/driver_hardening.rs that, unlike a Rust program,
//! does NOT ignore SIGPIPE (most C programs don't: isql, a cron job's client): if the
//! driver wrote to a socket the server had closed without MSG_NOSIGNAL, this process
//! would die of the signal (exit status 141 from a shell) instead of printing results.
//!
//! Usage: hardening_client <scenario> <size in bytes> <connection string>
//! Prints one `RESULT <step> <return code> <SQLSTATE>` line per ODBC call that matters.

use std::io::{BufRead, Write};

use twofactor_e2e::hardening::{Outcome, RawStmt, SQL_NEED_DATA};
use twofactor_e2e::raw::{Charset, Env};

fn report(step: &str, outcome: &Outcome) {
    println!(
        "RESULT {step} {} {} {}",
        outcome.rc,
        if outcome.state.is_empty() { "-" } else { &outcome.state },
        outcome.message
    );
    let _ = std::io::stdout().flush();
}

fn report_raw<T>(step: &str, result: &Result<T, twofactor_e2e::raw::Failure>) {
    let outcome = match result {
        Ok(_) => Outcome { rc: 0, state: String::new(), message: String::new() },
        Err(f) => Outcome { rc: f.rc, state: f.state().to_owned(), message: f.message().to_owned() },
    };
    report(step, &outcome);
}

fn main() {
    // SAFETY: signal(2) with a valid signal number and SIG_DFL, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args: Vec<String> = std::env::args().collect();
    let [_, scenario, size, conn_str] = &args[..] else {
        eprintln!("usage: hardening_client <scenario> <size> <connection string>");
        std::process::exit(2);
    };
    let size: usize = size.parse().expect("size");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    match scenario.as_str() {
        // Connection-string values too long for the server's pre-login frame limit.
        "long-uid" => report_raw("connect", &dbc.driver_connect(&format!("{conn_str};UID={};PWD=x", "u".repeat(size)))),
        "long-pwd" => report_raw("connect", &dbc.driver_connect(&format!("{conn_str};PWD={}", "p".repeat(size)))),
        // Any other connect: then one statement.
        "connect" => {
            let connected = dbc.driver_connect(conn_str);
            report_raw("connect", &connected);
            if connected.is_ok() {
                report_raw("select", &dbc.exec("SELECT 1"));
            }
        }
        "long-sql" => {
            report_raw("connect", &dbc.driver_connect(conn_str));
            let stmt = RawStmt::new(&dbc);
            report("exec", &stmt.exec_direct(&format!("SELECT '{}'", "x".repeat(size))));
            report("after", &stmt.exec_direct("SELECT 1"));
        }
        "long-put-data" => {
            report_raw("connect", &dbc.driver_connect(conn_str));
            report_raw("create", &dbc.exec("CREATE TABLE big (b VARCHAR)"));
            let stmt = RawStmt::new(&dbc);
            report("prepare", &stmt.prepare("INSERT INTO big VALUES (?)"));
            report("bind", &stmt.bind_data_at_exec_param(1));
            report("execute", &stmt.execute());
            report("param-data", &stmt.param_data());
            let chunk = vec![b'd'; 1024 * 1024];
            let mut sent = 0;
            while sent < size {
                let put = stmt.put_data(&chunk[..chunk.len().min(size - sent)]);
                if !put.is_ok() {
                    report("put-data", &put);
                    break;
                }
                sent += chunk.len();
            }
            let last = stmt.param_data();
            assert_ne!(last.rc, SQL_NEED_DATA, "one parameter only");
            report("final-param-data", &last);
            report_raw("after", &dbc.exec("SELECT 1"));
        }
        // Connects, says so, waits for the test to kill the server, then sends a big
        // statement (many writes: the first ones fill the socket buffer, the peer's
        // reset makes the next ones fail with EPIPE).
        "after-server-dies" => {
            report_raw("connect", &dbc.driver_connect(conn_str));
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).expect("go");
            let stmt = RawStmt::new(&dbc);
            report("exec", &stmt.exec_direct(&format!("SELECT '{}'", "x".repeat(size))));
            report("after", &stmt.exec_direct("SELECT 1"));
        }
        other => {
            eprintln!("unknown scenario {other}");
            std::process::exit(2);
        }
    }
    drop(dbc);
    println!("DONE");
}
