//! SQLBindParameter, SQLNumParams, SQLDescribeParam, SQLParamData, SQLPutData, and the
//! reading of bound parameter values (one row, or an array column-wise or row-wise)
//! into the one batch an execution sends.

use std::ffi::c_void;
use std::mem::size_of;

use odbc_sys::SqlReturn;
use twofactor_protocol::{RowBatch, RowBatchBuilder, ValueRef};

use super::call;
use super::fetch::bind_offset;
use crate::convert::{
    self, CType, ParamScratch, SQL_DATA_AT_EXEC, SQL_LEN_DATA_AT_EXEC_OFFSET, SQL_NTS, SQL_NULL_DATA,
};
use crate::desc::{DescData, DescRecord};
use crate::diag::{Completion, OdbcError, OdbcResult, SqlState};
use crate::stmt::dae::{DaeExec, DaeParam, DataAtExec, Piece};
use crate::stmt::{Inner, Statement};

const SQL_PARAM_INPUT: i16 = 1;
const SQL_PARAM_INPUT_OUTPUT: i16 = 2;
const SQL_PARAM_OUTPUT: i16 = 4;
const SQL_PARAM_SUCCESS: u16 = 0;
const SQL_PARAM_ERROR: u16 = 5;
const SQL_PARAM_UNUSED: u16 = 7;
const SQL_PARAM_IGNORE: u16 = 1;
/// Longest NUL-terminated parameter scanned when the application gave no buffer length.
const MAX_NTS: usize = 1 << 30;

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLBindParameter(
    stmt: *mut c_void,
    number: u16,
    io_type: i16,
    value_type: i16,
    parameter_type: i16,
    column_size: usize,
    decimal_digits: i16,
    value: *mut c_void,
    buffer_length: isize,
    indicator: *mut isize,
) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        if number == 0 {
            return Err(OdbcError::new(SqlState::INVALID_DESCRIPTOR_INDEX, "invalid descriptor index 0"));
        }
        match io_type {
            SQL_PARAM_INPUT => {}
            SQL_PARAM_INPUT_OUTPUT | SQL_PARAM_OUTPUT => return Err(OdbcError::not_capable("output parameters")),
            other => {
                return Err(OdbcError::new(SqlState::INVALID_PARAMETER_TYPE, format!("invalid parameter type {other}")))
            }
        }
        if CType::from_code(value_type).is_none() {
            return Err(OdbcError::new(
                SqlState::INVALID_C_TYPE,
                format!("invalid application buffer type {value_type}"),
            ));
        }
        if !convert::is_known_sql_type(parameter_type) {
            return Err(OdbcError::new(SqlState::INVALID_SQL_TYPE, format!("invalid SQL data type {parameter_type}")));
        }
        if buffer_length < 0 {
            return Err(OdbcError::buffer_length("BufferLength", buffer_length as i64));
        }
        if value.is_null() && indicator.is_null() {
            return Err(OdbcError::null_pointer("ParameterValuePtr and StrLen_or_IndPtr"));
        }
        let inner = s.lock_idle()?;
        let apd = s.apd(&inner);
        let mut apd = apd.lock();
        let a = apd.record_mut(number.into())?;
        a.concise_type = value_type;
        a.octet_length = buffer_length;
        a.data_ptr = value as usize;
        a.indicator_ptr = indicator as usize;
        a.octet_length_ptr = indicator as usize;
        a.precision = column_size.min(i16::MAX as usize) as i16;
        a.scale = decimal_digits;
        let mut ipd = s.ipd().lock();
        let i = ipd.record_mut(number.into())?;
        i.concise_type = convert::odbc3_sql_type(parameter_type);
        i.length = column_size;
        i.precision = column_size.min(i16::MAX as usize) as i16;
        i.scale = decimal_digits;
        i.parameter_type = io_type;
        Ok(Completion::Success)
    })
}

/// Bytes of a character or binary value: from the length/indicator, or up to the
/// terminating NUL (of `unit` bytes) for SQL_NTS.
///
/// # Safety
/// `data` is valid for `capacity` bytes when `capacity > 0`, else up to its NUL.
unsafe fn value_len(data: usize, indicator: isize, capacity: usize, unit: usize) -> OdbcResult<usize> {
    if indicator >= 0 {
        return Ok(indicator as usize);
    }
    if indicator != SQL_NTS {
        return Err(OdbcError::buffer_length("StrLen_or_IndPtr", indicator as i64));
    }
    let limit = if capacity > 0 { capacity / unit } else { MAX_NTS };
    let encoding = if unit == 1 { super::text::Encoding::Utf8 } else { super::text::wide_encoding() };
    Ok(super::text::nts_units(encoding, data as *const u8, limit) * unit)
}

