//! The statement handle.

use std::sync::Mutex;

use crate::diag::Diagnostics;

pub struct Statement {
    pub(crate) diagnostics: Mutex<Diagnostics>,
}
