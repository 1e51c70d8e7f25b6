//! SQLBindCol, SQLFetch, SQLGetData (SQLFetchScroll, SQLExtendedFetch and SQLSetPos are
//! in `scroll.rs`). The rows come straight from the received batch into the application's
//! buffers: per row and column one address computation, one conversion, no allocation.

use std::ffi::c_void;
use std::mem::size_of;

use odbc_sys::SqlReturn;
use twofactor_protocol::{ColumnDesc, RowBatch, ValueRef};

use super::{call, Warnings};
use crate::convert::{self, CType, Piece, Target, SQL_NULL_DATA};
use crate::desc::DescData;
use crate::diag::{Completion, OdbcError, OdbcResult, SqlState};
use crate::stmt::{Inner, Phase, Statement};

const SQL_ROW_SUCCESS: u16 = 0;
const SQL_ROW_NOROW: u16 = 3;
const SQL_ROW_ERROR: u16 = 5;
const SQL_ROW_SUCCESS_WITH_INFO: u16 = 6;

/// Where an element of a bound array lives: `base + offset + row * stride`.
fn element(base: usize, offset: isize, row: usize, stride: usize) -> usize {
    (base as isize).wrapping_add(offset) as usize + row * stride
}

/// Reads the bind offset an application keeps behind SQL_ATTR_*_BIND_OFFSET_PTR.
///
/// # Safety
/// `ptr` is 0 or points to a readable SQLLEN.
pub(crate) unsafe fn bind_offset(ptr: usize) -> isize {
    if ptr == 0 {
        0
    } else {
        (ptr as *const isize).read_unaligned()
    }
}

/// # Safety
/// `addr` is 0 or writable for a SQLLEN.
pub(crate) unsafe fn write_len_at(addr: usize, v: isize) {
    if addr != 0 {
        (addr as *mut isize).write_unaligned(v);
    }
}

/// The buffer one value goes into. Fixed-size C types ignore the buffer length as ODBC
/// says; a missing data pointer gets a scratch buffer so only the length is reported.
///
/// # Safety
/// `addr` is 0 or valid for `len` bytes (the application's promise when it bound).
unsafe fn target_slice(addr: usize, len: usize, scratch: &mut [u8; 32]) -> &mut [u8] {
    if addr == 0 {
        if len <= scratch.len() && len > 0 {
            &mut scratch[..len]
        } else {
            &mut scratch[..0]
        }
    } else {
        std::slice::from_raw_parts_mut(addr as *mut u8, len)
    }
}

fn ctype_of(code: i16) -> OdbcResult<CType> {
    CType::from_code(code)
        .ok_or_else(|| OdbcError::new(SqlState::INVALID_C_TYPE, format!("invalid application buffer type {code}")))
}

/// Writes the value (or its length, or NULL) of one converted column.
///
/// # Safety
/// The indicator and length addresses are 0 or writable SQLLENs.
unsafe fn report(piece: &Piece, indicator: usize, length: usize) -> OdbcResult<()> {
    if piece.indicator == SQL_NULL_DATA {
        if indicator == 0 {
            return Err(OdbcError::new(SqlState::INDICATOR_REQUIRED, "indicator variable required but not supplied"));
        }
        write_len_at(indicator, SQL_NULL_DATA);
        return Ok(());
    }
    if indicator != 0 && indicator != length {
        write_len_at(indicator, 0);
    }
    write_len_at(length, piece.indicator);
    Ok(())
}

/// The identity conversions, written without going through `convert::to_c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direct {
    None,
    /// BIGINT-valued → SQL_C_SBIGINT.
    I64,
    /// DOUBLE-valued → SQL_C_DOUBLE.
    F64,
    /// TIMESTAMP-valued → SQL_C_TYPE_TIMESTAMP.
    Timestamp,
    /// Text → SQL_C_CHAR, when it fits with its NUL.
    Char,
    /// ASCII text → SQL_C_WCHAR of 2-byte units, when it fits with its NUL (pyodbc reads
    /// text columns so).
    WChar,
}

impl Direct {
    /// The identity conversion into `ctype` (already resolved from SQL_C_DEFAULT), if any.
    fn of(ctype: CType) -> Direct {
        match ctype {
            CType::SBigInt => Direct::I64,
            CType::Double => Direct::F64,
            CType::Timestamp => Direct::Timestamp,
            CType::Char => Direct::Char,
            CType::WChar => Direct::WChar,
            _ => Direct::None,
        }
    }
}