/// What a bound parameter holds for one row.
enum ParamRead<'a> {
    Value(ValueRef<'a>),
    /// SQL_DATA_AT_EXEC / SQL_LEN_DATA_AT_EXEC(n): the data comes through SQLPutData;
    /// `token` is the row's ParameterValuePtr, which SQLParamData hands back.
    AtExec {
        token: usize,
        ctype: CType,
    },
}

/// The value of parameter record `rec` in row `row` of the parameter set.
///
/// # Safety
/// The record's addresses are the application's bound buffers.
unsafe fn read_param<'a>(
    apd: &DescData,
    rec: &DescRecord,
    sql: i16,
    offset: isize,
    row: usize,
    scratch: &'a mut ParamScratch,
) -> OdbcResult<ParamRead<'a>> {
    let ctype = CType::from_code(rec.concise_type)
        .ok_or_else(|| OdbcError::new(SqlState::INVALID_C_TYPE, "invalid application buffer type"))?;
    let ctype = if ctype == CType::Default { CType::default_for(sql) } else { ctype };
    let fixed = ctype.fixed_size();
    let capacity = rec.octet_length.max(0) as usize;
    let (data_stride, len_stride) = match apd.bind_type {
        0 => (fixed.unwrap_or(capacity), size_of::<isize>()),
        row_size => (row_size, row_size),
    };
    let at = |base: usize, stride: usize| {
        if base == 0 {
            0
        } else {
            (base as isize).wrapping_add(offset) as usize + row * stride
        }
    };
    let ind_addr = at(rec.indicator_ptr, len_stride);
    let len_addr = at(rec.octet_length_ptr, len_stride);
    let indicator = if ind_addr != 0 { (ind_addr as *const isize).read_unaligned() } else { SQL_NTS };
    if indicator == SQL_NULL_DATA {
        return Ok(ParamRead::Value(ValueRef::Null));
    }
    let data = at(rec.data_ptr, data_stride);
    if indicator == SQL_DATA_AT_EXEC || indicator <= SQL_LEN_DATA_AT_EXEC_OFFSET {
        // The buffer is never read: the application may have put any token there.
        return Ok(ParamRead::AtExec { token: data, ctype });
    }
    if data == 0 {
        return Err(OdbcError::null_pointer("ParameterValuePtr"));
    }
    let len = match fixed {
        Some(size) => size,
        None => {
            let length = if len_addr != 0 && len_addr != ind_addr {
                (len_addr as *const isize).read_unaligned()
            } else {
                indicator
            };
            let unit = if ctype == CType::WChar { super::text::wide_unit_size() } else { 1 };
            if ctype == CType::Binary && length < 0 {
                return Err(OdbcError::buffer_length("StrLen_or_IndPtr of a binary parameter", length as i64));
            }
            value_len(data, length, capacity, unit)?
        }
    };
    let bytes = std::slice::from_raw_parts(data as *const u8, len);
    convert::param_value(ctype, sql, bytes, scratch).map(ParamRead::Value)
}

/// The parameters of an execution: ready to send, or waiting for data-at-execution
/// values (listed in the order SQLParamData asks for them).
#[derive(Debug)]
pub(crate) enum Params {
    Ready(RowBatch, Vec<bool>),
    NeedData(Vec<DaeParam>),
}

