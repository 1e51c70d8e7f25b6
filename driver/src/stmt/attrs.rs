//! Statement attributes (SQLGetStmtAttr/SQLSetStmtAttr and the ODBC 2 options). Those
//! that ODBC defines as descriptor fields (row and parameter array settings) live in the
//! descriptors, so SQLSetDescField and SQLSetStmtAttr see the same value.

use std::sync::Arc;

use crate::conn::config::MAX_TIMEOUT_SECS;
use crate::conn::Connection;
use crate::desc::{check_array_size, Descriptor};
use crate::diag::{OdbcError, OdbcResult, SqlState};
use crate::handles;

use super::{Inner, Statement};

pub mod id {
    pub const QUERY_TIMEOUT: i32 = 0;
    pub const MAX_ROWS: i32 = 1;
    pub const NOSCAN: i32 = 2;
    pub const MAX_LENGTH: i32 = 3;
    pub const ASYNC_ENABLE: i32 = 4;
    pub const ROW_BIND_TYPE: i32 = 5;
    pub const CURSOR_TYPE: i32 = 6;
    pub const CONCURRENCY: i32 = 7;
    pub const KEYSET_SIZE: i32 = 8;
    pub const ROWSET_SIZE: i32 = 9;
    pub const SIMULATE_CURSOR: i32 = 10;
    pub const RETRIEVE_DATA: i32 = 11;
    pub const USE_BOOKMARKS: i32 = 12;
    pub const ROW_NUMBER: i32 = 14;
    pub const ENABLE_AUTO_IPD: i32 = 15;
    pub const FETCH_BOOKMARK_PTR: i32 = 16;
    pub const PARAM_BIND_OFFSET_PTR: i32 = 17;
    pub const PARAM_BIND_TYPE: i32 = 18;
    pub const PARAM_OPERATION_PTR: i32 = 19;
    pub const PARAM_STATUS_PTR: i32 = 20;
    pub const PARAMS_PROCESSED_PTR: i32 = 21;
    pub const PARAMSET_SIZE: i32 = 22;
    pub const ROW_BIND_OFFSET_PTR: i32 = 23;
    pub const ROW_OPERATION_PTR: i32 = 24;
    pub const ROW_STATUS_PTR: i32 = 25;
    pub const ROWS_FETCHED_PTR: i32 = 26;
    pub const ROW_ARRAY_SIZE: i32 = 27;
    pub const CURSOR_SCROLLABLE: i32 = -1;
    pub const CURSOR_SENSITIVITY: i32 = -2;
    pub const APP_ROW_DESC: i32 = 10010;
    pub const APP_PARAM_DESC: i32 = 10011;
    pub const IMP_ROW_DESC: i32 = 10012;
    pub const IMP_PARAM_DESC: i32 = 10013;
    pub const METADATA_ID: i32 = 10014;
}

/// Attributes whose value is a pointer (the rest are integers).
pub fn is_pointer(attr: i32) -> bool {
    use id::*;
    matches!(
        attr,
        FETCH_BOOKMARK_PTR
            | PARAM_BIND_OFFSET_PTR
            | PARAM_OPERATION_PTR
            | PARAM_STATUS_PTR
            | PARAMS_PROCESSED_PTR
            | ROW_BIND_OFFSET_PTR
            | ROW_OPERATION_PTR
            | ROW_STATUS_PTR
            | ROWS_FETCHED_PTR
            | APP_ROW_DESC
            | APP_PARAM_DESC
            | IMP_ROW_DESC
            | IMP_PARAM_DESC
    )
}

/// The attributes that are not descriptor fields.
#[derive(Debug, Clone)]
pub struct StmtAttrs {
    pub query_timeout: usize,
    pub max_rows: usize,
    pub noscan: usize,
    pub max_length: usize,
    pub keyset_size: usize,
    /// SQL_ROWSET_SIZE: the rowset of SQLExtendedFetch (ODBC 2).
    pub rowset_size: usize,
    pub simulate_cursor: usize,
    pub retrieve_data: bool,
    pub enable_auto_ipd: bool,
    pub metadata_id: bool,
    pub fetch_bookmark_ptr: usize,
    pub cursor_sensitivity: usize,
    /// SQL_ATTR_CURSOR_TYPE: forward-only or static (`super::scroll`).
    pub cursor_type: usize,
}

impl StmtAttrs {
    pub fn for_connection(conn: &Connection) -> Self {
        StmtAttrs {
            query_timeout: conn.default_query_timeout().map_or(0, |t| usize::try_from(t).unwrap_or(usize::MAX)),
            max_rows: 0,
            noscan: 0,
            max_length: 0,
            keyset_size: 0,
            rowset_size: 1,
            simulate_cursor: 0,
            retrieve_data: true,
            enable_auto_ipd: false,
            metadata_id: conn.metadata_id(),
            fetch_bookmark_ptr: 0,
            cursor_sensitivity: 0,
            cursor_type: super::scroll::SQL_CURSOR_FORWARD_ONLY,
        }
    }
}

