//! The file the driver was loaded from, from the loader's module list (the Windows
//! counterpart of the Unix `dladdr` look-up in `ffi/host.rs`). There is one driver
//! manager on Windows (odbc32.dll) and its SQLWCHAR is always 2 bytes, so nothing else
//! needs finding out at run time.

use std::ffi::c_void;
use std::os::windows::ffi::OsStringExt;

use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleExW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
    GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
};

/// The module (this DLL) that holds our code.
pub(crate) fn own_module() -> Option<HMODULE> {
    let mut module: HMODULE = std::ptr::null_mut();
    let here = own_module as *const c_void;
    // SAFETY: FROM_ADDRESS takes any address inside a module, passed in place of the
    // name; UNCHANGED_REFCOUNT takes no reference (this DLL cannot unload while running).
    let ok = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            here.cast(),
            &mut module,
        )
    };
    (ok != 0 && !module.is_null()).then_some(module)
}

/// The path of this DLL.
pub(crate) fn own_path() -> Option<std::path::PathBuf> {
    let module = own_module()?;
    let mut buf = vec![0u16; 1024];
    loop {
        // SAFETY: `buf` holds `buf.len()` writable UTF-16 units, the size passed.
        let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) } as usize;
        if n == 0 {
            return None;
        }
        // A full buffer means the path was cut: try again with more room.
        if n >= buf.len() && buf.len() < 1 << 16 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        return Some(std::ffi::OsString::from_wide(&buf[..n.min(buf.len())]).into());
    }
}
