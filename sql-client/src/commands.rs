//! The backslash commands: \dt, \d TABLE, \conninfo, \?, \q.

use crate::error::SqlError;
use crate::odbc_raw;
use crate::run::{self, Rows};
use crate::session::Session;
use crate::table;

pub enum Flow {
    Continue,
    Quit,
}

pub const HELP: &str = "\
  \\dt [PATTERN]   list tables and views (PATTERN: SQL LIKE, % and _)
  \\d [TABLE]      describe TABLE's columns (without TABLE: as \\dt)
  \\conninfo       data source, server, user and the two-factor state
  \\?              this help
  \\q              quit (also Ctrl-D)
SQL ends with ';' (in -c, the last statement needs none). Ctrl-C cancels the running
statement, or drops the line being typed.";

/// The columns `picks` (1-based, with their headers) of a catalog result.
fn pick(rows: &Rows, picks: &[(usize, &str)]) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let headers = picks.iter().map(|(_, h)| (*h).to_owned()).collect();
    let rows = rows.rows.iter().map(|r| picks.iter().map(|(i, _)| r.get(i - 1).cloned().flatten()).collect()).collect();
    (headers, rows)
}

fn list_tables(session: &Session, pattern: &str) -> Result<(), SqlError> {
    let pattern = if pattern.is_empty() { "%" } else { pattern };
    let rows = run::catalog(session, |stmt| odbc_raw::tables(stmt, pattern, "TABLE,VIEW"))?;
    let has_schema = rows.rows.iter().any(|r| r.get(1).cloned().flatten().is_some_and(|s| !s.is_empty()));
    let picks: &[(usize, &str)] =
        if has_schema { &[(2, "Schema"), (3, "Name"), (4, "Type")] } else { &[(3, "Name"), (4, "Type")] };
    let (headers, rows) = pick(&rows, picks);
    if rows.is_empty() {
        println!("No tables found.");
    } else {
        println!("{}", table::render(&headers, &rows));
    }
    Ok(())
}

fn describe(session: &Session, name: &str) -> Result<(), SqlError> {
    let rows = run::catalog(session, |stmt| odbc_raw::columns(stmt, name))?;
    if rows.rows.is_empty() {
        return Err(SqlError::client(format!("no table or view named \"{name}\"")));
    }
    let (headers, rows) = pick(&rows, &[(4, "Column"), (6, "Type"), (7, "Size"), (18, "Nullable")]);
    println!("Table \"{name}\"\n{}", table::render(&headers, &rows));
    Ok(())
}

fn conninfo(session: &Session) {
    let lines = session.info();
    let width = lines.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    for (label, value) in lines {
        println!("{label:<width$}  {value}");
    }
}

/// Runs one command (`line` is what followed the '\').
pub fn run(session: &Session, line: &str) -> Result<Flow, SqlError> {
    let (name, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = arg.trim();
    match name {
        "q" | "quit" => return Ok(Flow::Quit),
        "?" | "h" | "help" => println!("{HELP}"),
        "dt" => list_tables(session, arg)?,
        "d" if arg.is_empty() => list_tables(session, "")?,
        "d" => describe(session, arg)?,
        "conninfo" => conninfo(session),
        other => return Err(SqlError::client(format!("unknown command \\{other}; \\? lists the commands"))),
    }
    Ok(Flow::Continue)
}
