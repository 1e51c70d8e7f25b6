//! The driver's shared library, opened with dlopen, and a call of any of its exports with
//! up to 13 word-sized arguments.
//!
//! On x86-64 (System V) and AArch64 every ODBC argument (handles, pointers, SQLSMALLINT,
//! SQLINTEGER, SQLLEN) travels in one 64-bit register or stack slot, and the callee reads
//! only the bits of its declared type. So each argument is a `usize` here, and the
//! function pointer is cast to the arity of the export.

use std::ffi::{c_void, CStr, CString};

pub struct Library {
    handle: *mut c_void,
}

/// An export of the driver.
#[derive(Clone, Copy)]
pub struct Export {
    address: *mut c_void,
    arity: usize,
}

impl Library {
    pub fn open(path: &str) -> Result<Library, String> {
        let c_path = CString::new(path).map_err(|_| format!("{path}: path contains NUL"))?;
        // RTLD_LOCAL: symbols are looked up through this handle only, so nothing else in
        // the process (no driver manager) can stand in for the driver's exports.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(format!("dlopen {path}: {}", last_dl_error()));
        }
        Ok(Library { handle })
    }

    pub fn export(&self, name: &str, arity: usize) -> Result<Export, String> {
        assert!(arity <= 13, "{name}: no export of the ODBC API takes more than 13 arguments");
        let c_name = CString::new(name).expect("export names have no NUL");
        let address = unsafe { libc::dlsym(self.handle, c_name.as_ptr()) };
        if address.is_null() {
            return Err(format!("the driver does not export {name}"));
        }
        Ok(Export { address, arity })
    }
}

fn last_dl_error() -> String {
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        "unknown error".to_owned()
    } else {
        unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
    }
}

type W = usize;

impl Export {
    /// Calls the export with the first `arity` words of `args`.
    ///
    /// # Safety
    /// The arguments are whatever the case under test wants to hand the driver: this is
    /// the point of the suite, and it runs in a forked child.
    pub unsafe fn call(&self, a: &[W; 13]) -> i16 {
        let p = self.address;
        match self.arity {
            1 => std::mem::transmute::<*mut c_void, extern "C" fn(W) -> i16>(p)(a[0]),
            2 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W) -> i16>(p)(a[0], a[1]),
            3 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W) -> i16>(p)(a[0], a[1], a[2]),
            4 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W) -> i16>(p)(a[0], a[1], a[2], a[3]),
            5 => {
                std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W) -> i16>(p)(a[0], a[1], a[2], a[3], a[4])
            }
            6 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W, W) -> i16>(p)(
                a[0], a[1], a[2], a[3], a[4], a[5],
            ),
            7 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W, W, W) -> i16>(p)(
                a[0], a[1], a[2], a[3], a[4], a[5], a[6],
            ),
            8 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W, W, W, W) -> i16>(p)(
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
            ),
            9 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W, W, W, W, W) -> i16>(p)(
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8],
            ),
            10 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W, W, W, W, W, W) -> i16>(p)(
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
            ),
            11 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W, W, W, W, W, W, W) -> i16>(p)(
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
            ),
            12 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W, W, W, W, W, W, W, W) -> i16>(p)(
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11],
            ),
            13 => std::mem::transmute::<*mut c_void, extern "C" fn(W, W, W, W, W, W, W, W, W, W, W, W, W) -> i16>(p)(
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12],
            ),
            n => unreachable!("arity {n}"),
        }
    }
}