/// The parameter rows of the next execution: APD count columns, PARAMSET_SIZE rows
/// (rows the application marked SQL_PARAM_IGNORE are left out); `prepared` checks every
/// marker of the prepared statement is bound. Returns the batch and,
/// for each array row, whether it was sent; or, when some parameters are
/// data-at-execution and `supplied` does not hold their values yet, those parameters.
///
/// # Safety
/// The APD's addresses are the application's bound buffers.
pub(crate) unsafe fn build_params(
    stmt: &Statement,
    inner: &mut Inner,
    prepared: bool,
    supplied: Option<&DataAtExec>,
) -> OdbcResult<Params> {
    let apd_desc = stmt.apd(inner);
    let apd = apd_desc.lock();
    let ipd = stmt.ipd().lock();
    let count = apd.records.len();
    if prepared && inner.described_params.len() > count {
        return Err(OdbcError::new(
            SqlState::WRONG_PARAM_COUNT,
            format!(
                "the statement has {} parameter markers but {count} parameters are bound",
                inner.described_params.len()
            ),
        ));
    }
    if count == 0 {
        return Ok(Params::Ready(RowBatchBuilder::new(0).finish(), Vec::new()));
    }
    let rows = apd.array_size.max(1);
    let offset = bind_offset(apd.bind_offset_ptr);
    let mut scratch = std::mem::take(&mut inner.param_scratch);
    // A first guess only (the builder grows): an array size times a record count must
    // not size an allocation by itself.
    let guess = rows.saturating_mul(count).saturating_mul(16).min(1 << 20);
    let mut builder = RowBatchBuilder::with_capacity(count as u16, guess);
    let mut sent = Vec::new();
    sent.try_reserve_exact(rows)
        .map_err(|_| OdbcError::new(SqlState::MEMORY_ALLOCATION, "memory allocation error: the parameter array"))?;
    let mut pending = Vec::new();
    let result = (|| {
        for row in 0..rows {
            let ignore = apd.array_status_ptr != 0
                && ((apd.array_status_ptr as *const u16).add(row)).read_unaligned() == SQL_PARAM_IGNORE;
            sent.push(!ignore);
            if ignore {
                continue;
            }
            for (p, rec) in apd.records.iter().enumerate() {
                if !rec.is_bound() {
                    return Err(OdbcError::new(
                        SqlState::WRONG_PARAM_COUNT,
                        format!("parameter {} is not bound", p + 1),
                    ));
                }
                let bound = ipd.record(p + 1).map_or(twofactor_protocol::sql_type::VARCHAR, |r| r.concise_type);
                let described = if prepared { inner.described_params.get(p).map(|d| d.sql_type) } else { None };
                let sql = convert::param_sql_type(bound, described);
                let at = |e: OdbcError| name_param(e, p + 1, row + 1, rows > 1);
                match read_param(&apd, rec, sql, offset, row, &mut scratch).map_err(at)? {
                    ParamRead::Value(value) => builder.push(value),
                    ParamRead::AtExec { token, ctype } => match supplied {
                        Some(d) => builder.push(d.value(row, p, &mut scratch).map_err(at)?),
                        None => {
                            pending.push(DaeParam { row, param: p, token, ctype, sql });
                            // A placeholder: this batch is not sent before the data came.
                            builder.push(ValueRef::Null);
                        }
                    },
                }
            }
            builder.end_row();
            crate::stmt::exec::check_param_data_size(builder.byte_len())?;
        }
        Ok(())
    })();
    inner.param_scratch = scratch;
    result?;
    if !pending.is_empty() {
        return Ok(Params::NeedData(pending));
    }
    Ok(Params::Ready(builder.finish(), sent))
}

/// A conversion error of parameter `param` (of row `row`, both from 1): the diagnostic
/// record says which, in its fields and its message.
fn name_param(mut e: OdbcError, param: usize, row: usize, array: bool) -> OdbcError {
    if e.state.0.starts_with(b"22") || e.state == SqlState::RESTRICTED_DATA_TYPE {
        e.message = match array {
            true => format!("parameter {param} of row {row}: {}", e.message),
            false => format!("parameter {param}: {}", e.message),
        };
    }
    e.at_row(row).at_column(param)
}

/// After an execution: SQL_ATTR_PARAMS_PROCESSED_PTR and SQL_ATTR_PARAM_STATUS_PTR.
///
/// # Safety
/// The IPD's addresses are the application's.
pub(crate) unsafe fn report_params(stmt: &Statement, sent: &[bool], ok: bool) {
    let ipd = stmt.ipd().lock();
    if ipd.rows_processed_ptr != 0 {
        let processed = sent.iter().filter(|&&s| s).count().max(usize::from(sent.is_empty()));
        (ipd.rows_processed_ptr as *mut usize).write_unaligned(processed);
    }
    if ipd.array_status_ptr != 0 {
        for (i, &s) in sent.iter().enumerate() {
            let status = match (s, ok) {
                (false, _) => SQL_PARAM_UNUSED,
                (true, true) => SQL_PARAM_SUCCESS,
                (true, false) => SQL_PARAM_ERROR,
            };
            ((ipd.array_status_ptr as *mut u16).add(i)).write_unaligned(status);
        }
    }
}

/// Parameter markers in statement text, outside quotes and comments.
pub(crate) fn count_markers(sql: &str) -> usize {
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => n += 1,
            _ => {}
        }
    }
    n
}

