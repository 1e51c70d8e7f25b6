//! The delegated second factor: the site's own hook, called twice per login as the
//! platform MFA hooks initMFA/checkMFA are: `init` after the password (the hook may send a
//! code, or say none is needed) and `check` with the code the user typed. The hook gets
//! JSON and answers JSON, through one of two transports: a program exec'd directly
//! (program.rs) or an HTTPS endpoint (https.rs). The hook never sees the password; the code
//! travels only in the `check` request's body (stdin or the POST body), never in argv, the
//! environment or a log line. Every answer that is not one of the documented ones is an
//! error, and every error fails closed.
//!
//! Blocking: the calls run on the blocking pool, as store calls do.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::config::Config;

mod https;
mod program;
mod safe_path;
pub use safe_path::check_program_path;

/// How much of a hook's answer is read; a longer one is garbage.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The longest hint passed on to the client, and the longest hook text put in a log line.
const MAX_HINT_CHARS: usize = 200;
const MAX_LOGGED_CHARS: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No answer within the timeout: the program was killed, the request abandoned.
    #[error("no answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// It answered, but not as documented (exit status, HTTP status, not JSON, an
    /// unknown result), or could not be run. Never contains the code.
    #[error("{0}")]
    Failed(String),
}

/// What `init` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitAnswer {
    /// A code was sent (or the user's token is ready); the hint says where, for the client.
    Sent { hint: String },
    /// The hook says this login needs no second factor.
    NotRequired,
    /// The hook refused to start a second factor (its message, for the log and audit).
    Refused { message: String },
}

/// What `check` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckAnswer {
    Accepted,
    Rejected,
}

/// One way to reach the hook: sends one request, returns the raw answer. `code` is the
/// secret in the request (a `check`): a transport uses it only to keep it out of what it
/// logs or returns in errors.
pub trait Transport: Send + Sync {
    fn exchange(&self, request: &[u8], code: Option<&str>) -> Result<Vec<u8>, HookError>;
}

pub struct Hook {
    transport: Box<dyn Transport>,
    pub replay_window_secs: u64,
}

#[derive(Deserialize)]
struct Answer {
    result: String,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl Hook {
    /// The configured hook, or None. Refuses a program whose path an other user could
    /// change (see [`check_program_path`]) and an unreadable CA file.
    pub fn open(config: &Config) -> Result<Option<Arc<Hook>>, String> {
        let h = &config.hook;
        let timeout = Duration::from_secs(h.timeout_secs);
        let transport: Box<dyn Transport> = if !h.program.is_empty() {
            check_program_path(Path::new(&h.program[0])).map_err(|e| format!("hook.program: {e}"))?;
            Box::new(program::Program::new(h.program.clone(), timeout))
        } else if !h.url.is_empty() {
            let ca = (!h.ca_file.as_os_str().is_empty()).then(|| config.path(&h.ca_file));
            Box::new(https::Endpoint::new(&h.url, ca.as_deref(), &h.bearer_token, timeout)?)
        } else {
            return Ok(None);
        };
        Ok(Some(Arc::new(Hook { transport, replay_window_secs: h.replay_window_secs })))
    }

    /// A hook over any transport (tests).
    pub fn with_transport(transport: Box<dyn Transport>, replay_window_secs: u64) -> Hook {
        Hook { transport, replay_window_secs }
    }

    /// initMFA: `{"call":"init","user":..,"peer":..,"session_id":..}`.
    pub fn init(&self, user: &str, peer: &str, session_id: u64) -> Result<InitAnswer, HookError> {
        let request = json!({ "call": "init", "user": user, "peer": peer, "session_id": session_id.to_string() });
        let answer = self.call(&request, None)?;
        match answer.result.as_str() {
            "sent" => Ok(InitAnswer::Sent { hint: clean_hint(answer.hint.as_deref().unwrap_or("")) }),
            "not_required" => Ok(InitAnswer::NotRequired),
            "error" => Ok(InitAnswer::Refused {
                message: printable(answer.message.as_deref().unwrap_or("(no message)"), None),
            }),
            other => Err(HookError::Failed(format!("init: unknown result `{}`", printable(other, None)))),
        }
    }

    /// checkMFA: `{"call":"check","user":..,"session_id":..,"code":..}`.
    pub fn check(&self, user: &str, session_id: u64, code: &str) -> Result<CheckAnswer, HookError> {
        let request = json!({ "call": "check", "user": user, "session_id": session_id.to_string(), "code": code });
        let answer = self.call(&request, Some(code))?;
        match answer.result.as_str() {
            "accepted" => Ok(CheckAnswer::Accepted),
            "rejected" => Ok(CheckAnswer::Rejected),
            other => Err(HookError::Failed(format!("check: unknown result `{}`", printable(other, Some(code))))),
        }
    }

    fn call(&self, request: &serde_json::Value, code: Option<&str>) -> Result<Answer, HookError> {
        let body = serde_json::to_vec(request).map_err(|e| HookError::Failed(format!("encoding the request: {e}")))?;
        let raw = self.transport.exchange(&body, code)?;
        serde_json::from_slice::<Answer>(&raw).map_err(|e| {
            let shown = printable(&String::from_utf8_lossy(&raw), code);
            HookError::Failed(format!("answer is not the documented JSON ({e}): {shown}"))
        })
    }
}

/// `text` as one printable log line: control characters replaced, cut at a bound, and the
/// code (when there is one) masked wherever it appears, so a hook that echoes it does not
/// put it in our log.
pub fn printable(text: &str, code: Option<&str>) -> String {
    let masked = match code.map(str::trim) {
        Some(c) if !c.is_empty() => text.replace(c, "***"),
        _ => text.to_owned(),
    };
    let mut out: String = masked.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_LOGGED_CHARS).collect();
    if masked.chars().count() > MAX_LOGGED_CHARS {
        out.push_str("...");
    }
    out
}

