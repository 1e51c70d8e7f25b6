//! The two-factor state attributes (0x4000-0x4004) through the exported functions on a
//! handle that was never connected: what a driver manager that passes the call on (not
//! unixODBC, which answers 08003 itself) gets, and the text rules of both entry points.

use std::ffi::c_void;
use std::ptr::null_mut;

use odbc_sys::SqlReturn;

use super::connection::*;
use super::diag::*;
use super::env::*;
use super::handles::*;

const ENV: i16 = 1;
const DBC: i16 = 2;
const STATE: i32 = 0x4000;
const METHOD: i32 = 0x4001;
const SECONDS_LEFT: i32 = 0x4003;
const DESCRIPTION: i32 = 0x4004;
const NOT_CONNECTED: &str = "Not connected.";

fn with_dbc(f: impl FnOnce(*mut c_void)) {
    let mut env = null_mut();
    let mut dbc = null_mut();
    unsafe {
        assert_eq!(SQLAllocHandle(ENV, null_mut(), &mut env), SqlReturn::SUCCESS);
        assert_eq!(SQLSetEnvAttr(env, 200, 3usize as *mut c_void, 0), SqlReturn::SUCCESS);
        assert_eq!(SQLAllocHandle(DBC, env, &mut dbc), SqlReturn::SUCCESS);
    }
    f(dbc);
    unsafe {
        assert_eq!(SQLFreeHandle(DBC, dbc), SqlReturn::SUCCESS);
        assert_eq!(SQLFreeHandle(ENV, env), SqlReturn::SUCCESS);
    }
}

fn state_of(dbc: *mut c_void) -> String {
    let mut state = [0u8; 6];
    let (mut native, mut len) = (0, 0i16);
    let mut msg = [0u8; 256];
    let rc = unsafe { SQLGetDiagRec(DBC, dbc, 1, state.as_mut_ptr(), &mut native, msg.as_mut_ptr(), 256, &mut len) };
    assert_eq!(rc, SqlReturn::SUCCESS, "no diagnostic record");
    String::from_utf8_lossy(&state[..5]).into_owned()
}

#[test]
fn a_never_connected_handle_reads_not_connected_and_empty_texts_through_both_entry_points() {
    with_dbc(|dbc| unsafe {
        for get in [SQLGetConnectAttr, SQLGetConnectAttrW] {
            for attr in [STATE, SECONDS_LEFT] {
                let mut value = 0xdead_beefu32;
                assert_eq!(get(dbc, attr, (&mut value as *mut u32).cast(), 4, null_mut()), SqlReturn::SUCCESS);
                assert_eq!(value, 0, "attribute {attr:#x}");
            }
        }
        let mut narrow = [0xffu8; 8];
        let mut len = -1i32;
        assert_eq!(SQLGetConnectAttr(dbc, METHOD, narrow.as_mut_ptr().cast(), 8, &mut len), SqlReturn::SUCCESS);
        assert_eq!((len, narrow[0]), (0, 0), "an empty, NUL-terminated text");
        let mut wide = [0xffffu16; 8];
        assert_eq!(SQLGetConnectAttrW(dbc, METHOD, wide.as_mut_ptr().cast(), 16, &mut len), SqlReturn::SUCCESS);
        assert_eq!((len, wide[0]), (0, 0));
    });
}

#[test]
fn the_description_is_truncated_with_01004_and_its_full_length_in_bytes() {
    with_dbc(|dbc| unsafe {
        let mut narrow = [0xffu8; 6];
        let mut len = 0i32;
        assert_eq!(
            SQLGetConnectAttr(dbc, DESCRIPTION, narrow.as_mut_ptr().cast(), 6, &mut len),
            SqlReturn::SUCCESS_WITH_INFO
        );
        assert_eq!(state_of(dbc), "01004");
        assert_eq!(len as usize, NOT_CONNECTED.len());
        assert_eq!(&narrow, b"Not c\0");

        let mut wide = [0xffffu16; 4];
        assert_eq!(
            SQLGetConnectAttrW(dbc, DESCRIPTION, wide.as_mut_ptr().cast(), 8, &mut len),
            SqlReturn::SUCCESS_WITH_INFO
        );
        assert_eq!(len as usize, NOT_CONNECTED.len() * 2, "UTF-16 length in bytes");
        assert_eq!(String::from_utf16_lossy(&wide[..3]), "Not");
        assert_eq!(wide[3], 0);

        // A NULL buffer: the length only, no warning.
        assert_eq!(SQLGetConnectAttrW(dbc, DESCRIPTION, null_mut(), 0, &mut len), SqlReturn::SUCCESS);
        assert_eq!(len as usize, NOT_CONNECTED.len() * 2);
    });
}

#[test]
fn the_state_attributes_are_read_only_hy092() {
    with_dbc(|dbc| unsafe {
        assert_eq!(SQLSetConnectAttr(dbc, STATE, 3usize as *mut c_void, 0), SqlReturn::ERROR);
        assert_eq!(state_of(dbc), "HY092");
        let text = b"x\0";
        assert_eq!(SQLSetConnectAttrW(dbc, DESCRIPTION, text.as_ptr() as *mut c_void, -3), SqlReturn::ERROR);
        assert_eq!(state_of(dbc), "HY092");
    });
}

#[test]
fn an_odbc2_application_reads_the_description_with_sqlgetconnectoption() {
    with_dbc(|dbc| unsafe {
        let mut buf = [0xffu8; 256];
        assert_eq!(SQLGetConnectOption(dbc, DESCRIPTION as u16, buf.as_mut_ptr().cast()), SqlReturn::SUCCESS);
        let end = buf.iter().position(|&b| b == 0).unwrap();
        assert_eq!(&buf[..end], NOT_CONNECTED.as_bytes());
    });
}
