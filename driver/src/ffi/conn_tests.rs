//! Direct calls of the environment, connection and diagnostic exports, as a C
//! application (or a careless one) would make them.

use std::ffi::c_void;
use std::ptr::null_mut;

use odbc_sys::SqlReturn;

use super::connection::*;
use super::diag::*;
use super::env::*;
use super::handles::*;
use super::info::*;

const ENV: i16 = 1;
const DBC: i16 = 2;
const NTS: i16 = -3;

fn alloc_env() -> *mut c_void {
    let mut env = null_mut();
    assert_eq!(unsafe { SQLAllocHandle(ENV, null_mut(), &mut env) }, SqlReturn::SUCCESS);
    assert_eq!(unsafe { SQLSetEnvAttr(env, 200, 3usize as *mut c_void, 0) }, SqlReturn::SUCCESS);
    env
}

fn alloc_dbc(env: *mut c_void) -> *mut c_void {
    let mut dbc = null_mut();
    assert_eq!(unsafe { SQLAllocHandle(DBC, env, &mut dbc) }, SqlReturn::SUCCESS);
    dbc
}

fn free(env: *mut c_void, dbc: *mut c_void) {
    unsafe {
        assert_eq!(SQLFreeHandle(DBC, dbc), SqlReturn::SUCCESS);
        assert_eq!(SQLFreeHandle(ENV, env), SqlReturn::SUCCESS);
    }
}

/// SQLSTATE and message of record 1.
fn diag(handle_type: i16, handle: *mut c_void) -> (String, String) {
    let mut state = [0u8; 6];
    let mut native = 0;
    let mut msg = [0u8; 512];
    let mut len = 0i16;
    let ret = unsafe {
        SQLGetDiagRec(
            handle_type,
            handle,
            1,
            state.as_mut_ptr(),
            &mut native,
            msg.as_mut_ptr(),
            msg.len() as i16,
            &mut len,
        )
    };
    assert_eq!(ret, SqlReturn::SUCCESS, "no diagnostic record");
    (String::from_utf8_lossy(&state[..5]).into(), String::from_utf8_lossy(&msg[..len as usize]).into())
}

#[test]
fn alloc_handle_with_a_null_output_pointer_is_an_error() {
    assert_eq!(unsafe { SQLAllocHandle(ENV, null_mut(), null_mut()) }, SqlReturn::ERROR);
    let env = alloc_env();
    assert_eq!(unsafe { SQLAllocHandle(DBC, env, null_mut()) }, SqlReturn::ERROR);
    assert_eq!(diag(ENV, env).0, "HY009");
    assert_eq!(unsafe { SQLFreeHandle(ENV, env) }, SqlReturn::SUCCESS);
}

#[test]
fn freeing_a_handle_twice_gets_invalid_handle() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    free(env, dbc);
    unsafe {
        assert_eq!(SQLFreeHandle(DBC, dbc), SqlReturn::INVALID_HANDLE);
        assert_eq!(SQLFreeHandle(ENV, env), SqlReturn::INVALID_HANDLE);
        assert_eq!(SQLFreeEnv(env), SqlReturn::INVALID_HANDLE);
    }
}

#[test]
fn an_environment_with_connections_cannot_be_freed() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    assert_eq!(unsafe { SQLFreeHandle(ENV, env) }, SqlReturn::ERROR);
    assert_eq!(diag(ENV, env).0, "HY010");
    free(env, dbc);
}

#[test]
fn handles_of_the_wrong_kind_or_forged_get_invalid_handle() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    let mut value = 0u32;
    unsafe {
        assert_eq!(
            SQLGetConnectAttr(env, 102, (&mut value as *mut u32).cast(), 4, null_mut()),
            SqlReturn::INVALID_HANDLE
        );
        assert_eq!(SQLSetEnvAttr(dbc, 200, 3usize as *mut c_void, 0), SqlReturn::INVALID_HANDLE);
        assert_eq!(
            SQLGetConnectAttr(0xdead_beef as *mut c_void, 102, (&mut value as *mut u32).cast(), 4, null_mut()),
            SqlReturn::INVALID_HANDLE
        );
        assert_eq!(SQLDisconnect(null_mut()), SqlReturn::INVALID_HANDLE);
        assert_eq!(
            SQLGetDiagRec(DBC, env, 1, null_mut(), null_mut(), null_mut(), 0, null_mut()),
            SqlReturn::INVALID_HANDLE
        );
        assert_eq!(SQLFreeHandle(DBC, env), SqlReturn::INVALID_HANDLE);
    }
    free(env, dbc);
}