/// One bound column, resolved once per SQLFetch: everything about it that is the same
/// for every row of the rowset.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    /// 0-based column.
    k: usize,
    sql: i16,
    /// The concise type when it is no C type (each row reports HY003, as ODBC wants).
    invalid: Option<i16>,
    target: Target,
    direct: Direct,
    /// Length of one element's buffer.
    len: usize,
    /// Element 0's addresses (bind offset applied), 0 when not bound.
    data: usize,
    ind: usize,
    olen: usize,
    data_stride: usize,
    len_stride: usize,
}

/// Resolves the bound columns of `ard` for one fetch into `plan` (cleared first; its
/// allocation is the statement's, reused from fetch to fetch).
fn plan_columns(plan: &mut Vec<ColumnPlan>, ard: &DescData, offset: isize, columns: &[ColumnDesc]) {
    plan.clear();
    let at = |base: usize| if base == 0 { 0 } else { element(base, offset, 0, 0) };
    for (k, rec) in ard.records.iter().enumerate() {
        if !rec.is_bound() {
            continue;
        }
        let sql = columns.get(k).map_or(0, |c| c.sql_type);
        let (ctype, invalid) = match CType::from_code(rec.concise_type) {
            Some(CType::Default) => (CType::default_for(sql), None),
            Some(c) => (c, None),
            None => (CType::Char, Some(rec.concise_type)),
        };
        let len = ctype.fixed_size().unwrap_or(rec.octet_length.max(0) as usize);
        let (data_stride, len_stride) =
            if ard.bind_type == 0 { (len, size_of::<isize>()) } else { (ard.bind_type, ard.bind_type) };
        let direct = if invalid.is_some() || rec.data_ptr == 0 { Direct::None } else { Direct::of(ctype) };
        plan.push(ColumnPlan {
            k,
            sql,
            invalid,
            target: Target {
                ctype,
                precision: if rec.precision > 0 { rec.precision as u8 } else { 38 },
                scale: rec.scale as i8,
            },
            direct,
            len,
            data: at(rec.data_ptr),
            ind: at(rec.indicator_ptr),
            olen: at(rec.octet_length_ptr),
            data_stride,
            len_stride,
        });
    }
}

/// Converts row `row` of `batch` into element `i` of every column of `plan`.
///
/// # Safety
/// The plan's addresses are the application's bound buffers.
unsafe fn write_row(
    plan: &[ColumnPlan],
    batch: &RowBatch,
    row: usize,
    i: usize,
    warnings: &mut Warnings,
) -> OdbcResult<u16> {
    let mut status = SQL_ROW_SUCCESS;
    for p in plan {
        if p.k >= batch.columns() {
            continue;
        }
        if write_direct(p, batch, row, i) {
            continue;
        }
        let col = p.k + 1;
        match write_converted(p, batch.value(row, p.k), i) {
            Ok(None) => {}
            Ok(Some(w)) => {
                warnings.push(w.at_row(i + 1).at_column(col));
                status = SQL_ROW_SUCCESS_WITH_INFO;
            }
            Err(e) => return Err(e.at_row(i + 1).at_column(col)),
        }
    }
    Ok(status)
}

/// Reports the length `n` of a non-NULL value (`report` without a `Piece`).
///
/// # Safety
/// As `report`.
#[inline(always)]
unsafe fn report_len(indicator: usize, length: usize, n: usize) {
    if indicator != 0 && indicator != length {
        write_len_at(indicator, 0);
    }
    write_len_at(length, n as isize);
}

/// Element `i`'s data, indicator and length addresses (0 where not bound).
#[inline(always)]
fn addresses(p: &ColumnPlan, i: usize) -> (usize, usize, usize) {
    let at = |base: usize, stride: usize| if base == 0 { 0 } else { base + i * stride };
    (at(p.data, p.data_stride), at(p.ind, p.len_stride), at(p.olen, p.len_stride))
}

/// The identity conversions. False when the value needs `write_converted` (NULL, another
/// type, text that does not fit).
///
/// # Safety
/// The plan's addresses are the application's bound buffers, valid for element `i`.
#[inline(always)]
unsafe fn write_direct(p: &ColumnPlan, batch: &RowBatch, row: usize, i: usize) -> bool {
    // `direct` is only set when `data` is not 0.
    let (data, ind, olen) = addresses(p, i);
    write_identity(p.direct, batch, row, p.k, data, ind, olen, p.len)
}

