//! Shared bits of the benchmark binaries: argument parsing, timing summaries, TOTP codes,
//! the client's peak RSS. The binaries print one JSON object on stdout; `bench/bench.py`
//! runs each in its own process, so a crashing peer driver takes only that figure down.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

/// `--key value` pairs and bare `--flag`s after the subcommand.
pub struct Args {
    pub command: String,
    values: HashMap<String, String>,
}

impl Args {
    pub fn parse() -> Args {
        let mut it = std::env::args().skip(1);
        let command = it.next().unwrap_or_default();
        let mut values = HashMap::new();
        let rest: Vec<String> = it.collect();
        let mut i = 0;
        while i < rest.len() {
            let key = rest[i].trim_start_matches("--").to_owned();
            if i + 1 < rest.len() && !rest[i + 1].starts_with("--") {
                values.insert(key, rest[i + 1].clone());
                i += 2;
            } else {
                values.insert(key, String::new());
                i += 1;
            }
        }
        Args { command, values }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn req(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| die(&format!("missing --{key}")))
    }

    pub fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        match self.get(key) {
            Some(v) => v.parse().unwrap_or_else(|_| die(&format!("--{key}: not a number"))),
            None => default,
        }
    }

    pub fn flag(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }
}

pub fn die(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// min / median / p99 / max / mean in milliseconds of a set of durations.
pub fn summary_ms(samples: &[Duration]) -> Value {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if ms.is_empty() {
        return json!({"n": 0});
    }
    let pct = |p: f64| ms[(((ms.len() - 1) as f64) * p).round() as usize];
    json!({
        "n": ms.len(),
        "min_ms": ms[0],
        "median_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_ms": ms[ms.len() - 1],
        "mean_ms": ms.iter().sum::<f64>() / ms.len() as f64,
    })
}

/// Peak resident set of this process (VmHWM), KiB.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("self", "VmHWM:")
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`), 0 if unreadable.
pub fn proc_status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// `name base32-secret` lines written by `bench-setup users`.
pub fn read_users(path: &str) -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next().unwrap().to_owned();
            let secret = parts
                .next()
                .and_then(|s| data_encoding::BASE32_NOPAD.decode(s.trim_end_matches('=').as_bytes()).ok())
                .unwrap_or_default();
            (name, secret)
        })
        .collect()
}

/// The current code, computed by the server's own TOTP code (SHA-1, 6 digits, 30 s).
pub fn totp_now(secret: &[u8]) -> String {
    let params = twofactor_server::totp::TotpParams {
        algorithm: twofactor_server::totp::Algorithm::Sha1,
        digits: 6,
        period_secs: 30,
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    params.code_at_time(secret, now as i64)
}