#[test]
fn reading_attribute_1002_on_an_unconnected_handle_is_08003_on_both_entry_points() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    let mut value = 7u32;
    unsafe {
        assert_eq!(SQLGetConnectAttr(dbc, 1002, (&mut value as *mut u32).cast(), 4, null_mut()), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "08003");
        assert_eq!(SQLGetConnectAttrW(dbc, 1002, (&mut value as *mut u32).cast(), 4, null_mut()), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "08003");
    }
    assert_eq!(value, 7, "nothing written on error");
    free(env, dbc);
}

#[test]
fn setting_attribute_1002_with_a_null_pointer_is_hy009_and_a_code_before_connect_succeeds() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    unsafe {
        assert_eq!(SQLSetConnectAttr(dbc, 1002, null_mut(), -3), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "HY009");
        assert_eq!(SQLSetConnectAttrW(dbc, 1002, null_mut(), -3), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "HY009");
        assert_eq!(SQLSetConnectAttr(dbc, 1002, b"123456\0".as_ptr() as *mut c_void, -3), SqlReturn::SUCCESS);
        let wide: Vec<u16> = "654321\0".encode_utf16().collect();
        assert_eq!(SQLSetConnectAttr(dbc, 1002, wide.as_ptr() as *mut c_void, -3), SqlReturn::SUCCESS);
        assert_eq!(SQLSetConnectAttrW(dbc, 1002, b"12a!\0".as_ptr() as *mut c_void, -3), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "HY024");
    }
    free(env, dbc);
}

/// Regression: PHP's odbc_setoption($c, 1, 1002, 123456) reaches the driver as ODBC 2
/// SQLSetConnectOption(W) with the integer itself, which the token reader used to
/// dereference (SIGSEGV in the host).
#[test]
fn attribute_1002_as_an_integer_is_the_code_and_a_wrong_address_is_hy024_not_a_crash() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    unsafe {
        assert_eq!(SQLSetConnectOption(dbc, 1002, 123456), SqlReturn::SUCCESS);
        assert_eq!(SQLSetConnectOptionW(dbc, 1002, 12345678), SqlReturn::SUCCESS);
        assert_eq!(SQLSetConnectAttr(dbc, 1002, 654321usize as *mut c_void, -6), SqlReturn::SUCCESS);
        assert_eq!(SQLSetConnectAttrW(dbc, 1002, 654321usize as *mut c_void, 0), SqlReturn::SUCCESS);
        // iODBC's mapping of an ODBC 3 application's SQLSetConnectOption(1002, integer).
        assert_eq!(SQLSetConnectAttrW(dbc, 1002, 246810usize as *mut c_void, -3), SqlReturn::SUCCESS);
        for (value, len) in [(4096usize, -3), (16, 6), (12345, -6), (usize::MAX - 3, -3), (123, 0)] {
            assert_eq!(SQLSetConnectAttrW(dbc, 1002, value as *mut c_void, len), SqlReturn::ERROR);
            assert_eq!(diag(DBC, dbc).0, "HY024", "{value} {len}");
        }
        assert_eq!(SQLSetConnectOption(dbc, 1002, 4096), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "HY024");
        // An ODBC 2 value that is a string pointer (iODBC replays a 1002 set before
        // connecting this way), in UCS-4.
        let ucs4: Vec<u32> = "246801\0".chars().map(u32::from).collect();
        assert_eq!(SQLSetConnectOptionW(dbc, 1002, ucs4.as_ptr() as usize), SqlReturn::SUCCESS);
    }
    free(env, dbc);
}