/// Writes the value at `row`, `column` of `batch` into the buffer at `data` (`len` bytes;
/// not 0) when `direct` is its identity conversion, and reports its length. False when
/// the value needs `convert::to_c`.
///
/// # Safety
/// `data` is valid for `len` bytes (for the fixed-size types, their size); `ind` and
/// `olen` are 0 or writable SQLLENs.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn write_identity(
    direct: Direct,
    batch: &RowBatch,
    row: usize,
    column: usize,
    data: usize,
    ind: usize,
    olen: usize,
    len: usize,
) -> bool {
    if matches!(direct, Direct::Char | Direct::WChar) {
        // Text is copied from its bytes, checked as UTF-8 when the batch was decoded:
        // making them a `&str` again (`RowBatch::value`) would check them a second time.
        return match batch.text_bytes(row, column) {
            Some(text) => write_text(direct, text, data, ind, olen, len),
            None => false,
        };
    }
    match (direct, batch.value(row, column)) {
        (Direct::I64, ValueRef::Int(v)) => {
            (data as *mut i64).write_unaligned(v);
            report_len(ind, olen, 8);
        }
        (Direct::F64, ValueRef::Double(v)) => {
            (data as *mut f64).write_unaligned(v);
            report_len(ind, olen, 8);
        }
        (Direct::Timestamp, ValueRef::Timestamp(ts)) => {
            let bytes = convert::to_c::timestamp_struct(ts);
            (data as *mut [u8; 16]).write_unaligned(bytes);
            report_len(ind, olen, bytes.len());
        }
        _ => return false,
    }
    true
}

/// `write_identity` for UTF-8 text into SQL_C_CHAR, or ASCII text into SQL_C_WCHAR of
/// 2-byte units, when it fits with its NUL.
///
/// # Safety
/// As `write_identity`.
#[inline(always)]
unsafe fn write_text(direct: Direct, text: &[u8], data: usize, ind: usize, olen: usize, len: usize) -> bool {
    match direct {
        Direct::Char if text.len() < len => {
            std::ptr::copy_nonoverlapping(text.as_ptr(), data as *mut u8, text.len());
            (data as *mut u8).add(text.len()).write(0);
            report_len(ind, olen, text.len());
        }
        Direct::WChar
            if (text.len() + 1) * 2 <= len && crate::ffi::sqlwchar::wide_unit_size() == 2 && text.is_ascii() =>
        {
            let units = data as *mut u16;
            for (k, &b) in text.iter().enumerate() {
                units.add(k).write_unaligned(u16::from(b));
            }
            units.add(text.len()).write_unaligned(0);
            report_len(ind, olen, text.len() * 2);
        }
        _ => return false,
    }
    true
}

/// Every other conversion, through `convert::to_c`.
///
/// # Safety
/// The plan's addresses are the application's bound buffers, valid for element `i`.
#[inline(never)]
unsafe fn write_converted(p: &ColumnPlan, value: ValueRef<'_>, i: usize) -> OdbcResult<Option<OdbcError>> {
    if let Some(code) = p.invalid {
        return Err(ctype_of(code).expect_err("not a C type"));
    }
    let (data, ind, olen) = addresses(p, i);
    let mut scratch = [0u8; 32];
    let buf = target_slice(data, p.len, &mut scratch);
    let piece = convert::to_c(value, p.sql, p.target, buf, 0)?;
    report(&piece, ind, olen)?;
    Ok(piece.warning)
}

/// Where a fetch reports: rowset size, rows-fetched and row-status addresses.
pub(super) struct FetchOut {
    pub size: usize,
    pub rows_fetched: usize,
    pub statuses: usize,
}

fn check_cursor(inner: &Inner) -> OdbcResult<()> {
    if inner.cursor.is_some() {
        return Ok(());
    }
    match inner.phase {
        Phase::Allocated | Phase::Prepared => Err(OdbcError::sequence("no statement has been executed")),
        _ => Err(OdbcError::new(SqlState::INVALID_CURSOR_STATE, "invalid cursor state: no result set is open")),
    }
}

/// Writes the rows of one rowset into the bound buffers and the row statuses.
pub(super) struct RowsetWriter<'a> {
    plan: &'a [ColumnPlan],
    statuses: usize,
    retrieve: bool,
    /// Rows written so far.
    pub n: usize,
    errors: usize,
    last_error: Option<OdbcError>,
}

impl RowsetWriter<'_> {
    /// Row `row` of `batch` becomes row `n` of the rowset.
    ///
    /// # Safety
    /// The plan's and the status array's addresses are the application's.
    pub unsafe fn write(&mut self, batch: &RowBatch, row: usize, warnings: &mut Warnings) {
        let status = if self.retrieve {
            match write_row(self.plan, batch, row, self.n, warnings) {
                Ok(s) => s,
                Err(e) => {
                    self.errors += 1;
                    self.last_error = Some(e.clone());
                    warnings.push(e);
                    SQL_ROW_ERROR
                }
            }
        } else {
            SQL_ROW_SUCCESS
        };
        if self.statuses != 0 {
            ((self.statuses as *mut u16).add(self.n)).write_unaligned(status);
        }
        self.n += 1;
    }
}

