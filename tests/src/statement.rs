//! A statement handle over raw ODBC calls through unixODBC, for what neither odbc-api nor
//! `raw` exposes: scrollable cursors, SQLSetPos, the rarer catalog functions and
//! SQLBrowseConnect. The functions are declared here with raw integers (odbc-sys types
//! some of these arguments as Rust enums, which must never hold a value the enum lacks).

use std::ffi::c_void;
use std::ptr::null_mut;

use odbc_sys::{Handle, HandleType};

use crate::raw::{diagnostics, Charset, Dbc, Diag};

type H = *mut c_void;

#[link(name = "odbc")]
extern "system" {
    fn SQLAllocHandle(kind: i16, input: H, output: *mut H) -> i16;
    fn SQLFreeHandle(kind: i16, handle: H) -> i16;
    fn SQLSetStmtAttr(stmt: H, attr: i32, value: H, len: i32) -> i16;
    fn SQLExecDirect(stmt: H, sql: *const u8, len: i32) -> i16;
    fn SQLPrepare(stmt: H, sql: *const u8, len: i32) -> i16;
    fn SQLExecute(stmt: H) -> i16;
    fn SQLBindParameter(
        stmt: H,
        n: u16,
        io: i16,
        ctype: i16,
        sqltype: i16,
        size: usize,
        digits: i16,
        buf: H,
        len: isize,
        ind: *mut isize,
    ) -> i16;
    fn SQLFetch(stmt: H) -> i16;
    fn SQLFetchScroll(stmt: H, orientation: i16, offset: isize) -> i16;
    fn SQLSetPos(stmt: H, row: usize, operation: u16, lock: u16) -> i16;
    fn SQLExtendedFetch(stmt: H, orientation: i16, offset: isize, rows: *mut usize, statuses: *mut u16) -> i16;
    fn SQLBindCol(stmt: H, column: u16, ctype: i16, buf: H, len: isize, ind: *mut isize) -> i16;
    fn SQLGetData(stmt: H, column: u16, ctype: i16, buf: H, len: isize, ind: *mut isize) -> i16;
    fn SQLRowCount(stmt: H, count: *mut isize) -> i16;
    fn SQLNumResultCols(stmt: H, count: *mut i16) -> i16;
    fn SQLDescribeCol(
        stmt: H,
        column: u16,
        name: *mut u8,
        buf_len: i16,
        name_len: *mut i16,
        data_type: *mut i16,
        size: *mut usize,
        digits: *mut i16,
        nullable: *mut i16,
    ) -> i16;
    fn SQLCloseCursor(stmt: H) -> i16;
    fn SQLGetInfo(dbc: H, info: u16, value: H, len: i16, out_len: *mut i16) -> i16;
    fn SQLGetFunctions(dbc: H, function: u16, supported: *mut u16) -> i16;
    fn SQLSetConnectAttr(dbc: H, attr: i32, value: H, len: i32) -> i16;
    fn SQLBrowseConnect(dbc: H, input: *const u8, in_len: i16, out: *mut u8, out_max: i16, out_len: *mut i16) -> i16;
    fn SQLBrowseConnectW(dbc: H, input: *const u16, in_len: i16, out: *mut u16, out_max: i16, out_len: *mut i16)
        -> i16;
    fn SQLProcedures(stmt: H, c: *const u8, cl: i16, s: *const u8, sl: i16, p: *const u8, pl: i16) -> i16;
    fn SQLProceduresW(stmt: H, c: *const u16, cl: i16, s: *const u16, sl: i16, p: *const u16, pl: i16) -> i16;
    fn SQLProcedureColumns(
        stmt: H,
        c: *const u8,
        cl: i16,
        s: *const u8,
        sl: i16,
        p: *const u8,
        pl: i16,
        col: *const u8,
        coll: i16,
    ) -> i16;
    fn SQLTablePrivileges(stmt: H, c: *const u8, cl: i16, s: *const u8, sl: i16, t: *const u8, tl: i16) -> i16;
    fn SQLTablePrivilegesW(stmt: H, c: *const u16, cl: i16, s: *const u16, sl: i16, t: *const u16, tl: i16) -> i16;
    fn SQLColumnPrivileges(
        stmt: H,
        c: *const u8,
        cl: i16,
        s: *const u8,
        sl: i16,
        t: *const u8,
        tl: i16,
        col: *const u8,
        coll: i16,
    ) -> i16;
    fn SQLColumnPrivilegesW(
        stmt: H,
        c: *const u16,
        cl: i16,
        s: *const u16,
        sl: i16,
        t: *const u16,
        tl: i16,
        col: *const u16,
        coll: i16,
    ) -> i16;
}

