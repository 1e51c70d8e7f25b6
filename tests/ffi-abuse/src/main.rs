//! `ffi-abuse`: calls every exported function of the driver with bad input (null, stale
//! and wrong-kind handles, null and short buffers, negative and huge lengths, unknown
//! attributes and types, calls out of sequence), each case in a forked child with an
//! alarm, and fails if any case crashes, hangs, accepts a bad handle or prints.
//!
//! Usage: ffi-abuse --driver LIB.so [--connect STR --connect-pending STR --dsn NAME
//!        --uid U --pwd P --pending-users N] [--jobs N] [--timeout SECS] [--case N]... [--filter TEXT]
//!        [--every K] [--connected-sample N] [--list] [--list-functions]
//! `tests/ffi-abuse/run.sh` starts a server and passes all of these.

mod cases;
mod library;
mod memory;
mod runner;
mod setup;
mod signatures;
mod values;

use std::time::{Duration, Instant};

use runner::Outcome;
use setup::{Driver, Options};

struct Args {
    options: Options,
    jobs: usize,
    timeout: Duration,
    cases: Vec<usize>,
    filter: Option<String>,
    every: usize,
    connected_sample: Option<usize>,
    list: bool,
    list_functions: bool,
}

fn parse_args() -> Result<Args, String> {
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut args = Args {
        options: Options::default(),
        jobs,
        timeout: Duration::from_secs(10),
        cases: vec![],
        filter: None,
        every: 1,
        connected_sample: None,
        list: false,
        list_functions: false,
    };
    let mut options = Options { pending_users: 1, ..Options::default() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--driver" => options.driver = value()?,
            "--connect" => options.connect = value()?,
            "--connect-pending" => options.connect_pending = value()?,
            "--pending-users" => {
                options.pending_users = value()?.parse().map_err(|e| format!("--pending-users: {e}"))?
            }
            "--dsn" => options.dsn = value()?,
            "--uid" => options.uid = value()?,
            "--pwd" => options.pwd = value()?,
            "--jobs" => args.jobs = value()?.parse().map_err(|e| format!("--jobs: {e}"))?,
            "--timeout" => args.timeout = Duration::from_secs(value()?.parse().map_err(|e| format!("--timeout: {e}"))?),
            "--case" => args.cases.push(value()?.parse().map_err(|e| format!("--case: {e}"))?),
            "--filter" => args.filter = Some(value()?),
            "--every" => args.every = value()?.parse().map_err(|e| format!("--every: {e}"))?,
            "--connected-sample" => {
                args.connected_sample = Some(value()?.parse().map_err(|e| format!("--connected-sample: {e}"))?)
            }
            "--list" => args.list = true,
            "--list-functions" => args.list_functions = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    args.options = options;
    if args.options.driver.is_empty() && !args.list && !args.list_functions {
        return Err("--driver is required".into());
    }
    Ok(args)
}

/// Cases every run keeps: those that need no server, those of the two-factor attribute,
/// and execute or fetch after a size or count of 2^31 or more was set.
fn pinned(case: &cases::Case, functions: &[signatures::Function], described: &str) -> bool {
    let huge_before = match case.before {
        Some(cases::Before::SetStmtAttr { value, .. } | cases::Before::SetDescField { value, .. }) => value >= 1 << 31,
        _ => false,
    };
    let name = functions[case.function].name;
    !case.state.needs_server()
        || described.contains("=1002")
        || (huge_before && matches!(name, "SQLExecute" | "SQLFetch"))
}

/// Keeps the pinned cases and, of the others (each connects, which costs most of a
/// case's time), `budget` spread evenly over the list.
fn sample_connected(
    cases: &[cases::Case],
    functions: &[signatures::Function],
    described: &[String],
    selected: Vec<usize>,
    budget: usize,
) -> Vec<usize> {
    let pinned = |i: usize| pinned(&cases[i], functions, &described[i]);
    let others = selected.iter().filter(|i| !pinned(**i)).count();
    let stride = others.div_ceil(budget.max(1)).max(1);
    let mut seen = 0;
    selected
        .into_iter()
        .filter(|&i| {
            if pinned(i) {
                return true;
            }
            seen += 1;
            (seen - 1) % stride == 0
        })
        .collect()
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("ffi-abuse: {e}");
            std::process::exit(2);
        }
    };
    let functions = signatures::functions();
    if args.list_functions {
        functions.iter().for_each(|f| println!("{}", f.name));
        return;
    }
    let cases = cases::generate(&functions);
    let described: Vec<String> = cases.iter().map(|c| c.describe(&functions)).collect();
    let mut selected: Vec<usize> = if args.cases.is_empty() { (0..cases.len()).collect() } else { args.cases.clone() };
    if let Some(filter) = &args.filter {
        selected.retain(|i| described[*i].contains(filter.as_str()));
    }
    if let Some(budget) = args.connected_sample {
        selected = sample_connected(&cases, &functions, &described, selected, budget);
    }
    selected = selected.into_iter().enumerate().filter(|(k, _)| k % args.every.max(1) == 0).map(|(_, i)| i).collect();
    if let Some(bad) = selected.iter().find(|i| **i >= cases.len()) {
        eprintln!("ffi-abuse: there is no case {bad} (0..{})", cases.len());
        std::process::exit(2);
    }
    if args.list {
        selected.iter().for_each(|i| println!("case {i}: {}", described[*i]));
        return;
    }
    if args.options.connect.is_empty() && selected.iter().any(|i| cases[*i].state.needs_server()) {
        eprintln!("ffi-abuse: these cases need a server: pass --connect and --connect-pending (run.sh does)");
        std::process::exit(2);
    }
    let driver = match Driver::load(&args.options.driver, &functions) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ffi-abuse: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "ffi-abuse: {} cases of {} generated, {} at a time, {} s alarm",
        selected.len(),
        cases.len(),
        args.jobs,
        args.timeout.as_secs()
    );
    let started = Instant::now();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut by_outcome: std::collections::BTreeMap<String, usize> = Default::default();
    let verbose = !args.cases.is_empty();
    let total = selected.len();
    let suite = runner::Suite {
        driver: &driver,
        options: &args.options,
        functions: &functions,
        cases: &cases,
        timeout: args.timeout,
    };
    runner::run(&suite, &selected, args.jobs, |done| {
        let ok = matches!(done.outcome, Outcome::Passed);
        if ok {
            passed += 1;
        } else {
            failed += 1;
            *by_outcome.entry(done.outcome.label()).or_default() += 1;
        }
        if !ok || verbose {
            let verdict = if ok { "ok" } else { "FAIL" };
            println!(
                "{verdict} case {}: {}: {} ({})",
                done.case,
                described[done.case],
                done.outcome.label(),
                done.detail
            );
        }
        let n = passed + failed;
        if n % 5000 == 0 {
            println!("ffi-abuse: {n}/{total} after {:.0} s", started.elapsed().as_secs_f64());
        }
    });
    for (label, count) in &by_outcome {
        println!("ffi-abuse: {count} {label}");
    }
    println!("ffi-abuse: {:.0} s", started.elapsed().as_secs_f64());
    println!("{passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