/// The rows of a forward-only cursor's next rowset, batch run by batch run.
///
/// # Safety
/// As `RowsetWriter::write`.
unsafe fn stream_rowset(
    stmt: &Statement,
    cursor: &mut crate::stmt::Cursor,
    max_rows: usize,
    size: usize,
    rows: &mut RowsetWriter<'_>,
    warnings: &mut Warnings,
) -> OdbcResult<()> {
    cursor.begin_rowset();
    while rows.n < size {
        let Some(run) = cursor.advance_run(stmt, max_rows, size - rows.n, rows.n == 0)? else { break };
        let batch = cursor.batch().expect("advance_run returned rows of this batch");
        for row in run {
            rows.write(batch, row, warnings);
        }
    }
    if rows.n == 0 {
        cursor.at_end = true;
    }
    Ok(())
}

/// One rowset: the next one of a forward-only cursor, or the one `orientation` and
/// `offset` name on a static cursor.
///
/// # Safety
/// The addresses in `out` and in the ARD are the application's.
pub(super) unsafe fn fetch_rowset(
    stmt: &Statement,
    warnings: &mut Warnings,
    orientation: i16,
    offset: isize,
    out: impl FnOnce(&Inner, &DescData, &DescData) -> FetchOut,
) -> OdbcResult<Completion> {
    let mut inner = stmt.lock_idle()?;
    check_cursor(&inner)?;
    let ard_desc = stmt.ard(&inner);
    let ard = ard_desc.lock();
    let ird = stmt.ird().lock();
    let out = out(&inner, &ard, &ird);
    let retrieve = inner.attrs.retrieve_data;
    let max_rows = inner.attrs.max_rows;
    let offset_ptr = bind_offset(ard.bind_offset_ptr);
    let mut plan = std::mem::take(&mut inner.fetch_plan);
    if retrieve {
        plan_columns(&mut plan, &ard, offset_ptr, &ird.columns);
    }
    let cursor = inner.cursor.as_mut().expect("checked above");
    let mut rows = RowsetWriter { plan: &plan, statuses: out.statuses, retrieve, n: 0, errors: 0, last_error: None };
    let result = if cursor.is_static() {
        super::scroll::static_rowset(cursor, orientation, offset, out.size, &mut rows, warnings)
    } else if orientation != crate::stmt::scroll::SQL_FETCH_NEXT {
        Err(OdbcError::new(
            SqlState::FETCH_TYPE_OUT_OF_RANGE,
            "fetch type out of range: the cursor is forward-only (set SQL_ATTR_CURSOR_TYPE to SQL_CURSOR_STATIC to scroll)",
        ))
    } else {
        stream_rowset(stmt, cursor, max_rows, out.size, &mut rows, warnings)
    };
    let RowsetWriter { n, errors, last_error, .. } = rows;
    inner.fetch_plan = plan;
    result?;
    if out.statuses != 0 {
        for j in n..out.size {
            ((out.statuses as *mut u16).add(j)).write_unaligned(SQL_ROW_NOROW);
        }
    }
    if out.rows_fetched != 0 {
        (out.rows_fetched as *mut usize).write_unaligned(n);
    }
    if n == 0 {
        return Ok(Completion::NoData);
    }
    if errors > 0 {
        if out.size == 1 {
            // A single row's error is the call's error.
            return Err(last_error.expect("counted"));
        }
        warnings.warn(SqlState::ERROR_IN_ROW, "error in row");
    }
    Ok(Completion::Success)
}

