//! The environment handle.

use std::sync::Mutex;

use crate::diag::Diagnostics;

pub struct Environment {
    pub(crate) diagnostics: Mutex<Diagnostics>,
}

impl Environment {
    pub fn new() -> Self {
        Environment { diagnostics: Mutex::default() }
    }
}

impl Default for Environment {
    fn default() -> Self {
        Self::new()
    }
}