fn clean_hint(hint: &str) -> String {
    hint.chars().filter(|c| !c.is_control()).take(MAX_HINT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Canned(Mutex<Vec<Result<Vec<u8>, HookError>>>, Arc<Mutex<Vec<String>>>);

    impl Transport for Canned {
        fn exchange(&self, request: &[u8], _code: Option<&str>) -> Result<Vec<u8>, HookError> {
            self.1.lock().unwrap().push(String::from_utf8(request.to_vec()).unwrap());
            self.0.lock().unwrap().remove(0)
        }
    }

    fn hook(answers: &[&str]) -> (Hook, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answers = answers.iter().map(|a| Ok(a.as_bytes().to_vec())).collect();
        (Hook::with_transport(Box::new(Canned(Mutex::new(answers), seen.clone())), 600), seen)
    }

    #[test]
    fn init_answers_map_to_sent_not_required_and_refused() {
        let (h, seen) = hook(&[
            r#"{"result":"sent","hint":"code sent to token\u0007 42"}"#,
            r#"{"result":"not_required"}"#,
            r#"{"result":"error","message":"no token"}"#,
        ]);
        assert_eq!(h.init("ann", "127.0.0.1:5", 7).unwrap(), InitAnswer::Sent { hint: "code sent to token 42".into() });
        assert_eq!(h.init("ann", "127.0.0.1:5", 7).unwrap(), InitAnswer::NotRequired);
        assert_eq!(h.init("ann", "127.0.0.1:5", 7).unwrap(), InitAnswer::Refused { message: "no token".into() });
        let first: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[0]).unwrap();
        assert_eq!(first, json!({"call":"init","user":"ann","peer":"127.0.0.1:5","session_id":"7"}));
    }

    #[test]
    fn garbage_and_unknown_results_are_errors_that_never_contain_the_code() {
        let (h, _) = hook(&["code 123456 is fine", r#"{"result":"ok 123456"}"#, r#"{"result":"accepted"}"#]);
        for _ in 0..2 {
            let HookError::Failed(m) = h.check("ann", 1, "123456").unwrap_err() else { panic!() };
            assert!(!m.contains("123456"), "{m}");
            assert!(m.contains("***"), "{m}");
        }
        assert_eq!(h.check("ann", 1, "123456").unwrap(), CheckAnswer::Accepted);
    }

    #[test]
    fn printable_lines_are_bounded_and_single_line() {
        let long = "x\n".repeat(1000);
        let p = printable(&long, None);
        assert!(!p.contains('\n'));
        assert!(p.chars().count() <= MAX_LOGGED_CHARS + 3);
    }
}
