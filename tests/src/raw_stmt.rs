//! Prepared statements over raw odbc-sys calls, narrow entry points, the way PHP's
//! ext/odbc and Perl's DBD::ODBC drive them: SQLPrepare, SQLDescribeParam, then
//! SQLBindParameter with the C type and the described SQL type, and SQLGetData with a
//! chosen C type. odbc-api picks the bound types itself, so it cannot play those clients.

use std::ptr::null_mut;

use odbc_sys::{CDataType, HDbc, HStmt, Handle, HandleType, Nullability, ParamType, Pointer, SqlDataType, SqlReturn};

use crate::raw::{check, Charset, RawResult, Warnings};

const SQL_NTS: i32 = -3;
const SQL_NULL_DATA: isize = -1;

/// One statement handle on a connected narrow `raw::Dbc`.
pub struct Statement {
    h: HStmt,
    /// Bound parameter values and their lengths, kept alive until the next execution.
    bound: Vec<(Vec<u8>, Box<isize>)>,
}

/// What SQLDescribeParam (or SQLDescribeCol) reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Described {
    pub sql_type: i16,
    pub size: usize,
}

impl Statement {
    pub fn new(dbc: HDbc) -> RawResult<Statement> {
        let mut h = Handle::null();
        let rc = unsafe { odbc_sys::SQLAllocHandle(HandleType::Stmt, dbc.as_handle(), &mut h) };
        check("SQLAllocHandle(STMT)", rc, HandleType::Dbc, dbc.as_handle(), Charset::Narrow)?;
        Ok(Statement { h: HStmt(h.0), bound: Vec::new() })
    }

    fn check(&self, function: &'static str, rc: SqlReturn) -> RawResult<Warnings> {
        check(function, rc, HandleType::Stmt, self.h.as_handle(), Charset::Narrow)
    }

    pub fn prepare(&self, sql: &str) -> RawResult<Warnings> {
        let text: Vec<u8> = sql.bytes().chain(Some(0)).collect();
        let rc = unsafe { odbc_sys::SQLPrepare(self.h, text.as_ptr(), SQL_NTS) };
        self.check("SQLPrepare", rc)
    }

    pub fn exec_direct(&self, sql: &str) -> RawResult<Warnings> {
        let text: Vec<u8> = sql.bytes().chain(Some(0)).collect();
        let rc = unsafe { odbc_sys::SQLExecDirect(self.h, text.as_ptr(), SQL_NTS) };
        self.check("SQLExecDirect", rc)
    }

    pub fn describe_param(&self, number: u16) -> RawResult<Described> {
        let (mut sql_type, mut size, mut digits, mut nullable) = (SqlDataType(0), 0usize, 0i16, Nullability(0));
        let rc =
            unsafe { odbc_sys::SQLDescribeParam(self.h, number, &mut sql_type, &mut size, &mut digits, &mut nullable) };
        self.check("SQLDescribeParam", rc)?;
        Ok(Described { sql_type: sql_type.0, size })
    }

    pub fn describe_col(&self, number: u16) -> RawResult<Described> {
        let mut name = [0u8; 256];
        let (mut name_len, mut sql_type, mut size, mut digits, mut nullable) =
            (0i16, SqlDataType(0), 0usize, 0i16, Nullability(0));
        let rc = unsafe {
            odbc_sys::SQLDescribeCol(
                self.h,
                number,
                name.as_mut_ptr(),
                name.len() as i16,
                &mut name_len,
                &mut sql_type,
                &mut size,
                &mut digits,
                &mut nullable,
            )
        };
        self.check("SQLDescribeCol", rc)?;
        Ok(Described { sql_type: sql_type.0, size })
    }

