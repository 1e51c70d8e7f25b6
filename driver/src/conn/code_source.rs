//! Where the second-factor code comes from when the server asks for one during connect,
//! in one documented order; the first source that yields a code wins:
//!
//! 1. attribute 1002 set before connecting (the application, pyodbc `attrs_before`,
//!    unixODBC `DMConnAttr=[1002]=...`);
//! 2. `TwoFactorCode` (connection string, then DSN);
//! 3. the part of `PWD` after the last `PasswordCodeSeparator`;
//! 4. the environment variable named by `TwoFactorCodeEnv` (default `TWOFACTOR_CODE`);
//! 5. the standard output of `TwoFactorCodeCommand`;
//! 6. a prompt on `/dev/tty`, as `TwoFactorPrompt` allows.
//!
//! None yields a code: the connect succeeds with the factor pending (attribute 1002 = 1).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use twofactor_protocol::Secret;

use crate::diag::{OdbcError, OdbcResult, SqlState};

pub const DEFAULT_CODE_ENV: &str = "TWOFACTOR_CODE";
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptMode {
    /// Never prompt (default).
    No,
    /// Prompt when the application allows prompting (SQLDriverConnect other than NOPROMPT).
    Yes,
    /// Prompt also under NOPROMPT and SQLConnect: the DSN opted in.
    Always,
}

impl PromptMode {
    pub fn parse(s: &str) -> OdbcResult<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "no" | "n" | "0" | "false" | "off" | "never" => Ok(PromptMode::No),
            "yes" | "y" | "1" | "true" | "on" => Ok(PromptMode::Yes),
            "always" => Ok(PromptMode::Always),
            _ => Err(OdbcError::new(
                SqlState::GENERAL_ERROR,
                format!("TwoFactorPrompt must be No, Yes or Always, not {s:?}"),
            )),
        }
    }
}

/// Which source supplied the code (for the log; never the code itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOrigin {
    Attribute,
    Key,
    PasswordSuffix,
    EnvVar,
    Command,
    Prompt,
}

impl CodeOrigin {
    pub fn describe(self) -> &'static str {
        match self {
            CodeOrigin::Attribute => "connection attribute 1002",
            CodeOrigin::Key => "TwoFactorCode key",
            CodeOrigin::PasswordSuffix => "password suffix",
            CodeOrigin::EnvVar => "environment variable",
            CodeOrigin::Command => "TwoFactorCodeCommand",
            CodeOrigin::Prompt => "terminal prompt",
        }
    }
}

/// Everything the search needs, gathered from the attribute, the keys and the call.
#[derive(Debug)]
pub struct CodeSources {
    pub attribute: Option<Secret<String>>,
    pub key: Option<Secret<String>>,
    pub password_suffix: Option<Secret<String>>,
    pub env_var: String,
    pub command: Option<String>,
    pub command_timeout: Duration,
    pub prompt: PromptMode,
    /// The call lets the driver interact (SQLDriverConnect with a completion other than
    /// SQL_DRIVER_NOPROMPT).
    pub prompting_allowed: bool,
}

/// The outside world the search touches, so tests can stand in for it.
pub trait CodeWorld {
    fn env(&self, name: &str) -> Option<String>;
    /// Asks on the controlling terminal; `None` when there is none or nothing was typed.
    fn prompt(&self, text: &str) -> Option<String>;
}

/// The real process environment and `/dev/tty`.
pub struct RealWorld;

impl CodeWorld for RealWorld {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn prompt(&self, text: &str) -> Option<String> {
        // rpassword opens /dev/tty for both the prompt and the answer and turns echo off;
        // it never reads stdin, which isql uses for SQL.
        match rpassword::prompt_password(text) {
            Ok(s) => Some(s),
            Err(e) => {
                log::info!("no terminal to prompt for the two-factor code: {e}");
                None
            }
        }
    }
}

fn non_empty(s: &str) -> Option<Secret<String>> {
    let t = s.trim();
    (!t.is_empty()).then(|| Secret::new(t.to_string()))
}

