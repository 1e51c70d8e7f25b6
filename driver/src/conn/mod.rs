//! The connection handle.

use std::sync::Mutex;

use crate::diag::Diagnostics;

pub struct Connection {
    pub(crate) diagnostics: Mutex<Diagnostics>,
}