#[no_mangle]
pub unsafe extern "system" fn SQLFetch(stmt: *mut c_void) -> SqlReturn {
    call::<Statement, _>(stmt, |s, w| {
        fetch_rowset(s, w, crate::stmt::scroll::SQL_FETCH_NEXT, 0, |_, ard, ird| FetchOut {
            size: ard.array_size.max(1),
            rows_fetched: ird.rows_processed_ptr,
            statuses: ird.array_status_ptr,
        })
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLBindCol(
    stmt: *mut c_void,
    column: u16,
    target_type: i16,
    target: *mut c_void,
    buffer_length: isize,
    indicator: *mut isize,
) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let inner = s.lock_idle()?;
        if column == 0 {
            return Err(OdbcError::new(
                SqlState::INVALID_DESCRIPTOR_INDEX,
                "invalid descriptor index 0: bookmarks are not supported",
            ));
        }
        if inner.cursor.is_some() && usize::from(column) > s.ird().lock().columns.len() {
            return Err(OdbcError::new(
                SqlState::INVALID_DESCRIPTOR_INDEX,
                format!("invalid descriptor index {column}"),
            ));
        }
        let ard = s.ard(&inner);
        let mut ard = ard.lock();
        if target.is_null() && indicator.is_null() {
            ard.unbind(column.into());
            return Ok(Completion::Success);
        }
        let ctype = ctype_of(target_type)?;
        if buffer_length < 0 {
            return Err(OdbcError::buffer_length("BufferLength", buffer_length as i64));
        }
        let rec = ard.record_mut(column.into())?;
        rec.concise_type = target_type;
        rec.octet_length = buffer_length;
        rec.data_ptr = target as usize;
        rec.indicator_ptr = indicator as usize;
        rec.octet_length_ptr = indicator as usize;
        if ctype == CType::Numeric {
            rec.precision = 38;
            rec.scale = 0;
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetData(
    stmt: *mut c_void,
    column: u16,
    target_type: i16,
    target: *mut c_void,
    buffer_length: isize,
    indicator: *mut isize,
) -> SqlReturn {
    call::<Statement, _>(stmt, |s, w| {
        get_data(s, w, column.into(), target_type, target as usize, buffer_length, indicator as usize)
    })
}

unsafe fn get_data(
    s: &Statement,
    w: &mut Warnings,
    column: usize,
    target_type: i16,
    target: usize,
    buffer_length: isize,
    indicator: usize,
) -> OdbcResult<Completion> {
    let mut inner = s.lock_idle()?;
    check_cursor(&inner)?;
    if column == 0 {
        return Err(OdbcError::new(
            SqlState::INVALID_DESCRIPTOR_INDEX,
            "invalid descriptor index 0: bookmarks are not supported",
        ));
    }
    // The ARD is looked at only when the application asks for its type (no clone, no
    // lock otherwise: pyodbc calls this for every value).
    let (code, precision, scale) = match target_type {
        crate::convert::code::ARD_TYPE => match s.ard(&inner).lock().record(column) {
            Some(r) => (r.concise_type, r.precision, r.scale),
            None => (crate::convert::code::DEFAULT, 0, 0),
        },
        t => (t, 0, -1),
    };
    let ctype = ctype_of(code)?;
    if target == 0 {
        return Err(OdbcError::null_pointer("TargetValuePtr"));
    }
    if buffer_length < 0 && ctype.fixed_size().is_none() {
        return Err(OdbcError::buffer_length("BufferLength", buffer_length as i64));
    }
    let cursor = inner.cursor.as_mut().expect("checked above");
    let ird_types = || s.ird().lock().columns.iter().map(|c| (c.sql_type, c.decimal_digits)).collect();
    let Some((sql, digits)) = cursor.column_type(column, ird_types) else {
        return Err(OdbcError::new(SqlState::INVALID_DESCRIPTOR_INDEX, format!("invalid descriptor index {column}")));
    };
    if cursor.getdata.column != column {
        cursor.getdata = crate::stmt::cursor::GetDataProgress { column, offset: 0, done: false };
    }
    if cursor.getdata.done {
        return Ok(Completion::NoData);
    }
    let resolved = if ctype == CType::Default { CType::default_for(sql) } else { ctype };
    let len = resolved.fixed_size().unwrap_or(buffer_length.max(0) as usize);
    // GetData without ARD precision uses the column's own scale, so decimals keep their digits.
    let scale = if scale < 0 { digits } else { scale };
    let t = Target { ctype: resolved, precision: if precision > 0 { precision as u8 } else { 38 }, scale: scale as i8 };
    let offset = cursor.getdata.offset;
    let (batch, row) = cursor.current_cell(column)?;
    // The identity conversions of a value not yet read are written directly, as SQLFetch
    // does; the rest (NULL, pieces, other types) go through `convert::to_c`.
    if offset == 0 && write_identity(Direct::of(resolved), batch, row, column - 1, target, indicator, indicator, len) {
        cursor.getdata.done = true;
        return Ok(Completion::Success);
    }
    let value = batch.value(row, column - 1);
    let buf = std::slice::from_raw_parts_mut(target as *mut u8, len);
    let piece = convert::to_c(value, sql, t, buf, offset).map_err(|e| e.at_column(column))?;
    report(&piece, indicator, indicator)?;
    cursor.getdata.offset += piece.consumed;
    cursor.getdata.done = piece.complete;
    if let Some(warning) = piece.warning {
        w.push(warning.at_column(column));
    }
    Ok(Completion::Success)
}