/// Attributes an ODBC 2 application may set on the connection for all its statements.
pub const INHERITED: [i32; 10] = [
    id::QUERY_TIMEOUT,
    id::MAX_ROWS,
    id::NOSCAN,
    id::MAX_LENGTH,
    id::ROW_BIND_TYPE,
    id::CURSOR_TYPE,
    id::CONCURRENCY,
    id::KEYSET_SIZE,
    id::ROWSET_SIZE,
    id::RETRIEVE_DATA,
];

fn changed(what: &str) -> OdbcError {
    OdbcError::new(
        SqlState::OPTION_VALUE_CHANGED,
        format!("option value changed: {what} is not supported; the driver substituted a similar value"),
    )
}

/// SQLGetStmtAttr: integer attributes and pointers alike as a `usize`.
pub fn get(stmt: &Statement, inner: &Inner, attr: i32) -> OdbcResult<usize> {
    use id::*;
    let a = &inner.attrs;
    let ard = || stmt.ard(inner);
    let apd = || stmt.apd(inner);
    Ok(match attr {
        QUERY_TIMEOUT => a.query_timeout,
        MAX_ROWS => a.max_rows,
        NOSCAN => a.noscan,
        MAX_LENGTH => a.max_length,
        ASYNC_ENABLE => 0,
        ROW_BIND_TYPE => ard().lock().bind_type,
        CURSOR_TYPE => a.cursor_type,
        CONCURRENCY => 1,
        KEYSET_SIZE => a.keyset_size,
        ROWSET_SIZE => a.rowset_size,
        SIMULATE_CURSOR => a.simulate_cursor,
        RETRIEVE_DATA => usize::from(a.retrieve_data),
        USE_BOOKMARKS => 0,
        ROW_NUMBER => match &inner.cursor {
            Some(c) if c.has_current_row() => c.row_number,
            _ => 0,
        },
        ENABLE_AUTO_IPD => usize::from(a.enable_auto_ipd),
        FETCH_BOOKMARK_PTR => a.fetch_bookmark_ptr,
        PARAM_BIND_OFFSET_PTR => apd().lock().bind_offset_ptr,
        PARAM_BIND_TYPE => apd().lock().bind_type,
        PARAM_OPERATION_PTR => apd().lock().array_status_ptr,
        PARAM_STATUS_PTR => stmt.ipd().lock().array_status_ptr,
        PARAMS_PROCESSED_PTR => stmt.ipd().lock().rows_processed_ptr,
        PARAMSET_SIZE => apd().lock().array_size,
        ROW_BIND_OFFSET_PTR => ard().lock().bind_offset_ptr,
        ROW_OPERATION_PTR => ard().lock().array_status_ptr,
        ROW_STATUS_PTR => stmt.ird().lock().array_status_ptr,
        ROWS_FETCHED_PTR => stmt.ird().lock().rows_processed_ptr,
        ROW_ARRAY_SIZE => ard().lock().array_size,
        CURSOR_SCROLLABLE => usize::from(a.cursor_type != super::scroll::SQL_CURSOR_FORWARD_ONLY),
        CURSOR_SENSITIVITY => a.cursor_sensitivity,
        APP_ROW_DESC => stmt.descriptor_handle(&ard()),
        APP_PARAM_DESC => stmt.descriptor_handle(&apd()),
        IMP_ROW_DESC => stmt.implicit_handles()[2],
        IMP_PARAM_DESC => stmt.implicit_handles()[3],
        METADATA_ID => usize::from(a.metadata_id),
        other => return Err(OdbcError::unknown_attribute(other)),
    })
}

fn flag(attr: &str, v: usize) -> OdbcResult<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(OdbcError::invalid_value(attr, other as i64)),
    }
}

/// An array size attribute: 1..=MAX_ARRAY_SIZE, else HY024 (a size is never allowed to
/// drive an allocation unchecked).
fn array_size(attr: &str, v: usize) -> OdbcResult<usize> {
    check_array_size(attr, i64::try_from(v).unwrap_or(i64::MAX))
}