    /// Binds `value` (NULL when `None`) as an input parameter of C type `ctype`.
    pub fn bind(
        &mut self,
        number: u16,
        ctype: CDataType,
        sql_type: i16,
        size: usize,
        value: Option<&[u8]>,
    ) -> RawResult<Warnings> {
        let data = value.map(<[u8]>::to_vec).unwrap_or_default();
        let mut len = Box::new(value.map_or(SQL_NULL_DATA, |v| v.len() as isize));
        let rc = unsafe {
            odbc_sys::SQLBindParameter(
                self.h,
                number,
                ParamType::Input,
                ctype,
                SqlDataType(sql_type),
                size,
                0,
                data.as_ptr() as Pointer,
                data.len() as isize,
                &mut *len,
            )
        };
        // The Vec's heap buffer and the Box do not move when they are pushed.
        self.bound.push((data, len));
        self.check("SQLBindParameter", rc)
    }

    pub fn execute(&self) -> RawResult<Warnings> {
        let rc = unsafe { odbc_sys::SQLExecute(self.h) };
        self.check("SQLExecute", rc)
    }

    /// True when a row was fetched.
    pub fn fetch(&self) -> RawResult<bool> {
        let rc = unsafe { odbc_sys::SQLFetch(self.h) };
        if rc.0 == 100 {
            return Ok(false);
        }
        self.check("SQLFetch", rc).map(|_| true)
    }

    /// The whole value of `column` as C type `ctype` (SQL_C_CHAR without its NUL), read
    /// with SQLGetData in pieces of `piece` bytes; `None` for NULL.
    pub fn get_data(&self, column: u16, ctype: CDataType, piece: usize) -> RawResult<Option<Vec<u8>>> {
        let terminator = usize::from(ctype == CDataType::Char);
        let mut out = Vec::new();
        loop {
            let mut buf = vec![0u8; piece];
            let mut ind: isize = 0;
            let rc = unsafe {
                odbc_sys::SQLGetData(self.h, column, ctype, buf.as_mut_ptr() as Pointer, buf.len() as isize, &mut ind)
            };
            if rc.0 == 100 {
                return Ok(Some(out));
            }
            let warnings = self.check("SQLGetData", rc)?;
            if ind == SQL_NULL_DATA {
                return Ok(None);
            }
            let truncated = warnings.iter().any(|w| w.state == "01004");
            let got = if truncated { piece - terminator } else { ind as usize };
            out.extend_from_slice(&buf[..got]);
            if !truncated {
                return Ok(Some(out));
            }
        }
    }

    /// SQLColumns(table): (TYPE_NAME, COLUMN_SIZE) of each column.
    pub fn columns(&self, table: &str) -> RawResult<Vec<(String, i64)>> {
        let t: Vec<u8> = table.bytes().chain(Some(0)).collect();
        let rc = unsafe { odbc_sys::SQLColumns(self.h, null_mut(), 0, null_mut(), 0, t.as_ptr(), -3, null_mut(), 0) };
        self.check("SQLColumns", rc)?;
        let mut rows = Vec::new();
        while self.fetch()? {
            let name = self.get_data(6, CDataType::Char, 256)?.unwrap_or_default();
            let size = self.get_data(7, CDataType::Char, 32)?.unwrap_or_default();
            let size = String::from_utf8_lossy(&size).parse().unwrap_or(-1);
            rows.push((String::from_utf8_lossy(&name).into_owned(), size));
        }
        Ok(rows)
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        unsafe {
            let _ = odbc_sys::SQLFreeHandle(HandleType::Stmt, self.h.as_handle());
        }
    }
}

/// SQLSetConnectAttr with an integer value (SQL_ATTR_ACCESS_MODE, ...).
pub fn set_connect_attr(dbc: HDbc, attr: i32, value: usize) -> RawResult<Warnings> {
    let rc = unsafe { odbc_sys::SQLSetConnectAttr(dbc, odbc_sys::ConnectionAttribute(attr), value as Pointer, 0) };
    check("SQLSetConnectAttr", rc, HandleType::Dbc, dbc.as_handle(), Charset::Narrow)
}