#[no_mangle]
pub unsafe extern "system" fn SQLNumParams(stmt: *mut c_void, count: *mut i16) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let inner = s.lock_idle()?;
        let n = if inner.prepared_id.is_some() {
            inner.described_params.len()
        } else if let Some(sql) = &inner.sql {
            count_markers(sql)
        } else {
            return Err(OdbcError::sequence("SQLNumParams before SQLPrepare"));
        };
        if !count.is_null() {
            count.write_unaligned(n.min(i16::MAX as usize) as i16);
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLDescribeParam(
    stmt: *mut c_void,
    number: u16,
    data_type: *mut i16,
    size: *mut usize,
    digits: *mut i16,
    nullable: *mut i16,
) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let inner = s.lock_idle()?;
        if inner.prepared_id.is_none() {
            return Err(OdbcError::sequence("SQLDescribeParam before SQLPrepare"));
        }
        let p = usize::from(number).checked_sub(1).and_then(|i| inner.described_params.get(i)).ok_or_else(|| {
            OdbcError::new(SqlState::INVALID_DESCRIPTOR_INDEX, format!("invalid descriptor index {number}"))
        })?;
        let sql = crate::stmt::columns::app_sql_type(p.sql_type, s.conn.odbc_version());
        if !data_type.is_null() {
            data_type.write_unaligned(if sql == 0 { twofactor_protocol::sql_type::VARCHAR } else { sql });
        }
        if !size.is_null() {
            size.write_unaligned(p.column_size as usize);
        }
        if !digits.is_null() {
            digits.write_unaligned(p.decimal_digits);
        }
        if !nullable.is_null() {
            nullable.write_unaligned(p.nullable.odbc_code());
        }
        Ok(Completion::Success)
    })
}

fn nothing_pending() -> OdbcError {
    OdbcError::sequence("no data-at-execution parameter is pending")
}

/// SQLParamData: names the next data-at-execution parameter by its token, or, once every
/// one has its data, runs the statement and answers as SQLExecute would.
#[no_mangle]
pub unsafe extern "system" fn SQLParamData(stmt: *mut c_void, value: *mut *mut c_void) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let mut inner = s.lock();
        let dae = inner.dae.as_mut().ok_or_else(nothing_pending)?;
        if let Some(token) = dae.next_param() {
            super::text::write_opt(value, token as *mut c_void);
            return Ok(Completion::NeedData);
        }
        // Whatever the execution's outcome, the sequence is over.
        let Some(dae) = inner.dae.take() else { return Err(nothing_pending()) };
        match build_params(s, &mut inner, dae.exec == DaeExec::Prepared, Some(&dae))? {
            Params::Ready(params, sent) => super::statement::run_execution(s, &mut inner, dae.exec, params, &sent),
            Params::NeedData(_) => {
                Err(OdbcError::new(SqlState::GENERAL_ERROR, "a parameter became data-at-execution after SQL_NEED_DATA"))
            }
        }
    })
}

/// The bytes of one SQLPutData piece for a parameter of C type `ctype`: a fixed-size
/// type is read whole whatever the length says; character and binary data by length
/// or, for character data, up to the NUL (SQL_NTS).
///
/// # Safety
/// `data` is the application's buffer, valid for what `len` and `ctype` say.
unsafe fn read_piece<'a>(data: *const c_void, len: isize, ctype: CType) -> OdbcResult<Piece<'a>> {
    if len == SQL_NULL_DATA {
        return Ok(Piece::Null);
    }
    if let Some(size) = ctype.fixed_size() {
        if data.is_null() {
            return Err(OdbcError::null_pointer("DataPtr"));
        }
        return Ok(Piece::Bytes(std::slice::from_raw_parts(data as *const u8, size)));
    }
    if len == 0 {
        return Ok(Piece::Bytes(&[]));
    }
    if len < 0 && (ctype == CType::Binary || len != SQL_NTS) {
        return Err(OdbcError::buffer_length("StrLen_or_Ind", len as i64));
    }
    if data.is_null() {
        return Err(OdbcError::null_pointer("DataPtr"));
    }
    let unit = if ctype == CType::WChar { super::text::wide_unit_size() } else { 1 };
    let n = value_len(data as usize, len, 0, unit)?;
    Ok(Piece::Bytes(std::slice::from_raw_parts(data as *const u8, n)))
}

/// SQLPutData: one more piece of the parameter the last SQLParamData named.
#[no_mangle]
pub unsafe extern "system" fn SQLPutData(stmt: *mut c_void, data: *mut c_void, len: isize) -> SqlReturn {
    call::<Statement, _>(stmt, |s, _| {
        let mut inner = s.lock();
        let dae = inner.dae.as_mut().ok_or_else(nothing_pending)?;
        let piece = read_piece(data, len, dae.current_ctype()?)?;
        dae.put(piece)?;
        Ok(Completion::Success)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_inside_quotes_and_comments_are_not_counted() {
        assert_eq!(count_markers("SELECT ? , '?', \"a?\" -- ?\n, ?"), 2);
        assert_eq!(count_markers("INSERT INTO t VALUES (?, ?, ?)"), 3);
    }
}
