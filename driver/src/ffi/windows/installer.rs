//! odbccp32.dll, the Windows ODBC installer library, linked (every Windows has it, and
//! Wine has its own): it reads and writes DSNs in the registry
//! (`HKEY_CURRENT_USER` / `HKEY_LOCAL_MACHINE\SOFTWARE\ODBC\ODBC.INI`) when the file
//! name passed is "odbc.ini", and the driver list under `ODBCINST.INI`.

use std::ffi::{c_char, c_int};

#[link(name = "odbccp32")]
unsafe extern "system" {
    pub(crate) fn SQLGetPrivateProfileString(
        section: *const c_char,
        entry: *const c_char,
        default: *const c_char,
        ret: *mut c_char,
        ret_len: c_int,
        filename: *const c_char,
    ) -> c_int;
    pub(crate) fn SQLWritePrivateProfileString(
        section: *const c_char,
        entry: *const c_char,
        value: *const c_char,
        filename: *const c_char,
    ) -> i32;
    pub(crate) fn SQLWriteDSNToIni(dsn: *const c_char, driver: *const c_char) -> i32;
    pub(crate) fn SQLRemoveDSNFromIni(dsn: *const c_char) -> i32;
    pub(crate) fn SQLValidDSN(dsn: *const c_char) -> i32;
    pub(crate) fn SQLPostInstallerError(code: u32, message: *const c_char) -> i16;
}
