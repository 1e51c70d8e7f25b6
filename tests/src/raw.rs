//! A small client over raw odbc-sys calls through unixODBC, narrow (`SQL...`) or wide
//! (`SQL...W`) as chosen per connection. odbc-api (built `wide`) covers the data paths;
//! this covers what odbc-api does not expose: attribute 1002 before and after connect
//! through either entry point, and the narrow API.

use std::ffi::c_void;
use std::fmt;
use std::ptr::null_mut;

use odbc_sys::{
    AttrOdbcVersion, CDataType, ConnectionAttribute, DriverConnectOption, EnvironmentAttribute, HDbc, HEnv, HStmt,
    Handle, HandleType, Pointer, SqlReturn,
};

// odbc-sys declares only the narrow SQLGetTypeInfo.
#[link(name = "odbc")]
extern "system" {
    fn SQLGetTypeInfoW(statement_handle: HStmt, data_type: i16) -> SqlReturn;
}

/// The two-factor connection attribute (SQL_ATTR_TWO_FACTOR in twofactor_odbc.h).
pub const SQL_ATTR_TWO_FACTOR: i32 = 1002;
const SQL_NTS: i32 = -3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// The ANSI entry points (UTF-8 strings), as isql calls them.
    Narrow,
    /// The wide entry points (UTF-16 strings), as iusql and pyodbc call them.
    Wide,
}

/// One diagnostic record.
#[derive(Debug, Clone)]
pub struct Diag {
    pub state: String,
    pub native: i32,
    pub message: String,
}

/// A call that did not return SQL_SUCCESS(_WITH_INFO): its return code and diagnostics.
#[derive(Debug, Clone)]
pub struct Failure {
    pub function: &'static str,
    pub rc: i16,
    pub records: Vec<Diag>,
}

impl Failure {
    /// The SQLSTATE of the first record ("" when there is none).
    pub fn state(&self) -> &str {
        self.records.first().map(|d| d.state.as_str()).unwrap_or("")
    }
    pub fn native(&self) -> i32 {
        self.records.first().map(|d| d.native).unwrap_or(0)
    }
    pub fn message(&self) -> &str {
        self.records.first().map(|d| d.message.as_str()).unwrap_or("")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} returned {}", self.function, self.rc)?;
        for d in &self.records {
            write!(f, "; [{}] native {}: {}", d.state, d.native, d.message)?;
        }
        Ok(())
    }
}

pub type RawResult<T> = Result<T, Failure>;

/// Successful completion: the diagnostics of SQL_SUCCESS_WITH_INFO (empty on SQL_SUCCESS).
pub type Warnings = Vec<Diag>;