/// iODBC 3.52.14+ asks SQL_ATTR_DRIVER_UNICODE_TYPE (1065) after allocating the
/// environment; the unit-test process has seen no 4-byte string: UTF-16 (1).
#[test]
fn the_environment_tells_iodbc_the_sqlwchar_encoding_in_use() {
    let env = alloc_env();
    let mut value = 0u32;
    let rc = unsafe { SQLGetEnvAttr(env, 1065, (&mut value as *mut u32).cast(), 0, null_mut()) };
    assert_eq!((rc, value), (SqlReturn::SUCCESS, 1));
    assert_eq!(unsafe { SQLFreeHandle(ENV, env) }, SqlReturn::SUCCESS);
}

#[test]
fn unknown_connection_and_environment_attributes_are_hy092() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    let mut value = 0u32;
    unsafe {
        assert_eq!(SQLSetConnectAttr(dbc, 31337, 1usize as *mut c_void, 0), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "HY092");
        assert_eq!(SQLGetConnectAttr(dbc, 31337, (&mut value as *mut u32).cast(), 4, null_mut()), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "HY092");
        assert_eq!(SQLGetEnvAttr(env, 31337, (&mut value as *mut u32).cast(), 4, null_mut()), SqlReturn::ERROR);
        assert_eq!(diag(ENV, env).0, "HY092");
    }
    free(env, dbc);
}

#[test]
fn get_info_truncates_strings_with_01004_and_reports_the_full_byte_length() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    let mut narrow = [0u8; 5];
    let mut wide = [0u16; 5];
    let mut len = 0i16;
    unsafe {
        assert_eq!(SQLGetInfo(dbc, 17, narrow.as_mut_ptr().cast(), 5, &mut len), SqlReturn::SUCCESS_WITH_INFO);
        assert_eq!((len, &narrow), (16, b"TwoF\0"));
        assert_eq!(diag(DBC, dbc).0, "01004");
        assert_eq!(SQLGetInfoW(dbc, 17, wide.as_mut_ptr().cast(), 10, &mut len), SqlReturn::SUCCESS_WITH_INFO);
        assert_eq!(len, 32, "wide lengths are bytes");
        assert_eq!(String::from_utf16_lossy(&wide[..4]), "TwoF");
        let mut u = 0u16;
        assert_eq!(SQLGetInfoW(dbc, 23, (&mut u as *mut u16).cast(), 2, &mut len), SqlReturn::SUCCESS);
        assert_eq!((u, len), (1, 2));
        assert_eq!(SQLGetInfo(dbc, 4321, narrow.as_mut_ptr().cast(), 5, &mut len), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "HY096");
    }
    free(env, dbc);
}

#[test]
fn get_functions_fills_the_odbc3_bitmap() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    let mut map = [0u16; 250];
    unsafe {
        assert_eq!(SQLGetFunctions(dbc, 999, map.as_mut_ptr()), SqlReturn::SUCCESS);
        let bit = |id: usize| map[id >> 4] & (1 << (id & 15)) != 0;
        assert!(bit(61) && bit(1001) && bit(41) && bit(55) && !bit(24), "SQLBrowseConnect yes, SQLBulkOperations no");
        let mut one = 9u16;
        assert_eq!(SQLGetFunctions(dbc, 61, &mut one), SqlReturn::SUCCESS);
        assert_eq!(one, 1);
        assert_eq!(SQLGetFunctions(dbc, 61, null_mut()), SqlReturn::ERROR);
    }
    free(env, dbc);
}

#[test]
fn a_short_diagnostic_buffer_gets_success_with_info_and_the_full_length_without_a_new_record() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    unsafe {
        assert_eq!(SQLSetConnectAttr(dbc, 31337, null_mut(), 0), SqlReturn::ERROR);
        let mut msg = [0u8; 8];
        let mut len = 0i16;
        let ret = SQLGetDiagRec(DBC, dbc, 1, null_mut(), null_mut(), msg.as_mut_ptr(), 8, &mut len);
        assert_eq!(ret, SqlReturn::SUCCESS_WITH_INFO);
        assert!(len > 8);
        assert_eq!(SQLGetDiagRec(DBC, dbc, 2, null_mut(), null_mut(), null_mut(), 0, null_mut()), SqlReturn::NO_DATA);
        let mut n = 0i32;
        assert_eq!(SQLGetDiagField(DBC, dbc, 0, 2, (&mut n as *mut i32).cast(), 0, null_mut()), SqlReturn::SUCCESS);
        assert_eq!(n, 1);
    }
    free(env, dbc);
}