impl CodeSources {
    /// The first code in the documented order, or `None`. Errors only from a helper
    /// command that fails (the user configured it, so a silent fallback would mislead).
    pub fn find(&self, world: &dyn CodeWorld, prompt_text: &str) -> OdbcResult<Option<(Secret<String>, CodeOrigin)>> {
        let cheap = [
            (&self.attribute, CodeOrigin::Attribute),
            (&self.key, CodeOrigin::Key),
            (&self.password_suffix, CodeOrigin::PasswordSuffix),
        ];
        for (source, origin) in cheap {
            if let Some(code) = source.as_ref().and_then(|c| non_empty(c.expose())) {
                return Ok(Some((code, origin)));
            }
        }
        if let Some(code) = world.env(&self.env_var).as_deref().and_then(non_empty) {
            return Ok(Some((code, CodeOrigin::EnvVar)));
        }
        if let Some(cmd) = self.command.as_deref().filter(|c| !c.trim().is_empty()) {
            return run_helper(cmd, self.command_timeout).map(|c| Some((c, CodeOrigin::Command)));
        }
        let may_prompt = match self.prompt {
            PromptMode::No => false,
            PromptMode::Yes => self.prompting_allowed,
            PromptMode::Always => true,
        };
        if may_prompt {
            if let Some(code) = world.prompt(prompt_text).as_deref().and_then(non_empty) {
                return Ok(Some((code, CodeOrigin::Prompt)));
            }
        }
        Ok(None)
    }
}

fn helper_error(state: SqlState, what: String) -> OdbcError {
    OdbcError::new(state, format!("TwoFactorCodeCommand {what}"))
}

