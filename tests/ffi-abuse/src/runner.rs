//! Runs cases in forked children, a few at a time, each with an alarm: a child killed by
//! a signal crashed, one that outlives its alarm hung. What the driver writes to the
//! child's stdout or stderr is collected too: a driver must not print in its host.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::cases::Case;
use crate::setup::{apply_before, resolve, set_up, tear_down, Driver, Options};
use crate::signatures::Function;

/// Exit codes of the child.
const EXIT_SETUP_FAILED: i32 = 3;
const EXIT_NOT_INVALID_HANDLE: i32 = 4;
const EXIT_UNKNOWN_RETURN: i32 = 5;
/// valgrind's `--error-exitcode` (run.sh passes it).
pub const EXIT_MEMORY_ERROR: i32 = 99;

const VALID_RETURNS: [i16; 7] = [0, 1, -1, -2, 2, 99, 100];

#[derive(Debug)]
pub enum Outcome {
    Passed,
    Crashed(i32),
    Hung,
    SetupFailed,
    NotInvalidHandle,
    UnknownReturn,
    MemoryError,
    Exited(i32),
    /// Passed otherwise, but the driver wrote to stdout or stderr.
    Printed,
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Outcome::Passed => "passed".into(),
            Outcome::Crashed(signal) => format!("crashed ({})", signal_name(*signal)),
            Outcome::Hung => "hung".into(),
            Outcome::SetupFailed => "setup failed".into(),
            Outcome::NotInvalidHandle => "accepted a bad handle".into(),
            Outcome::UnknownReturn => "returned a code ODBC does not define".into(),
            Outcome::MemoryError => "memory error (valgrind)".into(),
            Outcome::Exited(code) => format!("exited the host with status {code}"),
            Outcome::Printed => "printed to the host's stdout/stderr".into(),
        }
    }
}

fn signal_name(signal: i32) -> String {
    let name = unsafe { libc::strsignal(signal) };
    if name.is_null() {
        return format!("signal {signal}");
    }
    let text = unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy();
    format!("signal {signal}, {text}")
}

pub struct Finished {
    pub case: usize,
    pub outcome: Outcome,
    /// The harness's note and the driver's output.
    pub detail: String,
}

struct Running {
    case: usize,
    started: Instant,
    output: OwnedFd,
    report: OwnedFd,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe2");
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn set_nonblocking(fd: i32) {
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

fn drain(fd: OwnedFd) -> String {
    set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&fd));
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What every case of a run shares.
pub struct Suite<'a> {
    pub driver: &'a Driver,
    pub options: &'a Options,
    pub functions: &'a [Function],
    pub cases: &'a [Case],
    pub timeout: Duration,
}

/// The child: runs case `number` and exits; never returns.
fn child(suite: &Suite<'_>, number: usize, output: &OwnedFd, report: &OwnedFd) -> ! {
    let (driver, options, timeout) = (suite.driver, suite.options, suite.timeout);
    let case = &suite.cases[number];
    let f = &suite.functions[case.function];
    use std::os::fd::AsRawFd;
    unsafe {
        // A C host has SIGPIPE's default action: if the driver raised it, the host died.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        // Heap for one case: a driver that allocates what a length promised fails
        // here (an abort is a crash) instead of taking the machine's memory.
        let heap = libc::rlimit { rlim_cur: 2 << 30, rlim_max: 2 << 30 };
        libc::setrlimit(libc::RLIMIT_DATA, &heap);
        libc::alarm(timeout.as_secs().max(1) as u32);
        libc::dup2(output.as_raw_fd(), 1);
        libc::dup2(output.as_raw_fd(), 2);
        set_nonblocking(1);
    }
    let say = |code: i32, message: String| -> ! {
        unsafe {
            libc::write(report.as_raw_fd(), message.as_ptr().cast(), message.len());
            libc::_exit(code)
        }
    };
    let handles = match set_up(driver, options, case.state, number) {
        Ok(h) => h,
        Err(e) => say(EXIT_SETUP_FAILED, e),
    };
    if let Some(before) = case.before {
        apply_before(driver, &handles, before);
    }
    let words = resolve(driver, options, f, case, &handles);
    let rc = unsafe { driver.export(f.name).call(&words) };
    tear_down(driver, &handles);
    if case.expect_invalid_handle && rc != -2 {
        say(EXIT_NOT_INVALID_HANDLE, format!("returned {rc}, not SQL_INVALID_HANDLE (-2)"));
    }
    if !VALID_RETURNS.contains(&rc) {
        say(EXIT_UNKNOWN_RETURN, format!("returned {rc}"));
    }
    say(0, format!("returned {rc}"))
}

fn outcome_of(status: i32, printed: bool) -> Outcome {
    if libc::WIFSIGNALED(status) {
        return match libc::WTERMSIG(status) {
            libc::SIGALRM | libc::SIGKILL => Outcome::Hung,
            signal => Outcome::Crashed(signal),
        };
    }
    match libc::WEXITSTATUS(status) {
        0 if printed => Outcome::Printed,
        0 => Outcome::Passed,
        EXIT_SETUP_FAILED => Outcome::SetupFailed,
        EXIT_NOT_INVALID_HANDLE => Outcome::NotInvalidHandle,
        EXIT_UNKNOWN_RETURN => Outcome::UnknownReturn,
        EXIT_MEMORY_ERROR => Outcome::MemoryError,
        code => Outcome::Exited(code),
    }
}

/// Runs `selected` cases with at most `jobs` children at once; `done` sees each result
/// as it comes.
pub fn run(suite: &Suite<'_>, selected: &[usize], jobs: usize, mut done: impl FnMut(Finished)) {
    let mut running: HashMap<libc::pid_t, Running> = HashMap::new();
    let mut next = 0;
    while next < selected.len() || !running.is_empty() {
        while running.len() < jobs && next < selected.len() {
            let index = selected[next];
            next += 1;
            let (output_read, output_write) = pipe();
            let (report_read, report_write) = pipe();
            match unsafe { libc::fork() } {
                -1 => panic!("fork failed: {}", std::io::Error::last_os_error()),
                0 => child(suite, index, &output_write, &report_write),
                pid => {
                    running.insert(
                        pid,
                        Running { case: index, started: Instant::now(), output: output_read, report: report_read },
                    );
                }
            }
        }
        let mut status = 0;
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            let r = running.remove(&pid).expect("a child of ours");
            let output = drain(r.output);
            let report = drain(r.report);
            let outcome = outcome_of(status, !output.is_empty());
            let mut detail = report;
            if !output.is_empty() {
                let first_line = output.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                detail.push_str(&format!("; the driver printed: {}", first_line.chars().take(200).collect::<String>()));
            }
            done(Finished { case: r.case, outcome, detail });
            continue;
        }
        // The alarm kills a hung child; this catches one that blocked SIGALRM.
        for (pid, r) in &running {
            if r.started.elapsed() > suite.timeout + Duration::from_secs(5) {
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
