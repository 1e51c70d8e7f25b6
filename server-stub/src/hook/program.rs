//! The hook as a program: exec'd directly from the configured argv (no shell), in a
//! process group of its own, with an empty environment but `PATH` and `LANG`, the request
//! on stdin, the answer on stdout. At the timeout the whole group is killed (a hook that
//! forked a helper does not leave it behind). stderr is kept (bounded) for the log line of
//! a failure, with the code masked.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{printable, HookError, Transport, MAX_ANSWER_BYTES};

/// How much of stderr is kept for the log.
const MAX_STDERR_BYTES: usize = 4096;
/// After the kill, how long the pipes are waited for (a helper that left the group may
/// hold them open; it does not hold the login).
const AFTER_KILL: Duration = Duration::from_secs(1);

pub(super) struct Program {
    argv: Vec<String>,
    timeout: Duration,
}

impl Program {
    pub(super) fn new(argv: Vec<String>, timeout: Duration) -> Self {
        Program { argv, timeout }
    }
}

/// Reads up to `limit` bytes, then drains (so the writer never blocks on a full pipe);
/// `true` if there was more.
fn read_bounded(mut r: impl Read, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut over = false;
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                over |= n > room;
            }
        }
    }
    (kept, over)
}

impl Transport for Program {
    fn exchange(&self, request: &[u8], code: Option<&str>) -> Result<Vec<u8>, HookError> {
        let mut child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| HookError::Failed(format!("cannot run {}: {e}", self.argv[0])))?;
        let pid = child.id();
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            kill_group(pid);
            let _ = child.wait();
            return Err(HookError::Failed("the hook's pipes could not be set up".into()));
        };
        let (out_tx, out_rx) = mpsc::channel();
        let (err_tx, err_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let request = request.to_vec();
        // A hook that exits without reading gets EPIPE on us; its answer (or exit status)
        // is what counts, so the write error is ignored.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&request);
        });
        std::thread::spawn(move || {
            let _ = out_tx.send(read_bounded(stdout, MAX_ANSWER_BYTES));
        });
        std::thread::spawn(move || {
            let _ = err_tx.send(read_bounded(stderr, MAX_STDERR_BYTES));
        });
        std::thread::spawn(move || {
            let _ = done_tx.send(child.wait());
        });
        let status = match done_rx.recv_timeout(self.timeout) {
            Ok(status) => status,
            Err(_) => {
                kill_group(pid);
                let _ = done_rx.recv_timeout(AFTER_KILL);
                log::warn!("hook {}: killed after {} s without an answer", self.argv[0], self.timeout.as_secs());
                return Err(HookError::TimedOut(self.timeout));
            }
        };
        // The program has exited: a helper it left in its group goes too, so the pipes close.
        kill_group(pid);
        let status = status.map_err(|e| HookError::Failed(format!("waiting for the hook: {e}")))?;
        let (stdout, stdout_over) = out_rx.recv_timeout(AFTER_KILL).unwrap_or_default();
        let (stderr, _) = err_rx.recv_timeout(AFTER_KILL).unwrap_or_default();
        let stderr = printable(String::from_utf8_lossy(&stderr).trim(), code);
        if !status.success() {
            let how = match (status.code(), status.signal()) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, Some(s)) => format!("killed by signal {s}"),
                _ => "failed".into(),
            };
            return Err(HookError::Failed(format!("{} {how}; stderr: {stderr}", self.argv[0])));
        }
        if !stderr.is_empty() {
            log::info!("hook {}: stderr: {stderr}", self.argv[0]);
        }
        if stdout_over {
            return Err(HookError::Failed(format!("answer longer than {MAX_ANSWER_BYTES} bytes")));
        }
        Ok(stdout)
    }
}

/// SIGKILL to the hook's process group (its pid is the group's id, `process_group(0)`).
fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        // ESRCH: the group is gone already.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(script: &str, timeout_ms: u64) -> Program {
        Program::new(vec!["/bin/sh".into(), "-c".into(), script.into()], Duration::from_millis(timeout_ms))
    }

    #[test]
    fn the_request_goes_on_stdin_and_the_answer_comes_from_stdout() {
        let p = sh("cat", 5000);
        assert_eq!(p.exchange(b"{\"x\":1}", None).unwrap(), b"{\"x\":1}");
    }

    #[test]
    fn a_hook_that_hangs_is_killed_with_its_children_at_the_timeout() {
        let marker = tempfile::tempdir().unwrap();
        let file = marker.path().join("child-alive");
        // The helper would write the file after 2 s if it survived the kill of its group.
        let p = sh(&format!("(sleep 2; touch {}) & sleep 30", file.display()), 300);
        let t = Instant::now();
        assert_eq!(p.exchange(b"{}", None).unwrap_err(), HookError::TimedOut(Duration::from_millis(300)));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!file.exists(), "the hook's child outlived the kill of its process group");
    }

    #[test]
    fn a_non_zero_exit_is_an_error_with_stderr_and_without_the_code() {
        let p = sh("read line; echo \"bad code $line\" >&2; exit 3", 5000);
        let HookError::Failed(m) = p.exchange(b"123456\n", Some("123456")).unwrap_err() else { panic!() };
        assert!(m.contains("exited with status 3"), "{m}");
        assert!(m.contains("bad code ***") && !m.contains("123456"), "{m}");
    }

    #[test]
    fn the_environment_is_not_passed_on() {
        std::env::set_var("TWOFACTOR_HOOK_TEST_SECRET", "leak");
        let p = sh("echo \"${TWOFACTOR_HOOK_TEST_SECRET:-none}\"", 5000);
        assert_eq!(p.exchange(b"", None).unwrap(), b"none\n");
    }
}
