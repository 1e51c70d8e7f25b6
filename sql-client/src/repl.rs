//! The interactive loop: rustyline for editing and history, SQL up to ';' (over several
//! lines), backslash commands at once.

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor};

use crate::commands::{self, Flow};
use crate::history;
use crate::run;
use crate::script::{self, Item};
use crate::session::Session;

const HISTORY_SIZE: usize = 2000;

/// Runs one item; errors are printed, the loop goes on.
fn run_item(session: &Session, item: &Item) -> Flow {
    let result = match item {
        Item::Sql(sql) => run::run_sql(session, sql).map(|()| Flow::Continue),
        Item::Command(line) => commands::run(session, line),
    };
    result.unwrap_or_else(|e| {
        eprintln!("{e}");
        Flow::Continue
    })
}

pub fn run(session: &Session, name: &str) -> Result<(), String> {
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .max_history_size(HISTORY_SIZE)
        .map_err(|e| e.to_string())?
        .build();
    let mut editor: Editor<(), FileHistory> = Editor::with_config(config).map_err(|e| e.to_string())?;
    let history = history::path();
    if let Some(file) = &history {
        match history::prepare(file) {
            Ok(()) => {
                let _ = editor.load_history(file);
            }
            Err(e) => eprintln!("warning: no history ({}: {e})", file.display()),
        }
    }
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { format!("{name}=> ") } else { format!("{name}-> ") };
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            // Ctrl-C at the prompt drops what was typed, as in psql.
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("cannot read the line: {e}");
                break;
            }
        };
        pending.push_str(&line);
        pending.push('\n');
        let (items, rest) = script::split(&pending);
        if items.is_empty() && !script::is_blank(&rest) {
            continue; // a statement not yet ended by ';'
        }
        let _ = editor.add_history_entry(pending.trim_end());
        pending = if script::is_blank(&rest) { String::new() } else { rest };
        let mut quit = false;
        for item in &items {
            if let Flow::Quit = run_item(session, item) {
                quit = true;
                break;
            }
        }
        if quit {
            break;
        }
    }
    if let Some(file) = &history {
        if editor.save_history(file).is_ok() {
            let _ = history::restrict(file);
        }
    }
    Ok(())
}
