//! Raw ODBC calls that take plain integers, for the hardening tests: they hand the driver
//! (through the driver manager) the values an application may pass by mistake (a pointer
//! as a count, a size of 2^40), which odbc-sys's typed signatures cannot express. Every
//! call returns its return code and the first SQLSTATE, so a test can assert both.

use std::ffi::c_void;
use std::ptr::null_mut;

use odbc_sys::{Handle, HandleType};

use crate::raw::{diagnostics, Charset, Dbc};

#[link(name = "odbc")]
extern "system" {
    #[link_name = "SQLAllocHandle"]
    fn alloc_handle(kind: i16, input: *mut c_void, output: *mut *mut c_void) -> i16;
    #[link_name = "SQLFreeHandle"]
    fn free_handle(kind: i16, handle: *mut c_void) -> i16;
    #[link_name = "SQLSetDescField"]
    fn set_desc_field(desc: *mut c_void, record: i16, field: i16, value: *mut c_void, len: i32) -> i16;
    #[link_name = "SQLGetDescField"]
    fn get_desc_field(desc: *mut c_void, record: i16, field: i16, value: *mut c_void, len: i32, out: *mut i32) -> i16;
    #[link_name = "SQLSetStmtAttr"]
    fn set_stmt_attr(stmt: *mut c_void, attr: i32, value: *mut c_void, len: i32) -> i16;
    #[link_name = "SQLGetStmtAttr"]
    fn get_stmt_attr(stmt: *mut c_void, attr: i32, value: *mut c_void, len: i32, out: *mut i32) -> i16;
    #[link_name = "SQLBindCol"]
    fn bind_col(stmt: *mut c_void, column: u16, ctype: i16, value: *mut c_void, len: isize, ind: *mut isize) -> i16;
    #[link_name = "SQLBindParameter"]
    fn bind_parameter(
        stmt: *mut c_void,
        number: u16,
        io: i16,
        ctype: i16,
        sql_type: i16,
        size: usize,
        digits: i16,
        value: *mut c_void,
        len: isize,
        ind: *mut isize,
    ) -> i16;
    #[link_name = "SQLExecDirect"]
    fn exec_direct(stmt: *mut c_void, sql: *const u8, len: i32) -> i16;
    #[link_name = "SQLPrepare"]
    fn prepare(stmt: *mut c_void, sql: *const u8, len: i32) -> i16;
    #[link_name = "SQLExecute"]
    fn execute(stmt: *mut c_void) -> i16;
    #[link_name = "SQLParamData"]
    fn param_data(stmt: *mut c_void, token: *mut *mut c_void) -> i16;
    #[link_name = "SQLPutData"]
    fn put_data(stmt: *mut c_void, data: *mut c_void, len: isize) -> i16;
}

pub const SQL_HANDLE_STMT: i16 = 3;
pub const SQL_HANDLE_DESC: i16 = 4;
pub const SQL_ERROR: i16 = -1;
pub const SQL_NEED_DATA: i16 = 99;
pub const SQL_DESC_COUNT: i16 = 1001;
pub const SQL_DESC_ARRAY_SIZE: i16 = 20;
pub const SQL_ATTR_ROW_ARRAY_SIZE: i32 = 27;
pub const SQL_ATTR_PARAMSET_SIZE: i32 = 22;
pub const SQL_ROWSET_SIZE: i32 = 9;
pub const SQL_ATTR_APP_ROW_DESC: i32 = 10010;
pub const SQL_ATTR_APP_PARAM_DESC: i32 = 10011;
pub const SQL_ATTR_IMP_PARAM_DESC: i32 = 10013;

/// A return code and the first SQLSTATE of the handle ("" when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub rc: i16,
    pub state: String,
    pub message: String,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        self.rc == 0 || self.rc == 1
    }
}

fn outcome(rc: i16, kind: HandleType, handle: *mut c_void) -> Outcome {
    let first = if rc == 0 { None } else { diagnostics(kind, Handle(handle), Charset::Narrow).into_iter().next() };
    let (state, message) = first.map(|d| (d.state, d.message)).unwrap_or_default();
    Outcome { rc, state, message }
}

/// A statement handle on a connected `Dbc`, freed when dropped.
pub struct RawStmt<'d> {
    h: *mut c_void,
    _dbc: std::marker::PhantomData<&'d ()>,
}

