//! Descriptor exports: SQLGetDescField(W), SQLSetDescField(W), SQLGetDescRec(W),
//! SQLSetDescRec, SQLCopyDesc.

use std::ffi::c_void;

use odbc_sys::SqlReturn;

use super::call;
use super::text::{read_str, write_fixed, write_opt, write_str, write_str_bytes, AppChar};
use crate::desc::{field, verbose_type, DescKind, Descriptor, FieldValue};
use crate::diag::{Completion, OdbcError, OdbcResult, SqlState};
use crate::handles;

/// Bytes of an integer field as ODBC types it (SQLSMALLINT unless listed).
fn int_width(id: i16) -> usize {
    match id {
        field::ARRAY_SIZE | field::LENGTH | field::OCTET_LENGTH | 6 => std::mem::size_of::<isize>(),
        field::BIND_TYPE | 11 | 12 | 26 | 32 => 4,
        _ => 2,
    }
}

fn is_pointer_field(id: i16) -> bool {
    matches!(
        id,
        field::ARRAY_STATUS_PTR
            | field::BIND_OFFSET_PTR
            | field::ROWS_PROCESSED_PTR
            | field::DATA_PTR
            | field::INDICATOR_PTR
            | field::OCTET_LENGTH_PTR
    )
}

fn is_string_field(id: i16) -> bool {
    matches!(id, field::NAME | 14 | 15 | 16 | 17 | 18 | 22 | 23 | 27 | 28 | 29)
}

