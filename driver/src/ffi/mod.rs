//! The C boundary. Every exported function is a few lines: look the handle up, clear its
//! diagnostics, run the safe implementation under a panic guard, record what it reported,
//! return the code. All `unsafe` of the driver lives below this module.

mod catalog;
mod catalog_extra;
#[cfg(test)]
mod conn_tests;
mod connection;
mod desc;
mod diag;
mod env;
#[cfg(test)]
mod fast_path_tests;
pub(crate) mod fetch;
mod handles;
#[cfg(unix)]
mod host;
mod info;
pub(crate) mod odbcinst;
pub(crate) mod panic_hook;
mod params;
mod scroll;
#[cfg(test)]
mod scroll_tests;
mod sqlwchar;
mod statement;
#[cfg(test)]
mod stmt_tests;
pub(crate) mod text;
mod token;
#[cfg(test)]
mod two_factor_state_tests;
#[cfg(windows)]
pub(crate) mod windows;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use odbc_sys::SqlReturn;

use crate::diag::{Completion, DiagArea, Diagnostics, OdbcError, OdbcResult, SqlState};
use crate::handles::HandleObject;

/// Warnings a call raises on its way to success (01004 truncation and the like).
#[derive(Debug, Default)]
pub struct Warnings(Vec<OdbcError>);

impl Warnings {
    pub fn push(&mut self, warning: OdbcError) {
        self.0.push(warning);
    }
    pub fn warn(&mut self, state: SqlState, message: impl Into<String>) {
        self.0.push(OdbcError::new(state, message));
    }
}

fn lock_diagnostics(area: &DiagArea) -> std::sync::MutexGuard<'_, Diagnostics> {
    area.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `body` for the live handle `raw` of type `T`. An unknown, freed or wrong-kind
/// handle gets SQL_INVALID_HANDLE; a panic becomes HY000 on the handle.
pub(crate) fn call<T, F>(raw: *mut std::ffi::c_void, body: F) -> SqlReturn
where
    T: HandleObject,
    F: FnOnce(&Arc<T>, &mut Warnings) -> OdbcResult<Completion>,
{
    let Some(object) = crate::handles::lookup::<T>(raw as usize) else {
        return SqlReturn::INVALID_HANDLE;
    };
    object.diagnostics().clear();
    run(&object, body)
}

fn run<T, F>(object: &Arc<T>, body: F) -> SqlReturn
where
    T: HandleObject,
    F: FnOnce(&Arc<T>, &mut Warnings) -> OdbcResult<Completion>,
{
    let mut warnings = Warnings::default();
    let outcome = catch_unwind(AssertUnwindSafe(|| panic_hook::in_driver(|| body(object, &mut warnings))));
    let area = object.diagnostics();
    let code = match outcome {
        // Nothing to record: the area stays as `call` left it, and no lock is taken.
        Ok(Ok(done)) if warnings.0.is_empty() && !area.may_have_records() => plain_code(done),
        outcome => record(area, outcome, warnings),
    };
    area.set_return_code(code.0);
    code
}

/// The return code of a call that added no diagnostic record.
fn plain_code(done: Completion) -> SqlReturn {
    match done {
        Completion::Success => SqlReturn::SUCCESS,
        Completion::NoData => SqlReturn::NO_DATA,
        Completion::NeedData => SqlReturn::NEED_DATA,
    }
}

/// Puts the call's warnings, error or panic into the area and returns the code they make.
fn record(area: &DiagArea, outcome: std::thread::Result<OdbcResult<Completion>>, warnings: Warnings) -> SqlReturn {
    let mut diag = lock_diagnostics(area);
    for w in warnings.0 {
        diag.push(w);
    }
    match outcome {
        Ok(Ok(Completion::Success)) if diag.has_warnings() => SqlReturn::SUCCESS_WITH_INFO,
        Ok(Ok(done)) => plain_code(done),
        Ok(Err(error)) => {
            log::debug!("{error}");
            diag.push(error);
            SqlReturn::ERROR
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            log::error!("internal error caught at the ODBC boundary: {what}");
            diag.push(OdbcError::new(SqlState::GENERAL_ERROR, format!("internal driver error: {what}")));
            SqlReturn::ERROR
        }
    }
}

/// For functions that have no handle to report on (or whose handle is being created):
/// a panic becomes SQL_ERROR instead of unwinding into C.
pub(crate) fn guard(body: impl FnOnce() -> SqlReturn) -> SqlReturn {
    catch_unwind(AssertUnwindSafe(|| panic_hook::in_driver(body))).unwrap_or(SqlReturn::ERROR)
}
