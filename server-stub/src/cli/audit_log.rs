//! `audit`: the audit log's JSON lines, filtered.

use super::*;

pub(super) fn run(
    dir: &Path,
    user: Option<String>,
    event: Option<String>,
    since: Option<String>,
    last: Option<usize>,
) -> CliResult {
    let config = Config::load(dir).map_err(|e| e.to_string())?;
    let path = config.path(&config.audit.file);
    let since = match since {
        Some(s) => Some(
            crate::audit::parse_rfc3339(&s)
                .ok_or_else(|| format!("--since `{s}` is not an RFC 3339 time like 2026-01-02T03:04:05Z"))?,
        ),
        None => None,
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut matched: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
        if user.as_deref().is_some_and(|u| field("user") != u)
            || event.as_deref().is_some_and(|e| field("event") != e)
            || since.is_some_and(|t| crate::audit::parse_rfc3339(field("time")).is_none_or(|at| at < t))
        {
            continue;
        }
        matched.push_back(line);
        if let Some(n) = last {
            while matched.len() > n {
                matched.pop_front();
            }
        }
    }
    let mut out = std::io::stdout().lock();
    for l in matched {
        if writeln!(out, "{l}").is_err() {
            break;
        }
    }
    Ok(())
}