/// SQLSetStmtAttr. Returns a 01S02 warning when the driver substituted a value.
pub fn set(stmt: &Statement, inner: &mut Inner, attr: i32, v: usize) -> OdbcResult<Option<OdbcError>> {
    use id::*;
    let cursor_open = inner.cursor.is_some();
    let not_now = |what: &str| {
        OdbcError::new(SqlState::ATTRIBUTE_CANNOT_BE_SET_NOW, format!("{what} cannot be set while a cursor is open"))
    };
    let a = &mut inner.attrs;
    match attr {
        QUERY_TIMEOUT => {
            let longest = usize::try_from(MAX_TIMEOUT_SECS).unwrap_or(usize::MAX);
            a.query_timeout = v.min(longest);
            if v > longest {
                return Ok(Some(changed("a query timeout beyond 4294967295 s")));
            }
        }
        MAX_ROWS => a.max_rows = v,
        NOSCAN => a.noscan = usize::from(flag("SQL_ATTR_NOSCAN", v)?),
        MAX_LENGTH => a.max_length = v,
        ASYNC_ENABLE if v == 0 => {}
        ASYNC_ENABLE => return Err(OdbcError::not_capable("asynchronous execution")),
        CURSOR_TYPE | CONCURRENCY | CURSOR_SCROLLABLE | KEYSET_SIZE if cursor_open => {
            return Err(not_now("the cursor type"))
        }
        CURSOR_TYPE => return super::scroll::set_cursor_type(a, v),
        CONCURRENCY => return Ok((v != 1).then(|| changed("a concurrency other than read-only"))),
        CURSOR_SCROLLABLE => return super::scroll::set_scrollable(a, v),
        KEYSET_SIZE => return Ok((v != 0).then(|| changed("a keyset size"))),
        CURSOR_SENSITIVITY => return super::scroll::set_sensitivity(a, v),
        ROWSET_SIZE => a.rowset_size = array_size("SQL_ROWSET_SIZE", v)?,
        SIMULATE_CURSOR => a.simulate_cursor = v,
        RETRIEVE_DATA => a.retrieve_data = flag("SQL_ATTR_RETRIEVE_DATA", v)?,
        USE_BOOKMARKS if v == 0 => {}
        USE_BOOKMARKS => return Err(OdbcError::not_capable("bookmarks")),
        ENABLE_AUTO_IPD => a.enable_auto_ipd = flag("SQL_ATTR_ENABLE_AUTO_IPD", v)?,
        FETCH_BOOKMARK_PTR => a.fetch_bookmark_ptr = v,
        METADATA_ID => a.metadata_id = flag("SQL_ATTR_METADATA_ID", v)?,
        ROW_NUMBER => return Err(OdbcError::new(SqlState::INVALID_ATTRIBUTE, "SQL_ATTR_ROW_NUMBER is read-only")),
        ROW_ARRAY_SIZE => stmt.ard(inner).lock().array_size = array_size("SQL_ATTR_ROW_ARRAY_SIZE", v)?,
        ROW_BIND_TYPE => stmt.ard(inner).lock().bind_type = v,
        ROW_BIND_OFFSET_PTR => stmt.ard(inner).lock().bind_offset_ptr = v,
        ROW_OPERATION_PTR => stmt.ard(inner).lock().array_status_ptr = v,
        ROW_STATUS_PTR => stmt.ird().lock().array_status_ptr = v,
        ROWS_FETCHED_PTR => stmt.ird().lock().rows_processed_ptr = v,
        PARAMSET_SIZE => stmt.apd(inner).lock().array_size = array_size("SQL_ATTR_PARAMSET_SIZE", v)?,
        PARAM_BIND_TYPE => stmt.apd(inner).lock().bind_type = v,
        PARAM_BIND_OFFSET_PTR => stmt.apd(inner).lock().bind_offset_ptr = v,
        PARAM_OPERATION_PTR => stmt.apd(inner).lock().array_status_ptr = v,
        PARAM_STATUS_PTR => stmt.ipd().lock().array_status_ptr = v,
        PARAMS_PROCESSED_PTR => stmt.ipd().lock().rows_processed_ptr = v,
        APP_ROW_DESC | APP_PARAM_DESC => {
            let chosen = explicit_descriptor(stmt, v)?;
            if attr == APP_ROW_DESC {
                inner.explicit_ard = chosen;
            } else {
                inner.explicit_apd = chosen;
            }
        }
        IMP_ROW_DESC | IMP_PARAM_DESC => {
            return Err(OdbcError::new(
                SqlState::INVALID_DESCRIPTOR_USE,
                "implementation descriptors cannot be replaced",
            ))
        }
        other => return Err(OdbcError::unknown_attribute(other)),
    }
    Ok(None)
}

/// The descriptor an application names for SQL_ATTR_APP_*_DESC: an explicit one on the
/// same connection, or null / the statement's own implicit one to go back to it.
fn explicit_descriptor(stmt: &Statement, raw: usize) -> OdbcResult<Option<Arc<Descriptor>>> {
    let own = stmt.implicit_handles();
    if raw == 0 || raw == own[0] || raw == own[1] {
        return Ok(None);
    }
    let invalid = || {
        OdbcError::new(SqlState::INVALID_DESCRIPTOR_USE, "invalid use of an automatically allocated descriptor handle")
    };
    let d = handles::lookup::<Descriptor>(raw).ok_or_else(invalid)?;
    if !d.explicit || !Arc::ptr_eq(&d.conn, &stmt.conn) {
        return Err(invalid());
    }
    Ok(Some(d))
}