impl<'d> RawStmt<'d> {
    pub fn new(dbc: &'d Dbc<'_>) -> RawStmt<'d> {
        let mut h = null_mut();
        let rc = unsafe { alloc_handle(SQL_HANDLE_STMT, dbc.handle().0, &mut h) };
        assert_eq!(rc, 0, "SQLAllocHandle(STMT)");
        RawStmt { h, _dbc: std::marker::PhantomData }
    }

    fn outcome(&self, rc: i16) -> Outcome {
        outcome(rc, HandleType::Stmt, self.h)
    }

    /// SQLSetStmtAttr with an integer value.
    pub fn set_attr(&self, attr: i32, value: usize) -> Outcome {
        self.outcome(unsafe { set_stmt_attr(self.h, attr, value as *mut c_void, 0) })
    }

    pub fn attr(&self, attr: i32) -> usize {
        let mut value = 0usize;
        let rc = unsafe { get_stmt_attr(self.h, attr, &mut value as *mut usize as *mut c_void, 0, null_mut()) };
        assert_eq!(rc, 0, "SQLGetStmtAttr({attr})");
        value
    }

    /// SQLBindCol of a 4-byte integer buffer that outlives the statement (a leak the
    /// size of an int, so the test needs no lifetimes).
    pub fn bind_col(&self, column: u16) -> Outcome {
        let buffer: &'static mut i32 = Box::leak(Box::new(0));
        self.outcome(unsafe { bind_col(self.h, column, 4, buffer as *mut i32 as *mut c_void, 4, null_mut()) })
    }

    /// SQLBindParameter of an integer input parameter.
    pub fn bind_int_param(&self, number: u16) -> Outcome {
        let value: &'static mut i32 = Box::leak(Box::new(7));
        self.outcome(unsafe {
            bind_parameter(self.h, number, 1, 4, 4, 0, 0, value as *mut i32 as *mut c_void, 0, null_mut())
        })
    }

    /// SQLBindParameter of a VARCHAR sent with SQLPutData (SQL_LEN_DATA_AT_EXEC(0)).
    pub fn bind_data_at_exec_param(&self, number: u16) -> Outcome {
        let indicator: &'static mut isize = Box::leak(Box::new(-100));
        self.outcome(unsafe {
            bind_parameter(self.h, number, 1, 1, 12, 0, 0, number as usize as *mut c_void, 0, indicator)
        })
    }

    pub fn exec_direct(&self, sql: &str) -> Outcome {
        self.outcome(unsafe { exec_direct(self.h, sql.as_ptr(), sql.len() as i32) })
    }

    pub fn prepare(&self, sql: &str) -> Outcome {
        self.outcome(unsafe { prepare(self.h, sql.as_ptr(), sql.len() as i32) })
    }

    pub fn execute(&self) -> Outcome {
        self.outcome(unsafe { execute(self.h) })
    }

    pub fn param_data(&self) -> Outcome {
        let mut token = null_mut();
        self.outcome(unsafe { param_data(self.h, &mut token) })
    }

    pub fn put_data(&self, data: &[u8]) -> Outcome {
        self.outcome(unsafe { put_data(self.h, data.as_ptr() as *mut c_void, data.len() as isize) })
    }

    /// The descriptor handle of SQL_ATTR_APP_ROW_DESC and the like.
    pub fn descriptor(&self, attr: i32) -> RawDesc {
        RawDesc { h: self.attr(attr) as *mut c_void, explicit: false }
    }
}

impl Drop for RawStmt<'_> {
    fn drop(&mut self) {
        unsafe {
            free_handle(SQL_HANDLE_STMT, self.h);
        }
    }
}

/// A descriptor: one of a statement's implicit ones, or an explicit one (freed on drop).
pub struct RawDesc {
    h: *mut c_void,
    explicit: bool,
}

impl RawDesc {
    pub fn explicit(dbc: &Dbc<'_>) -> RawDesc {
        let mut h = null_mut();
        let rc = unsafe { alloc_handle(SQL_HANDLE_DESC, dbc.handle().0, &mut h) };
        assert_eq!(rc, 0, "SQLAllocHandle(DESC)");
        RawDesc { h, explicit: true }
    }

    pub fn handle(&self) -> usize {
        self.h as usize
    }

    /// SQLSetDescField with an integer (or pointer-sized) value.
    pub fn set_field(&self, record: i16, field: i16, value: usize) -> Outcome {
        let rc = unsafe { set_desc_field(self.h, record, field, value as *mut c_void, 0) };
        outcome(rc, HandleType::Desc, self.h)
    }

    /// SQL_DESC_COUNT as the SQLSMALLINT ODBC defines it.
    pub fn count(&self) -> i16 {
        let mut value = 0i16;
        let rc =
            unsafe { get_desc_field(self.h, 0, SQL_DESC_COUNT, &mut value as *mut i16 as *mut c_void, 2, null_mut()) };
        assert_eq!(rc, 0, "SQLGetDescField(SQL_DESC_COUNT)");
        value
    }
}

impl Drop for RawDesc {
    fn drop(&mut self) {
        if self.explicit {
            unsafe {
                free_handle(SQL_HANDLE_DESC, self.h);
            }
        }
    }
}