fn utf16z(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

fn utf8z(s: &str) -> Vec<u8> {
    s.bytes().chain(std::iter::once(0)).collect()
}

/// Every diagnostic record of a handle, read through the chosen entry point.
pub fn diagnostics(kind: HandleType, handle: Handle, cs: Charset) -> Vec<Diag> {
    let mut out = Vec::new();
    for rec in 1..=20i16 {
        let mut native = 0i32;
        let mut len = 0i16;
        let rc = unsafe {
            match cs {
                Charset::Narrow => {
                    let mut state = [0u8; 6];
                    let mut msg = vec![0u8; 2048];
                    let rc = odbc_sys::SQLGetDiagRec(
                        kind,
                        handle,
                        rec,
                        state.as_mut_ptr(),
                        &mut native,
                        msg.as_mut_ptr(),
                        msg.len() as i16,
                        &mut len,
                    );
                    if rc == SqlReturn::SUCCESS || rc == SqlReturn::SUCCESS_WITH_INFO {
                        let n = (len.max(0) as usize).min(msg.len() - 1);
                        out.push(Diag {
                            state: String::from_utf8_lossy(&state[..5]).into_owned(),
                            native,
                            message: String::from_utf8_lossy(&msg[..n]).into_owned(),
                        });
                    }
                    rc
                }
                Charset::Wide => {
                    let mut state = [0u16; 6];
                    let mut msg = vec![0u16; 2048];
                    let rc = odbc_sys::SQLGetDiagRecW(
                        kind,
                        handle,
                        rec,
                        state.as_mut_ptr(),
                        &mut native,
                        msg.as_mut_ptr(),
                        msg.len() as i16,
                        &mut len,
                    );
                    if rc == SqlReturn::SUCCESS || rc == SqlReturn::SUCCESS_WITH_INFO {
                        let n = (len.max(0) as usize).min(msg.len() - 1);
                        out.push(Diag {
                            state: String::from_utf16_lossy(&state[..5]),
                            native,
                            message: String::from_utf16_lossy(&msg[..n]),
                        });
                    }
                    rc
                }
            }
        };
        if rc != SqlReturn::SUCCESS && rc != SqlReturn::SUCCESS_WITH_INFO {
            break;
        }
    }
    out
}

pub(crate) fn check(
    function: &'static str,
    rc: SqlReturn,
    kind: HandleType,
    handle: Handle,
    cs: Charset,
) -> RawResult<Warnings> {
    if rc == SqlReturn::SUCCESS {
        Ok(Vec::new())
    } else if rc == SqlReturn::SUCCESS_WITH_INFO {
        Ok(diagnostics(kind, handle, cs))
    } else {
        let records = if rc == SqlReturn::INVALID_HANDLE { Vec::new() } else { diagnostics(kind, handle, cs) };
        Err(Failure { function, rc: rc.0, records })
    }
}

/// An ODBC 3.80 environment.
pub struct Env {
    h: HEnv,
}

unsafe impl Send for Env {}
unsafe impl Sync for Env {}

impl Env {
    pub fn new() -> Env {
        Self::with_version(AttrOdbcVersion::Odbc3_80 as i32)
    }

    /// An environment of an ODBC 2 application (as isql and iusql are): unixODBC then
    /// talks to the driver through the ODBC 2 functions where it has a choice.
    pub fn odbc2() -> Env {
        Self::with_version(2)
    }

    fn with_version(version: i32) -> Env {
        crate::isolate_odbc_config();
        let mut h = Handle::null();
        let rc = unsafe { odbc_sys::SQLAllocHandle(HandleType::Env, Handle::null(), &mut h) };
        assert_eq!(rc, SqlReturn::SUCCESS, "SQLAllocHandle(ENV)");
        let rc = unsafe {
            odbc_sys::SQLSetEnvAttr(HEnv(h.0), EnvironmentAttribute::OdbcVersion, version as isize as Pointer, 0)
        };
        assert_eq!(rc, SqlReturn::SUCCESS, "SQLSetEnvAttr(ODBC_VERSION)");
        Env { h: HEnv(h.0) }
    }

    /// A connection handle, not yet connected, using `cs` entry points.
    pub fn dbc(&self, cs: Charset) -> Dbc<'_> {
        let mut h = Handle::null();
        let rc = unsafe { odbc_sys::SQLAllocHandle(HandleType::Dbc, self.h.as_handle(), &mut h) };
        assert_eq!(rc, SqlReturn::SUCCESS, "SQLAllocHandle(DBC)");
        Dbc { _env: self, h: HDbc(h.0), cs, connected: false }
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        unsafe {
            let _ = odbc_sys::SQLFreeHandle(HandleType::Env, self.h.as_handle());
        }
    }
}

pub struct Dbc<'e> {
    _env: &'e Env,
    h: HDbc,
    pub cs: Charset,
    connected: bool,
}