/// A catalog function the tests call, with its name or pattern arguments (None: NULL).
#[derive(Debug, Clone, Copy)]
pub enum Catalog<'a> {
    Procedures(Option<&'a str>),
    ProcedureColumns(Option<&'a str>, Option<&'a str>),
    TablePrivileges(Option<&'a str>),
    ColumnPrivileges(&'a str, Option<&'a str>),
}

pub const SQL_SUCCESS: i16 = 0;
pub const SQL_SUCCESS_WITH_INFO: i16 = 1;
pub const SQL_NO_DATA: i16 = 100;
pub const SQL_NEED_DATA: i16 = 99;
pub const SQL_ERROR: i16 = -1;
const SQL_NTS: i32 = -3;

/// A failed call: its return code and the statement's diagnostics.
#[derive(Debug)]
pub struct CallError {
    pub rc: i16,
    pub records: Vec<Diag>,
}

impl CallError {
    pub fn state(&self) -> &str {
        self.records.first().map_or("", |d| d.state.as_str())
    }
}

/// A statement on a connected `Dbc`, freed on drop.
pub struct Statement<'c> {
    pub h: H,
    _dbc: std::marker::PhantomData<&'c ()>,
}

impl<'c> Statement<'c> {
    pub fn new(dbc: &'c Dbc<'_>) -> Statement<'c> {
        let mut h = null_mut();
        let rc = unsafe { SQLAllocHandle(3, dbc.handle().0 as H, &mut h) };
        assert_eq!(rc, SQL_SUCCESS, "SQLAllocHandle(STMT)");
        Statement { h, _dbc: std::marker::PhantomData }
    }

    pub fn diagnostics(&self) -> Vec<Diag> {
        diagnostics(HandleType::Stmt, Handle(self.h as _), Charset::Narrow)
    }

    /// SQL_SUCCESS, SQL_SUCCESS_WITH_INFO, SQL_NO_DATA and SQL_NEED_DATA pass; anything
    /// else is a `CallError` with the diagnostics.
    pub fn check(&self, rc: i16) -> Result<i16, CallError> {
        match rc {
            SQL_SUCCESS | SQL_SUCCESS_WITH_INFO | SQL_NO_DATA | SQL_NEED_DATA => Ok(rc),
            _ => Err(CallError { rc, records: self.diagnostics() }),
        }
    }

    pub fn set_attr(&self, attr: i32, value: usize) -> Result<i16, CallError> {
        self.check(unsafe { SQLSetStmtAttr(self.h, attr, value as H, 0) })
    }

    pub fn exec(&self, sql: &str) -> Result<i16, CallError> {
        let sql = format!("{sql}\0");
        self.check(unsafe { SQLExecDirect(self.h, sql.as_ptr(), SQL_NTS) })
    }

    /// Prepares `sql`, binds one text parameter and executes.
    pub fn exec_with_text(&self, sql: &str, param: &str) -> Result<i16, CallError> {
        let sql = format!("{sql}\0");
        self.check(unsafe { SQLPrepare(self.h, sql.as_ptr(), SQL_NTS) })?;
        let mut ind = param.len() as isize;
        let buf = param.as_ptr() as H;
        self.check(unsafe { SQLBindParameter(self.h, 1, 1, 1, 12, param.len().max(1), 0, buf, ind, &mut ind) })?;
        self.check(unsafe { SQLExecute(self.h) })
    }

    pub fn fetch(&self) -> Result<i16, CallError> {
        self.check(unsafe { SQLFetch(self.h) })
    }

    pub fn fetch_scroll(&self, orientation: i16, offset: isize) -> Result<i16, CallError> {
        self.check(unsafe { SQLFetchScroll(self.h, orientation, offset) })
    }

    pub fn set_pos(&self, row: usize, operation: u16, lock: u16) -> Result<i16, CallError> {
        self.check(unsafe { SQLSetPos(self.h, row, operation, lock) })
    }

    /// Binds column `column` as SQL_C_SBIGINT into `values` (one per rowset row).
    ///
    /// # Safety
    /// `values` must outlive every fetch of this statement.
    pub unsafe fn bind_i64(&self, column: u16, values: &mut [i64], ind: &mut [isize]) -> Result<i16, CallError> {
        assert!(ind.len() >= values.len());
        self.check(SQLBindCol(self.h, column, -25, values.as_mut_ptr() as H, 8, ind.as_mut_ptr()))
    }

    /// SQLGetData as SQL_C_BINARY of the whole value (None for NULL), in 7-byte pieces so
    /// the piecewise path is exercised too.
    pub fn get_bytes(&self, column: u16) -> Result<Option<Vec<u8>>, CallError> {
        let mut out = Vec::new();
        loop {
            let mut buf = [0u8; 7];
            let mut ind = 0isize;
            let rc = self.check(unsafe { SQLGetData(self.h, column, -2, buf.as_mut_ptr() as H, 7, &mut ind) })?;
            if rc == SQL_NO_DATA {
                return Ok(Some(out));
            }
            if ind == -1 {
                return Ok(None);
            }
            let n = if (0..=7).contains(&ind) { ind as usize } else { 7 };
            out.extend_from_slice(&buf[..n]);
            if rc == SQL_SUCCESS {
                return Ok(Some(out));
            }
        }
    }

    /// SQLGetData as SQL_C_CHAR (None for NULL).
    pub fn get_text(&self, column: u16) -> Result<Option<String>, CallError> {
        let mut buf = vec![0u8; 1024];
        let mut ind = 0isize;
        self.check(unsafe { SQLGetData(self.h, column, 1, buf.as_mut_ptr() as H, 1024, &mut ind) })?;
        if ind == -1 {
            return Ok(None);
        }
        Ok(Some(String::from_utf8(buf[..ind as usize].to_vec()).expect("UTF-8")))
    }

    pub fn get_i64(&self, column: u16) -> Result<Option<i64>, CallError> {
        let mut v = 0i64;
        let mut ind = 0isize;
        self.check(unsafe { SQLGetData(self.h, column, -25, &mut v as *mut i64 as H, 8, &mut ind) })?;
        Ok((ind != -1).then_some(v))
    }

    pub fn row_count(&self) -> Result<isize, CallError> {
        let mut n = 0isize;
        self.check(unsafe { SQLRowCount(self.h, &mut n) })?;
        Ok(n)
    }

    /// (name, SQL type, nullable) of every result column.
    pub fn columns(&self) -> Result<Vec<(String, i16, i16)>, CallError> {
        let mut n = 0i16;
        self.check(unsafe { SQLNumResultCols(self.h, &mut n) })?;
        let mut out = Vec::new();
        for c in 1..=n as u16 {
            let mut name = [0u8; 256];
            let (mut len, mut ty, mut digits, mut nullable, mut size) = (0i16, 0i16, 0i16, 0i16, 0usize);
            self.check(unsafe {
                SQLDescribeCol(
                    self.h,
                    c,
                    name.as_mut_ptr(),
                    256,
                    &mut len,
                    &mut ty,
                    &mut size,
                    &mut digits,
                    &mut nullable,
                )
            })?;
            out.push((String::from_utf8_lossy(&name[..len as usize]).into_owned(), ty, nullable));
        }
        Ok(out)
    }

    /// Runs a catalog function through the narrow or the wide entry point.
    pub fn catalog(&self, function: Catalog<'_>, cs: Charset) -> Result<i16, CallError> {
        let narrow = |s: Option<&str>| s.map(|v| v.as_bytes().to_vec());
        let wide = |s: Option<&str>| s.map(|v| v.encode_utf16().collect::<Vec<u16>>());
        // (pointer, length) of an argument; NULL with length 0 for None.
        fn arg<T>(v: &Option<Vec<T>>) -> (*const T, i16) {
            v.as_ref().map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len() as i16))
        }
        let (a, b) = match function {
            Catalog::Procedures(p) => (p, None),
            Catalog::ProcedureColumns(p, c) => (p, c),
            Catalog::TablePrivileges(t) => (t, None),
            Catalog::ColumnPrivileges(t, c) => (Some(t), c),
        };
        let rc = unsafe {
            match cs {
                Charset::Narrow => {
                    let (x, y) = (narrow(a), narrow(b));
                    let ((xp, xl), (yp, yl), n) = (arg(&x), arg(&y), std::ptr::null());
                    match function {
                        Catalog::Procedures(_) => SQLProcedures(self.h, n, 0, n, 0, xp, xl),
                        Catalog::ProcedureColumns(..) => SQLProcedureColumns(self.h, n, 0, n, 0, xp, xl, yp, yl),
                        Catalog::TablePrivileges(_) => SQLTablePrivileges(self.h, n, 0, n, 0, xp, xl),
                        Catalog::ColumnPrivileges(..) => SQLColumnPrivileges(self.h, n, 0, n, 0, xp, xl, yp, yl),
                    }
                }
                Charset::Wide => {
                    let (x, y) = (wide(a), wide(b));
                    let ((xp, xl), (yp, yl), n) = (arg(&x), arg(&y), std::ptr::null());
                    match function {
                        Catalog::Procedures(_) => SQLProceduresW(self.h, n, 0, n, 0, xp, xl),
                        Catalog::TablePrivileges(_) => SQLTablePrivilegesW(self.h, n, 0, n, 0, xp, xl),
                        Catalog::ColumnPrivileges(..) => SQLColumnPrivilegesW(self.h, n, 0, n, 0, xp, xl, yp, yl),
                        Catalog::ProcedureColumns(..) => panic!("the tests call SQLProcedureColumns narrow only"),
                    }
                }
            }
        };
        self.check(rc)
    }

    /// Every row as text (SQL_C_CHAR, None for NULL), after a query or catalog call; then
    /// closes the cursor.
    pub fn all_text_rows(&self) -> Result<Vec<Vec<Option<String>>>, CallError> {
        let n = self.columns()?.len() as u16;
        let mut rows = Vec::new();
        while self.fetch()? != SQL_NO_DATA {
            rows.push((1..=n).map(|c| self.get_text(c)).collect::<Result<Vec<_>, _>>()?);
        }
        self.close_cursor()?;
        Ok(rows)
    }

    pub fn close_cursor(&self) -> Result<i16, CallError> {
        self.check(unsafe { SQLCloseCursor(self.h) })
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        unsafe {
            SQLFreeHandle(3, self.h);
        }
    }
}