#[test]
fn sql_error_consumes_records_and_speaks_odbc2_to_odbc2_applications() {
    let env = alloc_env();
    unsafe { assert_eq!(SQLSetEnvAttr(env, 200, 2usize as *mut c_void, 0), SqlReturn::SUCCESS) };
    let dbc = alloc_dbc(env);
    let mut state = [0u8; 6];
    let mut msg = [0u8; 256];
    let mut len = 0i16;
    unsafe {
        assert_eq!(SQLSetConnectAttr(dbc, 1002, null_mut(), -3), SqlReturn::ERROR);
        let ret =
            SQLError(null_mut(), dbc, null_mut(), state.as_mut_ptr(), null_mut(), msg.as_mut_ptr(), 256, &mut len);
        assert_eq!(ret, SqlReturn::SUCCESS);
        assert_eq!(&state[..5], b"S1009", "HY009 in ODBC 2 terms");
        let ret =
            SQLError(null_mut(), dbc, null_mut(), state.as_mut_ptr(), null_mut(), msg.as_mut_ptr(), 256, &mut len);
        assert_eq!(ret, SqlReturn::NO_DATA);
    }
    free(env, dbc);
}

#[test]
fn driver_connect_refuses_a_malformed_string_and_a_missing_user_before_any_network_io() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    unsafe {
        let s = b"Server=localhost;PWD={open\0";
        assert_eq!(SQLDriverConnect(dbc, null_mut(), s.as_ptr(), NTS, null_mut(), 0, null_mut(), 0), SqlReturn::ERROR);
        let (state, msg) = diag(DBC, dbc);
        assert!(msg.contains("malformed connection string") && !msg.contains("open"), "{state} {msg}");
        let s = b"Server=localhost;PWD=x\0";
        assert_eq!(SQLDriverConnect(dbc, null_mut(), s.as_ptr(), NTS, null_mut(), 0, null_mut(), 0), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "28000");
        assert_eq!(SQLDriverConnect(dbc, null_mut(), s.as_ptr(), NTS, null_mut(), 0, null_mut(), 9), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "HY110");
    }
    free(env, dbc);
}

#[test]
fn connecting_to_a_port_nobody_listens_on_is_08001_naming_host_and_port() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    let s = format!("Server=127.0.0.1;Port={port};UID=u;PWD=p;TLSVerify=No;LoginTimeout=5\0");
    unsafe {
        assert_eq!(SQLDriverConnect(dbc, null_mut(), s.as_ptr(), NTS, null_mut(), 0, null_mut(), 0), SqlReturn::ERROR);
        let (state, msg) = diag(DBC, dbc);
        assert_eq!(state, "08001");
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        assert_eq!(SQLDisconnect(dbc), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "08003");
    }
    free(env, dbc);
}

#[test]
fn a_server_that_never_answers_the_handshake_gives_hyt00_within_the_login_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    let s = format!("Server=127.0.0.1;Port={port};UID=u;PWD=p;TLSVerify=No;LoginTimeout=1\0");
    let start = std::time::Instant::now();
    unsafe {
        assert_eq!(SQLDriverConnect(dbc, null_mut(), s.as_ptr(), NTS, null_mut(), 0, null_mut(), 0), SqlReturn::ERROR);
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(diag(DBC, dbc).0, "HYT00");
    drop(listener);
    free(env, dbc);
}

#[test]
fn native_sql_returns_the_text_unchanged_but_needs_a_connection() {
    let env = alloc_env();
    let dbc = alloc_dbc(env);
    let mut out = [0u8; 32];
    let mut len = 0i32;
    unsafe {
        assert_eq!(SQLNativeSql(dbc, b"SELECT 1\0".as_ptr(), -3, out.as_mut_ptr(), 32, &mut len), SqlReturn::ERROR);
        assert_eq!(diag(DBC, dbc).0, "08003");
    }
    free(env, dbc);
}