impl Dbc<'_> {
    fn check(&self, function: &'static str, rc: SqlReturn) -> RawResult<Warnings> {
        check(function, rc, HandleType::Dbc, self.h.as_handle(), self.cs)
    }

    pub fn handle(&self) -> HDbc {
        self.h
    }

    /// The result of a call on this handle, with its diagnostics (raw_attr.rs).
    pub(crate) fn check_rc(&self, function: &'static str, rc: SqlReturn) -> RawResult<Warnings> {
        self.check(function, rc)
    }

    /// SQLDriverConnect(W) with SQL_DRIVER_NOPROMPT.
    pub fn driver_connect(&mut self, conn_str: &str) -> RawResult<Warnings> {
        let rc = unsafe {
            match self.cs {
                Charset::Narrow => {
                    let s = utf8z(conn_str);
                    let mut out = vec![0u8; 4096];
                    let mut len = 0i16;
                    odbc_sys::SQLDriverConnect(
                        self.h,
                        null_mut(),
                        s.as_ptr(),
                        SQL_NTS as i16,
                        out.as_mut_ptr(),
                        out.len() as i16,
                        &mut len,
                        DriverConnectOption::NoPrompt,
                    )
                }
                Charset::Wide => {
                    let s = utf16z(conn_str);
                    let mut out = vec![0u16; 4096];
                    let mut len = 0i16;
                    odbc_sys::SQLDriverConnectW(
                        self.h,
                        null_mut(),
                        s.as_ptr(),
                        SQL_NTS as i16,
                        out.as_mut_ptr(),
                        out.len() as i16,
                        &mut len,
                        DriverConnectOption::NoPrompt,
                    )
                }
            }
        };
        let result = self.check("SQLDriverConnect", rc);
        if result.is_ok() {
            self.connected = true;
        }
        result
    }

    /// SQLGetConnectAttr(W)(1002) into a 32-bit unsigned integer.
    pub fn two_factor_pending(&self) -> RawResult<u32> {
        let mut value: u32 = 0xdead_beef;
        let mut len = 0i32;
        let ptr = &mut value as *mut u32 as Pointer;
        let attr = ConnectionAttribute(SQL_ATTR_TWO_FACTOR);
        let rc = unsafe {
            match self.cs {
                Charset::Narrow => odbc_sys::SQLGetConnectAttr(self.h, attr, ptr, 4, &mut len),
                Charset::Wide => odbc_sys::SQLGetConnectAttrW(self.h, attr, ptr, 4, &mut len),
            }
        };
        self.check("SQLGetConnectAttr(1002)", rc)?;
        Ok(value)
    }

    /// SQLSetConnectAttr(W)(1002, code, SQL_NTS) with the code in this connection's charset.
    pub fn submit_code(&self, code: &str) -> RawResult<Warnings> {
        match self.cs {
            Charset::Narrow => self.submit_code_bytes(Charset::Narrow, &utf8z(code), SQL_NTS),
            Charset::Wide => {
                let wide = utf16z(code);
                let bytes: Vec<u8> = wide.iter().flat_map(|u| u.to_ne_bytes()).collect();
                self.submit_code_bytes(Charset::Wide, &bytes, SQL_NTS)
            }
        }
    }

    /// SQLSetConnectAttr(1002) through `entry` with the token bytes as given: lets a test
    /// hand a narrow token to the wide entry point (as unixODBC does for ANSI apps).
    pub fn submit_code_bytes(&self, entry: Charset, token: &[u8], len: i32) -> RawResult<Warnings> {
        let attr = ConnectionAttribute(SQL_ATTR_TWO_FACTOR);
        let ptr = token.as_ptr() as *mut c_void;
        let rc = unsafe {
            match entry {
                Charset::Narrow => odbc_sys::SQLSetConnectAttr(self.h, attr, ptr, len),
                Charset::Wide => odbc_sys::SQLSetConnectAttrW(self.h, attr, ptr, len),
            }
        };
        self.check("SQLSetConnectAttr(1002)", rc)
    }

    /// SQLSetConnectAttr(1002) with a NULL token pointer.
    pub fn submit_null_code(&self) -> RawResult<Warnings> {
        let attr = ConnectionAttribute(SQL_ATTR_TWO_FACTOR);
        let rc = unsafe {
            match self.cs {
                Charset::Narrow => odbc_sys::SQLSetConnectAttr(self.h, attr, null_mut(), SQL_NTS),
                Charset::Wide => odbc_sys::SQLSetConnectAttrW(self.h, attr, null_mut(), SQL_NTS),
            }
        };
        self.check("SQLSetConnectAttr(1002, NULL)", rc)
    }

    fn statement(&self) -> RawResult<Stmt<'_>> {
        let mut h = Handle::null();
        let rc = unsafe { odbc_sys::SQLAllocHandle(HandleType::Stmt, self.h.as_handle(), &mut h) };
        self.check("SQLAllocHandle(STMT)", rc)?;
        Ok(Stmt { h: HStmt(h.0), cs: self.cs, _dbc: std::marker::PhantomData })
    }

    /// SQLExecDirect(W) of `sql` on a fresh statement.
    pub fn exec(&self, sql: &str) -> RawResult<Warnings> {
        let stmt = self.statement()?;
        stmt.exec(sql)
    }

    /// The first column of the first row as a 64-bit integer (None: NULL or no row).
    pub fn query_i64(&self, sql: &str) -> RawResult<Option<i64>> {
        let stmt = self.statement()?;
        stmt.exec(sql)?;
        if !stmt.fetch()? {
            return Ok(None);
        }
        let mut value = 0i64;
        let mut ind: isize = 0;
        let rc = unsafe {
            odbc_sys::SQLGetData(stmt.h, 1, CDataType::SBigInt, &mut value as *mut i64 as Pointer, 8, &mut ind)
        };
        stmt.check("SQLGetData", rc)?;
        Ok(if ind == -1 { None } else { Some(value) })
    }

    /// The first column of the first row as text, read with SQLGetData in the charset.
    pub fn query_text(&self, sql: &str) -> RawResult<Option<String>> {
        let stmt = self.statement()?;
        stmt.exec(sql)?;
        if !stmt.fetch()? {
            return Ok(None);
        }
        let mut ind: isize = 0;
        match self.cs {
            Charset::Narrow => {
                let mut buf = vec![0u8; 4096];
                let rc = unsafe {
                    odbc_sys::SQLGetData(
                        stmt.h,
                        1,
                        CDataType::Char,
                        buf.as_mut_ptr() as Pointer,
                        buf.len() as isize,
                        &mut ind,
                    )
                };
                stmt.check("SQLGetData", rc)?;
                if ind < 0 {
                    return Ok(None);
                }
                Ok(Some(String::from_utf8_lossy(&buf[..(ind as usize).min(buf.len() - 1)]).into_owned()))
            }
            Charset::Wide => {
                let mut buf = vec![0u16; 4096];
                let rc = unsafe {
                    odbc_sys::SQLGetData(
                        stmt.h,
                        1,
                        CDataType::WChar,
                        buf.as_mut_ptr() as Pointer,
                        (buf.len() * 2) as isize,
                        &mut ind,
                    )
                };
                stmt.check("SQLGetData", rc)?;
                if ind < 0 {
                    return Ok(None);
                }
                Ok(Some(String::from_utf16_lossy(&buf[..(ind as usize / 2).min(buf.len() - 1)])))
            }
        }
    }

    /// SQLGetTypeInfo(SQL_ALL_TYPES): (TYPE_NAME, DATA_TYPE) of every row.
    pub fn type_info(&self) -> RawResult<Vec<(String, i16)>> {
        let stmt = self.statement()?;
        let rc = unsafe {
            match self.cs {
                Charset::Narrow => odbc_sys::SQLGetTypeInfo(stmt.h, odbc_sys::SqlDataType(0)),
                Charset::Wide => SQLGetTypeInfoW(stmt.h, 0),
            }
        };
        stmt.check("SQLGetTypeInfo", rc)?;
        let mut rows = Vec::new();
        while stmt.fetch()? {
            let mut name = [0u8; 256];
            let mut ind: isize = 0;
            let rc = unsafe {
                odbc_sys::SQLGetData(stmt.h, 1, CDataType::Char, name.as_mut_ptr() as Pointer, 256, &mut ind)
            };
            stmt.check("SQLGetData(TYPE_NAME)", rc)?;
            let name = String::from_utf8_lossy(&name[..(ind.max(0) as usize).min(255)]).into_owned();
            let mut data_type = 0i16;
            let rc = unsafe {
                odbc_sys::SQLGetData(stmt.h, 2, CDataType::SShort, &mut data_type as *mut i16 as Pointer, 2, &mut ind)
            };
            stmt.check("SQLGetData(DATA_TYPE)", rc)?;
            rows.push((name, data_type));
        }
        Ok(rows)
    }

    pub fn disconnect(&mut self) -> RawResult<Warnings> {
        let rc = unsafe { odbc_sys::SQLDisconnect(self.h) };
        let result = self.check("SQLDisconnect", rc);
        if result.is_ok() {
            self.connected = false;
        }
        result
    }
}

