//! Which driver manager loaded the driver, and its libraries, found at run time.
//!
//! The driver links no ODBC library: unixODBC and iODBC each bring their own installer
//! library (odbc.ini reader) and their own idea of SQLWCHAR (2 bytes in unixODBC, the
//! 4-byte `wchar_t` in iODBC on Linux and macOS). What is already loaded in the process
//! tells which one hosts us. `RTLD_NOLOAD` finds a library whatever scope it was loaded
//! in (a Python extension loads its driver manager `RTLD_LOCAL`, out of `RTLD_DEFAULT`'s
//! sight) and never loads anything.

use std::ffi::{c_void, CStr};
use std::sync::OnceLock;

#[cfg(target_os = "macos")]
mod names {
    pub const IODBC: &std::ffi::CStr = c"libiodbc.2.dylib";
    pub const IODBCINST: &std::ffi::CStr = c"libiodbcinst.2.dylib";
    pub const UNIXODBC: &std::ffi::CStr = c"libodbc.2.dylib";
    pub const UNIXODBCINST: &std::ffi::CStr = c"libodbcinst.2.dylib";
}
#[cfg(not(target_os = "macos"))]
mod names {
    pub const IODBC: &std::ffi::CStr = c"libiodbc.so.2";
    pub const IODBCINST: &std::ffi::CStr = c"libiodbcinst.so.2";
    pub const UNIXODBC: &std::ffi::CStr = c"libodbc.so.2";
    pub const UNIXODBCINST: &std::ffi::CStr = c"libodbcinst.so.2";
}

/// The driver manager in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverManager {
    UnixOdbc,
    Iodbc,
    /// None, or both: nothing to go by (unit tests, a statically linked manager).
    Unknown,
}

impl DriverManager {
    /// The installer libraries to use, in order.
    fn installer_libraries(self) -> &'static [&'static CStr] {
        match self {
            DriverManager::Iodbc => &[names::IODBCINST],
            DriverManager::UnixOdbc => &[names::UNIXODBCINST],
            DriverManager::Unknown => &[names::UNIXODBCINST, names::IODBCINST],
        }
    }
}

/// A library handle that stays open for the life of the process (never `dlclose`d, so
/// the function pointers taken from it stay valid).
struct Library(*mut c_void);

impl Library {
    /// The library if it is already loaded; never loads it.
    fn loaded(name: &CStr) -> Option<Library> {
        // SAFETY: `name` is NUL-terminated; RTLD_NOLOAD only looks the name up.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
        (!handle.is_null()).then_some(Library(handle))
    }

    /// The library, loaded if it is not yet (local scope: its names stay out of the
    /// application's way).
    fn load(name: &CStr) -> Option<Library> {
        // SAFETY: `name` is NUL-terminated. Loading a system library runs its
        // initialisers, which is what every driver that links it does too.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        (!handle.is_null()).then_some(Library(handle))
    }

    fn symbol(&self, name: &CStr) -> Option<*mut c_void> {
        // SAFETY: the handle came from dlopen and is never closed; `name` is terminated.
        let sym = unsafe { libc::dlsym(self.0, name.as_ptr()) };
        (!sym.is_null()).then_some(sym)
    }
}

/// The driver manager that loaded the driver (decided once).
pub(crate) fn driver_manager() -> DriverManager {
    static MANAGER: OnceLock<DriverManager> = OnceLock::new();
    *MANAGER.get_or_init(|| {
        let iodbc = Library::loaded(names::IODBC).is_some();
        let unixodbc = Library::loaded(names::UNIXODBC).is_some();
        let manager = match (iodbc, unixodbc) {
            (true, false) => DriverManager::Iodbc,
            (false, true) => DriverManager::UnixOdbc,
            _ => DriverManager::Unknown,
        };
        log::debug!("driver manager in the process: {manager:?}");
        manager
    })
}

/// The address of `symbol` in the installer library of the driver manager that loaded
/// us: already loaded (as the manager's dependency) or else loaded now. With no known
/// manager, a definition already in the process's global scope comes first.
pub(crate) fn installer_symbol(symbol: &CStr) -> Option<*mut c_void> {
    let manager = driver_manager();
    if manager == DriverManager::Unknown {
        // SAFETY: RTLD_DEFAULT searches the global scope; `symbol` is terminated.
        let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, symbol.as_ptr()) };
        if !sym.is_null() {
            return Some(sym);
        }
    }
    let libraries = manager.installer_libraries();
    let found = libraries
        .iter()
        .find_map(|name| Library::loaded(name))
        .or_else(|| libraries.iter().find_map(|name| Library::load(name)))?;
    found.symbol(symbol)
}

/// The file the driver was loaded from (to find its own section in odbcinst.ini).
pub(crate) fn own_path() -> Option<std::path::PathBuf> {
    // SAFETY: dladdr only reads the loader's tables; `info` is a plain out struct and
    // `dli_fname`, when set, is a NUL-terminated path owned by the loader.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let here = own_path as *const c_void;
        if libc::dladdr(here, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        let path = CStr::from_ptr(info.dli_fname).to_str().ok()?;
        Some(std::path::PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_test_process_has_no_driver_manager_and_still_finds_an_installer() {
        // The unit tests link neither libodbc nor libiodbc.
        assert_eq!(driver_manager(), DriverManager::Unknown);
        assert!(installer_symbol(c"SQLGetPrivateProfileString").is_some());
    }

    #[test]
    fn the_driver_knows_its_own_file() {
        assert!(own_path().is_some_and(|p| p.is_absolute() || p.exists()));
    }
}
