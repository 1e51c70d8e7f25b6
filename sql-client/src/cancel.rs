//! Ctrl-C. At the prompt the line editor reads it as a key (the line is dropped); while a
//! statement runs or its rows are fetched the terminal is in cooked mode, SIGINT arrives,
//! and the handler thread sends SQLCancel for the statement (the driver opens a second
//! connection and sends the server Cancel; the running call then fails with HY008).
//! Outside both (the password or code prompt) Ctrl-C ends the program, as it would
//! without a handler.

use std::sync::Mutex;

use crate::odbc_raw;

/// The statement being run, as `odbc_raw::statement_id` numbers it. The handler holds
/// the lock during SQLCancel, and [`Running::drop`] takes it before the statement is
/// freed: a cancel never reaches a freed handle.
static RUNNING: Mutex<Option<usize>> = Mutex::new(None);

/// Installs the SIGINT handler (once, before the first statement).
pub fn install() -> Result<(), String> {
    ctrlc::set_handler(|| {
        let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        match *running {
            Some(id) => {
                eprintln!("\ncancelling the statement...");
                if !odbc_raw::cancel(id) {
                    eprintln!("the statement could not be cancelled");
                }
            }
            // Not in a statement: the default action of SIGINT, with its exit status.
            None => exit_interrupted(),
        }
    })
    .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))
}

/// Ends the program as SIGINT would (status 130). The password or code prompt may
/// have switched echo off: it is put back first.
pub fn exit_interrupted() -> ! {
    restore_echo();
    eprintln!();
    std::process::exit(130);
}

/// `stty echo` on the controlling terminal (a no-echo prompt interrupted by Ctrl-C
/// would otherwise leave the shell without echo).
fn restore_echo() {
    if let Ok(tty) = std::fs::File::open("/dev/tty") {
        let _ = std::process::Command::new("stty").arg("echo").stdin(tty).status();
    }
}

/// Marks a statement as the one Ctrl-C cancels until this guard is dropped; drop it
/// before the statement handle is freed.
pub struct Running(());

impl Running {
    pub fn new(id: usize) -> Running {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
