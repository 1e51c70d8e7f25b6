//! Descriptor handles.

use std::sync::Mutex;

use crate::diag::Diagnostics;

pub struct Descriptor {
    pub(crate) diagnostics: Mutex<Diagnostics>,
}