impl Drop for Dbc<'_> {
    fn drop(&mut self) {
        unsafe {
            if self.connected {
                let _ = odbc_sys::SQLDisconnect(self.h);
            }
            let _ = odbc_sys::SQLFreeHandle(HandleType::Dbc, self.h.as_handle());
        }
    }
}

struct Stmt<'d> {
    h: HStmt,
    cs: Charset,
    _dbc: std::marker::PhantomData<&'d ()>,
}

impl Stmt<'_> {
    fn check(&self, function: &'static str, rc: SqlReturn) -> RawResult<Warnings> {
        check(function, rc, HandleType::Stmt, self.h.as_handle(), self.cs)
    }

    fn exec(&self, sql: &str) -> RawResult<Warnings> {
        let rc = unsafe {
            match self.cs {
                Charset::Narrow => odbc_sys::SQLExecDirect(self.h, utf8z(sql).as_ptr(), SQL_NTS),
                Charset::Wide => odbc_sys::SQLExecDirectW(self.h, utf16z(sql).as_ptr(), SQL_NTS),
            }
        };
        if rc.0 == 100 {
            // SQL_NO_DATA: a searched UPDATE/DELETE that touched no row.
            return Ok(Vec::new());
        }
        self.check("SQLExecDirect", rc)
    }

    /// True when a row was fetched, false at the end.
    fn fetch(&self) -> RawResult<bool> {
        let rc = unsafe { odbc_sys::SQLFetch(self.h) };
        if rc.0 == 100 {
            return Ok(false);
        }
        self.check("SQLFetch", rc).map(|_| true)
    }
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        unsafe {
            let _ = odbc_sys::SQLFreeHandle(HandleType::Stmt, self.h.as_handle());
        }
    }
}