unsafe fn get_desc_field<C: AppChar>(
    desc: *mut c_void,
    record: i16,
    id: i16,
    value: *mut c_void,
    buffer_length: i32,
    length: *mut i32,
) -> SqlReturn {
    call::<Descriptor, _>(desc, |d, w| {
        let v = d.get_field(record, id)?;
        if value.is_null() && !matches!(v, FieldValue::Str(_)) {
            return Err(OdbcError::null_pointer("ValuePtr"));
        }
        match v {
            FieldValue::Str(s) => {
                if write_str_bytes(&s, value as *mut C, buffer_length as isize, length, "ValuePtr")? {
                    w.push(OdbcError::truncated("descriptor field"));
                }
            }
            FieldValue::Ptr(p) => write_fixed(value, p, length),
            FieldValue::Int(i) => match int_width(id) {
                2 => write_fixed(value, i as i16, length),
                4 => write_fixed(value, i as i32, length),
                _ => write_fixed(value, i as isize, length),
            },
        }
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetDescField(
    desc: *mut c_void,
    record: i16,
    id: i16,
    value: *mut c_void,
    buffer_length: i32,
    length: *mut i32,
) -> SqlReturn {
    get_desc_field::<u8>(desc, record, id, value, buffer_length, length)
}

#[no_mangle]
pub unsafe extern "system" fn SQLGetDescFieldW(
    desc: *mut c_void,
    record: i16,
    id: i16,
    value: *mut c_void,
    buffer_length: i32,
    length: *mut i32,
) -> SqlReturn {
    get_desc_field::<u16>(desc, record, id, value, buffer_length, length)
}

unsafe fn set_desc_field<C: AppChar>(
    desc: *mut c_void,
    record: i16,
    id: i16,
    value: *mut c_void,
    buffer_length: i32,
) -> SqlReturn {
    call::<Descriptor, _>(desc, |d, _| {
        let v = if is_pointer_field(id) {
            FieldValue::Ptr(value as usize)
        } else if is_string_field(id) {
            let len = if buffer_length >= 0 {
                buffer_length as isize / C::unit_size() as isize
            } else {
                buffer_length as isize
            };
            FieldValue::Str(read_str(value as *const C, len, "ValuePtr")?.unwrap_or_default())
        } else {
            FieldValue::Int(value as isize as i64)
        };
        d.set_field(record, id, v)?;
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetDescField(
    desc: *mut c_void,
    record: i16,
    id: i16,
    value: *mut c_void,
    buffer_length: i32,
) -> SqlReturn {
    set_desc_field::<u8>(desc, record, id, value, buffer_length)
}

#[no_mangle]
pub unsafe extern "system" fn SQLSetDescFieldW(
    desc: *mut c_void,
    record: i16,
    id: i16,
    value: *mut c_void,
    buffer_length: i32,
) -> SqlReturn {
    set_desc_field::<u16>(desc, record, id, value, buffer_length)
}

fn int_of(v: OdbcResult<FieldValue>) -> OdbcResult<i64> {
    match v? {
        FieldValue::Int(i) => Ok(i),
        FieldValue::Ptr(p) => Ok(p as i64),
        FieldValue::Str(_) => Ok(0),
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn get_desc_rec<C: AppChar>(
    desc: *mut c_void,
    record: i16,
    name: *mut C,
    buffer_length: i16,
    name_length: *mut i16,
    data_type: *mut i16,
    subtype: *mut i16,
    length: *mut isize,
    precision: *mut i16,
    scale: *mut i16,
    nullable: *mut i16,
) -> SqlReturn {
    call::<Descriptor, _>(desc, |d, w| {
        if record < 1 {
            return Err(OdbcError::new(
                SqlState::INVALID_DESCRIPTOR_INDEX,
                "invalid descriptor index: bookmarks are not supported",
            ));
        }
        if int_of(d.get_field(0, field::COUNT))? < i64::from(record) {
            return Ok(Completion::NoData);
        }
        let concise = int_of(d.get_field(record, field::CONCISE_TYPE))? as i16;
        let (verbose, code) = verbose_type(concise);
        if let FieldValue::Str(n) = d.get_field(record, field::NAME)? {
            if write_str(&n, name, buffer_length.into(), name_length, "Name")? {
                w.push(OdbcError::truncated("descriptor record name"));
            }
        }
        let put16 = |p: *mut i16, v: i64| write_opt(p, v as i16);
        put16(data_type, verbose.into());
        put16(subtype, code.into());
        if !length.is_null() {
            length.write_unaligned(int_of(d.get_field(record, field::OCTET_LENGTH))? as isize);
        }
        put16(precision, int_of(d.get_field(record, field::PRECISION))?);
        put16(scale, int_of(d.get_field(record, field::SCALE))?);
        put16(nullable, int_of(d.get_field(record, field::NULLABLE))?);
        Ok(Completion::Success)
    })
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLGetDescRec(
    desc: *mut c_void,
    record: i16,
    name: *mut u8,
    buffer_length: i16,
    name_length: *mut i16,
    data_type: *mut i16,
    subtype: *mut i16,
    length: *mut isize,
    precision: *mut i16,
    scale: *mut i16,
    nullable: *mut i16,
) -> SqlReturn {
    get_desc_rec(desc, record, name, buffer_length, name_length, data_type, subtype, length, precision, scale, nullable)
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLGetDescRecW(
    desc: *mut c_void,
    record: i16,
    name: *mut u16,
    buffer_length: i16,
    name_length: *mut i16,
    data_type: *mut i16,
    subtype: *mut i16,
    length: *mut isize,
    precision: *mut i16,
    scale: *mut i16,
    nullable: *mut i16,
) -> SqlReturn {
    get_desc_rec(desc, record, name, buffer_length, name_length, data_type, subtype, length, precision, scale, nullable)
}

#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "system" fn SQLSetDescRec(
    desc: *mut c_void,
    record: i16,
    data_type: i16,
    subtype: i16,
    length: isize,
    precision: i16,
    scale: i16,
    data: *mut c_void,
    string_length: *mut isize,
    indicator: *mut isize,
) -> SqlReturn {
    call::<Descriptor, _>(desc, |d, _| {
        d.set_field(record, field::TYPE, FieldValue::Int(data_type.into()))?;
        if data_type == 9 {
            d.set_field(record, field::DATETIME_INTERVAL_CODE, FieldValue::Int(subtype.into()))?;
        }
        d.set_field(record, field::OCTET_LENGTH, FieldValue::Int(length as i64))?;
        d.set_field(record, field::PRECISION, FieldValue::Int(precision.into()))?;
        d.set_field(record, field::SCALE, FieldValue::Int(scale.into()))?;
        d.set_field(record, field::DATA_PTR, FieldValue::Ptr(data as usize))?;
        d.set_field(record, field::OCTET_LENGTH_PTR, FieldValue::Ptr(string_length as usize))?;
        d.set_field(record, field::INDICATOR_PTR, FieldValue::Ptr(indicator as usize))?;
        Ok(Completion::Success)
    })
}

#[no_mangle]
pub unsafe extern "system" fn SQLCopyDesc(source: *mut c_void, target: *mut c_void) -> SqlReturn {
    let Some(src) = handles::lookup::<Descriptor>(source as usize) else {
        return SqlReturn::INVALID_HANDLE;
    };
    call::<Descriptor, _>(target, |t, _| {
        if src.kind == DescKind::Ird && src.lock().columns.is_empty() {
            return Err(OdbcError::sequence("the source IRD has no result set"));
        }
        t.copy_from(&src)?;
        Ok(Completion::Success)
    })
}