/// SQLExtendedFetch (ODBC 2): the rows fetched and their statuses.
pub fn extended_fetch(
    stmt: &Statement<'_>,
    orientation: i16,
    offset: isize,
    statuses: &mut [u16],
) -> Result<usize, CallError> {
    let mut rows = 0usize;
    stmt.check(unsafe { SQLExtendedFetch(stmt.h, orientation, offset, &mut rows, statuses.as_mut_ptr()) })?;
    Ok(rows)
}

/// SQLSetConnectAttr of an integer attribute (before or after connecting).
pub fn set_connect_attr(dbc: &Dbc<'_>, attr: i32, value: usize) {
    let rc = unsafe { SQLSetConnectAttr(dbc.handle().0 as H, attr, value as H, 0) };
    assert!(rc == SQL_SUCCESS || rc == SQL_SUCCESS_WITH_INFO, "SQLSetConnectAttr({attr}): {rc}");
}

/// One SQLBrowseConnect call: its return code, the browse result or the connection
/// string, and the diagnostics on failure.
pub fn browse_connect(dbc: &Dbc<'_>, input: &str, cs: Charset) -> (i16, String, Vec<Diag>) {
    let mut len = 0i16;
    let h = dbc.handle().0 as H;
    let (rc, out) = unsafe {
        match cs {
            Charset::Narrow => {
                let mut out = vec![0u8; 2048];
                let rc = SQLBrowseConnect(h, input.as_ptr(), input.len() as i16, out.as_mut_ptr(), 2048, &mut len);
                (rc, String::from_utf8_lossy(&out[..(len.max(0) as usize).min(2047)]).into_owned())
            }
            Charset::Wide => {
                let input: Vec<u16> = input.encode_utf16().collect();
                let mut out = vec![0u16; 2048];
                let rc = SQLBrowseConnectW(h, input.as_ptr(), input.len() as i16, out.as_mut_ptr(), 2048, &mut len);
                (rc, String::from_utf16_lossy(&out[..(len.max(0) as usize).min(2047)]))
            }
        }
    };
    let diag = if rc == SQL_ERROR { diagnostics(HandleType::Dbc, Handle(h as _), cs) } else { Vec::new() };
    (rc, out, diag)
}

/// SQLGetInfo of a 32-bit value.
pub fn info_u32(dbc: &Dbc<'_>, info: u16) -> u32 {
    let mut v = 0u32;
    let rc = unsafe { SQLGetInfo(dbc.handle().0 as H, info, &mut v as *mut u32 as H, 4, null_mut()) };
    assert_eq!(rc, SQL_SUCCESS, "SQLGetInfo({info})");
    v
}

/// SQLGetFunctions for one function id, as the driver manager answers it.
pub fn has_function(dbc: &Dbc<'_>, id: u16) -> bool {
    let mut v = 0u16;
    let rc = unsafe { SQLGetFunctions(dbc.handle().0 as H, id, &mut v) };
    assert_eq!(rc, SQL_SUCCESS, "SQLGetFunctions({id})");
    v == 1
}