/// Runs the helper command without a shell and returns its trimmed standard output.
/// The child is killed when it outlives `timeout`.
pub fn run_helper(command_line: &str, timeout: Duration) -> OdbcResult<Secret<String>> {
    let argv = shlex::split(command_line).filter(|a| !a.is_empty()).ok_or_else(|| {
        helper_error(SqlState::GENERAL_ERROR, "is not a valid command line (check its quoting)".into())
    })?;
    let program = &argv[0];
    let mut child = Command::new(program)
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| helper_error(SqlState::GENERAL_ERROR, format!("could not start {program:?}: {e}")))?;

    // Read both pipes on threads: a helper that fills a pipe must not deadlock us.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
        }
        buf
    });

    // No deadline when the timeout is beyond what an Instant can hold.
    let deadline = Instant::now().checked_add(timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(helper_error(
                    SqlState::TIMEOUT_EXPIRED,
                    format!("{program:?} did not finish within {} s and was stopped", timeout.as_secs_f32()),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                return Err(helper_error(SqlState::GENERAL_ERROR, format!("{program:?} could not be waited for: {e}")))
            }
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let first_line =
            String::from_utf8_lossy(&err).lines().next().unwrap_or("").chars().take(200).collect::<String>();
        let detail = if first_line.is_empty() { String::new() } else { format!(": {first_line}") };
        return Err(helper_error(SqlState::INVALID_AUTHORIZATION, format!("{program:?} failed ({status}){detail}")));
    }
    let text = String::from_utf8(out).map_err(|_| {
        helper_error(SqlState::INVALID_AUTHORIZATION, format!("{program:?} printed something that is not UTF-8"))
    })?;
    non_empty(&text)
        .ok_or_else(|| helper_error(SqlState::INVALID_AUTHORIZATION, format!("{program:?} printed no code")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeWorld {
        env: HashMap<String, String>,
        tty: Option<String>,
        prompted: std::cell::Cell<bool>,
    }

    impl FakeWorld {
        fn new() -> Self {
            FakeWorld { env: HashMap::new(), tty: None, prompted: Default::default() }
        }
    }

    impl CodeWorld for FakeWorld {
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).cloned()
        }
        fn prompt(&self, _: &str) -> Option<String> {
            self.prompted.set(true);
            self.tty.clone()
        }
    }

    fn none() -> CodeSources {
        CodeSources {
            attribute: None,
            key: None,
            password_suffix: None,
            env_var: DEFAULT_CODE_ENV.into(),
            command: None,
            command_timeout: Duration::from_secs(5),
            prompt: PromptMode::No,
            prompting_allowed: false,
        }
    }

    fn found(s: &CodeSources, w: &FakeWorld) -> Option<(String, CodeOrigin)> {
        s.find(w, "code: ").unwrap().map(|(c, o)| (c.expose().clone(), o))
    }

    #[test]
    fn each_source_is_used_when_it_is_the_only_one() {
        let w = FakeWorld::new();
        assert_eq!(found(&none(), &w), None);
        let s = CodeSources { attribute: Some(" 111111 ".to_string().into()), ..none() };
        assert_eq!(found(&s, &w), Some(("111111".into(), CodeOrigin::Attribute)));
        let s = CodeSources { key: Some("222222".into()), ..none() };
        assert_eq!(found(&s, &w), Some(("222222".into(), CodeOrigin::Key)));
        let s = CodeSources { password_suffix: Some("333333".into()), ..none() };
        assert_eq!(found(&s, &w), Some(("333333".into(), CodeOrigin::PasswordSuffix)));
        let mut w = FakeWorld::new();
        w.env.insert("MY_CODE".into(), "444444\n".into());
        let s = CodeSources { env_var: "MY_CODE".into(), ..none() };
        assert_eq!(found(&s, &w), Some(("444444".into(), CodeOrigin::EnvVar)));
        let s = CodeSources { command: Some("echo 555555".into()), ..none() };
        assert_eq!(found(&s, &FakeWorld::new()), Some(("555555".into(), CodeOrigin::Command)));
        let mut w = FakeWorld::new();
        w.tty = Some("666666".into());
        let s = CodeSources { prompt: PromptMode::Always, ..none() };
        assert_eq!(found(&s, &w), Some(("666666".into(), CodeOrigin::Prompt)));
    }

    #[test]
    fn earlier_sources_win_over_later_ones() {
        let mut w = FakeWorld::new();
        w.env.insert(DEFAULT_CODE_ENV.into(), "444444".into());
        w.tty = Some("666666".into());
        let all = CodeSources {
            attribute: Some("111111".into()),
            key: Some("222222".into()),
            password_suffix: Some("333333".into()),
            command: Some("false".into()),
            prompt: PromptMode::Always,
            ..none()
        };
        assert_eq!(found(&all, &w).unwrap().1, CodeOrigin::Attribute);
        let s = CodeSources { attribute: None, ..all };
        assert_eq!(found(&s, &w).unwrap().1, CodeOrigin::Key);
        let s = CodeSources { key: None, ..s };
        assert_eq!(found(&s, &w).unwrap().1, CodeOrigin::PasswordSuffix);
        let s = CodeSources { password_suffix: None, ..s };
        assert_eq!(found(&s, &w).unwrap().1, CodeOrigin::EnvVar);
        assert!(!w.prompted.get(), "the prompt is the last resort");
    }

    #[test]
    fn an_empty_variable_falls_through_to_the_next_source() {
        let mut w = FakeWorld::new();
        w.env.insert(DEFAULT_CODE_ENV.into(), "  ".into());
        let s = CodeSources { command: Some("printf 777777".into()), ..none() };
        assert_eq!(found(&s, &w).unwrap().1, CodeOrigin::Command);
    }

    #[test]
    fn the_prompt_obeys_the_prompt_mode_and_the_completion() {
        let mut w = FakeWorld::new();
        w.tty = Some("123456".into());
        assert_eq!(found(&CodeSources { prompt: PromptMode::No, prompting_allowed: true, ..none() }, &w), None);
        assert_eq!(found(&CodeSources { prompt: PromptMode::Yes, prompting_allowed: false, ..none() }, &w), None);
        assert!(!w.prompted.get(), "NOPROMPT never blocks on a terminal unless the DSN says Always");
        assert!(found(&CodeSources { prompt: PromptMode::Yes, prompting_allowed: true, ..none() }, &w).is_some());
        assert!(PromptMode::parse("maybe").is_err());
        assert_eq!(PromptMode::parse("ALWAYS").unwrap(), PromptMode::Always);
    }

    #[test]
    fn a_helper_command_runs_without_a_shell_with_quoted_arguments() {
        let code = run_helper("printf '%s' '  98 7654 '", Duration::from_secs(5)).unwrap();
        assert_eq!(code.expose(), "98 7654");
        // No shell: `$HOME` and `;` reach the program as plain text.
        let code = run_helper("echo '$HOME;x'", Duration::from_secs(5)).unwrap();
        assert_eq!(code.expose(), "$HOME;x");
    }

    #[test]
    fn a_helper_that_fails_is_an_error_naming_the_key_and_its_stderr() {
        let e = run_helper("sh -c 'echo no such entry >&2; exit 3'", Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.state, SqlState::INVALID_AUTHORIZATION);
        assert!(e.message.contains("TwoFactorCodeCommand") && e.message.contains("no such entry"), "{}", e.message);
        let e = run_helper("/nonexistent/helper", Duration::from_secs(5)).unwrap_err();
        assert!(e.message.contains("could not start"), "{}", e.message);
        let e = run_helper("'unterminated", Duration::from_secs(5)).unwrap_err();
        assert!(e.message.contains("quoting"));
    }

    #[test]
    fn a_helper_with_empty_output_is_an_error() {
        let e = run_helper("true", Duration::from_secs(5)).unwrap_err();
        assert!(e.message.contains("printed no code"), "{}", e.message);
    }

    #[test]
    fn a_helper_that_hangs_is_killed_at_the_timeout() {
        let start = Instant::now();
        let e = run_helper("sleep 5", Duration::from_secs(1)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(4), "{:?}", start.elapsed());
        assert_eq!(e.state, SqlState::TIMEOUT_EXPIRED);
        assert!(e.message.contains("TwoFactorCodeCommand") && e.message.contains("did not finish"));
    }
}
