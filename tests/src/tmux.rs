//! A program on a real terminal: a detached tmux session on a private server socket,
//! read with capture-pane and typed into with send-keys.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// Whether tmux can be run; false (said on stderr) lets a test return early, unless
/// `TWOFACTOR_REQUIRE_TMUX=1`, where a missing tmux fails the test.
pub fn available() -> bool {
    let found = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !found {
        let why = "no tmux: apt-get install tmux";
        assert!(!std::env::var("TWOFACTOR_REQUIRE_TMUX").is_ok_and(|v| v == "1"), "{why}");
        eprintln!("skipped: {why}");
    }
    found
}

/// Quotes a word for the shell tmux runs the command with.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

impl Tmux {
    /// Runs `command` (a shell command line) in a new 200x50 session named "t"; its
    /// environment is this process's plus `env`.
    pub fn start(command: &str, env: &[(&str, &Path)]) -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&socket).args(["-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "200", "-y", "50"]);
        cmd.arg(command);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        // A terminal type every tmux knows, whatever the test runner's is.
        cmd.env("TERM", "xterm").env_remove("TMUX");
        let out = cmd.output().expect("tmux new-session");
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        Tmux { socket, _dir: dir }
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-S").arg(&self.socket).args(args).output().expect("tmux")
    }

    /// The visible screen, and the scrollback, as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-J", "-S", "-200", "-t", "t"]).stdout).into_owned()
    }

    /// Waits until the screen shows `text`; panics with the screen after `timeout`.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(start.elapsed() < timeout, "waited {timeout:?} for {text:?}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `text` appears `n` times on the screen.
    pub fn wait_for_count(&self, text: &str, n: usize, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= n {
                return screen;
            }
            assert!(start.elapsed() < timeout, "waited {timeout:?} for {n} x {text:?}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        // tmux reads an argument ending in ';' as the end of its command; "\;" is a ';'.
        let arg = match text.strip_suffix(';') {
            Some(head) => format!("{head}\\;"),
            None => text.to_owned(),
        };
        let out = self.tmux(&["send-keys", "-t", "t", "-l", &arg]);
        assert!(out.status.success(), "send-keys: {}", String::from_utf8_lossy(&out.stderr));
        self.key("Enter");
    }

    /// Presses a key by its tmux name ("Enter", "C-c", "C-d").
    pub fn key(&self, name: &str) {
        let out = self.tmux(&["send-keys", "-t", "t", name]);
        assert!(out.status.success(), "send-keys {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}
