//! Descriptors: the application row and parameter descriptors (ARD, APD), where bound
//! buffers are recorded, and the implementation ones (IRD, IPD), which describe result
//! columns and parameters. Every statement has four implicit ones, registered as handles
//! so SQLGetStmtAttr(10010..10013) can return them; applications may allocate explicit
//! ARDs/APDs. Application pointers are kept as plain addresses: only `ffi` dereferences.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use twofactor_protocol::ColumnDesc;

use crate::conn::Connection;
use crate::diag::{DiagArea, OdbcError, OdbcResult, SqlState};
use crate::handles::{self, RawHandle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescKind {
    Ard,
    Apd,
    Ird,
    Ipd,
}

/// Field identifiers (SQLGetDescField/SQLSetDescField).
pub mod field {
    pub const ARRAY_SIZE: i16 = 20;
    pub const ARRAY_STATUS_PTR: i16 = 21;
    pub const BIND_OFFSET_PTR: i16 = 24;
    pub const BIND_TYPE: i16 = 25;
    pub const ROWS_PROCESSED_PTR: i16 = 34;
    pub const COUNT: i16 = 1001;
    pub const ALLOC_TYPE: i16 = 1099;
    pub const CONCISE_TYPE: i16 = 2;
    pub const TYPE: i16 = 1002;
    pub const LENGTH: i16 = 1003;
    pub const OCTET_LENGTH_PTR: i16 = 1004;
    pub const PRECISION: i16 = 1005;
    pub const SCALE: i16 = 1006;
    pub const DATETIME_INTERVAL_CODE: i16 = 1007;
    pub const NULLABLE: i16 = 1008;
    pub const INDICATOR_PTR: i16 = 1009;
    pub const DATA_PTR: i16 = 1010;
    pub const NAME: i16 = 1011;
    pub const UNNAMED: i16 = 1012;
    pub const OCTET_LENGTH: i16 = 1013;
    pub const PARAMETER_TYPE: i16 = 33;
}

/// The most records a descriptor holds: SQL_DESC_COUNT and record numbers are
/// SQLSMALLINTs, so 32767 is the highest one an application can read back.
pub const MAX_RECORDS: usize = i16::MAX as usize;

/// The largest row or parameter array (SQL_DESC_ARRAY_SIZE, SQL_ATTR_ROW_ARRAY_SIZE,
/// SQL_ATTR_PARAMSET_SIZE, SQL_ROWSET_SIZE). A parameter array travels as one request of
/// at most 64 MiB, so more rows than this could never be sent anyway; refusing here
/// (HY024) keeps an application's mistake (a pointer passed as a size) from sizing an
/// allocation.
pub const MAX_ARRAY_SIZE: usize = 1 << 20;

/// Checks an array size an application sets: 1..=MAX_ARRAY_SIZE, else HY024.
pub fn check_array_size(what: &str, v: i64) -> OdbcResult<usize> {
    match usize::try_from(v) {
        Ok(n) if (1..=MAX_ARRAY_SIZE).contains(&n) => Ok(n),
        _ => Err(OdbcError::new(
            SqlState::INVALID_ATTRIBUTE_VALUE,
            format!("invalid attribute value: {what} must be between 1 and {MAX_ARRAY_SIZE}, not {v}"),
        )),
    }
}

/// The record count an application asks for (SQL_DESC_COUNT, a record number):
/// 0..=MAX_RECORDS, else 07009.
fn check_record_count(what: &str, n: i64) -> OdbcResult<usize> {
    match usize::try_from(n) {
        Ok(n) if n <= MAX_RECORDS => Ok(n),
        _ => Err(OdbcError::new(
            SqlState::INVALID_DESCRIPTOR_INDEX,
            format!("invalid descriptor index: {what} {n} is outside 0..={MAX_RECORDS}"),
        )),
    }
}

/// SQL_DATETIME, the verbose type of every date/time concise type.
const SQL_DATETIME: i16 = 9;

/// The verbose type and interval code of a concise (SQL or C) type.
pub fn verbose_type(concise: i16) -> (i16, i16) {
    match concise {
        91 | 9 => (SQL_DATETIME, 1),
        92 | 10 => (SQL_DATETIME, 2),
        93 | 11 => (SQL_DATETIME, 3),
        other => (other, 0),
    }
}

/// The concise type of a verbose type and interval code.
pub fn concise_type(verbose: i16, code: i16) -> i16 {
    if verbose == SQL_DATETIME {
        match code {
            1 => 91,
            2 => 92,
            _ => 93,
        }
    } else {
        verbose
    }
}

/// One record: a bound column or parameter (ARD/APD), or a parameter's SQL description
/// (IPD). Column records of the IRD come from the result's `ColumnDesc`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescRecord {
    pub concise_type: i16,
    pub octet_length: isize,
    pub length: usize,
    pub precision: i16,
    pub scale: i16,
    pub data_ptr: usize,
    pub indicator_ptr: usize,
    pub octet_length_ptr: usize,
    pub nullable: i16,
    pub name: String,
    pub unnamed: i16,
    /// IPD: SQL_PARAM_INPUT (1) etc.
    pub parameter_type: i16,
}

impl Default for DescRecord {
    fn default() -> Self {
        // SQL_C_DEFAULT for application records, as ODBC initialises them.
        DescRecord {
            concise_type: 99,
            octet_length: 0,
            length: 0,
            precision: 0,
            scale: 0,
            data_ptr: 0,
            indicator_ptr: 0,
            octet_length_ptr: 0,
            nullable: 1,
            name: String::new(),
            unnamed: 1,
            parameter_type: 1,
        }
    }
}

impl DescRecord {
    pub fn is_bound(&self) -> bool {
        self.data_ptr != 0 || self.indicator_ptr != 0 || self.octet_length_ptr != 0
    }
}

/// The header and records of a descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescData {
    pub array_size: usize,
    pub array_status_ptr: usize,
    pub bind_offset_ptr: usize,
    /// 0 = column-wise binding, else the size of one row's structure.
    pub bind_type: usize,
    pub rows_processed_ptr: usize,
    /// Records 1..; index 0 is record 1 (bookmarks are not supported).
    pub records: Vec<DescRecord>,
    /// IRD: the result set's columns.
    pub columns: Vec<ColumnDesc>,
}

impl Default for DescData {
    fn default() -> Self {
        DescData {
            array_size: 1,
            array_status_ptr: 0,
            bind_offset_ptr: 0,
            bind_type: 0,
            rows_processed_ptr: 0,
            records: Vec::new(),
            columns: Vec::new(),
        }
    }
}

impl DescData {
    /// SQL_DESC_COUNT: the highest record number (IRD: the column count).
    pub fn count(&self, kind: DescKind) -> usize {
        match kind {
            DescKind::Ird => self.columns.len(),
            _ => self.records.len(),
        }
    }

    /// Record `n` (1-based), created on demand, as SQLBindCol and SQLSetDescField do.
    /// 0 or above MAX_RECORDS is 07009; memory that cannot be had is HY001.
    pub fn record_mut(&mut self, n: usize) -> OdbcResult<&mut DescRecord> {
        if n == 0 {
            return Err(OdbcError::new(SqlState::INVALID_DESCRIPTOR_INDEX, "invalid descriptor index 0"));
        }
        let n = check_record_count("record number", i64::try_from(n).unwrap_or(i64::MAX))?;
        if self.records.len() < n {
            self.set_count(n)?;
        }
        Ok(&mut self.records[n - 1])
    }

    /// Grows or shrinks the records to `n` (at most MAX_RECORDS, checked by the callers),
    /// reserving fallibly so that a failed allocation is HY001, not an abort.
    fn set_count(&mut self, n: usize) -> OdbcResult<()> {
        debug_assert!(n <= MAX_RECORDS);
        if let Some(more) = n.checked_sub(self.records.len()) {
            self.records.try_reserve_exact(more).map_err(|_| {
                OdbcError::new(SqlState::MEMORY_ALLOCATION, format!("memory allocation error: {n} descriptor records"))
            })?;
        }
        self.records.resize_with(n, DescRecord::default);
        Ok(())
    }

    pub fn record(&self, n: usize) -> Option<&DescRecord> {
        n.checked_sub(1).and_then(|i| self.records.get(i))
    }

    /// Unbinds record `n` and drops trailing unbound records, so COUNT is the highest
    /// bound record as ODBC says.
    pub fn unbind(&mut self, n: usize) {
        if let Some(r) = n.checked_sub(1).and_then(|i| self.records.get_mut(i)) {
            *r = DescRecord::default();
        }
        while self.records.last().is_some_and(|r| !r.is_bound()) {
            self.records.pop();
        }
    }
}

/// A value of a descriptor field, as SQLGetDescField returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Int(i64),
    Ptr(usize),
    Str(String),
}

pub struct Descriptor {
    pub(crate) diagnostics: DiagArea,
    pub kind: DescKind,
    /// Allocated by the application (SQLAllocHandle(SQL_HANDLE_DESC)).
    pub explicit: bool,
    pub conn: Arc<Connection>,
    data: Mutex<DescData>,
    freed: AtomicBool,
}

impl Descriptor {
    pub fn new(conn: Arc<Connection>, kind: DescKind, explicit: bool) -> Self {
        Descriptor {
            diagnostics: DiagArea::default(),
            kind,
            explicit,
            conn,
            data: Mutex::default(),
            freed: AtomicBool::new(false),
        }
    }

    /// The header and records. Lock order: statement state → application descriptor →
    /// implementation descriptor; never the other way round.
    pub fn lock(&self) -> MutexGuard<'_, DescData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn diagnostics(&self) -> &DiagArea {
        &self.diagnostics
    }

    /// An explicit descriptor the application freed: statements using it fall back to
    /// their implicit one.
    pub fn is_freed(&self) -> bool {
        self.freed.load(Ordering::Acquire)
    }

    /// SQLGetDescField for header and record fields (IRD column details come from
    /// `stmt::columns`, which this calls through `column_field`).
    pub fn get_field(&self, record: i16, id: i16) -> OdbcResult<FieldValue> {
        let d = self.lock();
        let header = match id {
            field::ARRAY_SIZE => Some(FieldValue::Int(d.array_size as i64)),
            field::ARRAY_STATUS_PTR => Some(FieldValue::Ptr(d.array_status_ptr)),
            field::BIND_OFFSET_PTR => Some(FieldValue::Ptr(d.bind_offset_ptr)),
            field::BIND_TYPE => Some(FieldValue::Int(d.bind_type as i64)),
            field::ROWS_PROCESSED_PTR => Some(FieldValue::Ptr(d.rows_processed_ptr)),
            field::COUNT => Some(FieldValue::Int(d.count(self.kind).min(MAX_RECORDS) as i64)),
            field::ALLOC_TYPE => Some(FieldValue::Int(if self.explicit { 2 } else { 1 })),
            _ => None,
        };
        if let Some(v) = header {
            return Ok(v);
        }
        if record < 1 {
            return Err(OdbcError::new(
                SqlState::INVALID_DESCRIPTOR_INDEX,
                format!("invalid descriptor index {record}"),
            ));
        }
        let n = record as usize;
        if self.kind == DescKind::Ird {
            let col = d.columns.get(n - 1).ok_or_else(|| no_record(record))?;
            return crate::stmt::columns::descriptor_field(col, id, self.conn.odbc_version());
        }
        let default = DescRecord::default();
        let r = d.record(n).unwrap_or(&default);
        let (verbose, code) = verbose_type(r.concise_type);
        Ok(match id {
            field::CONCISE_TYPE => FieldValue::Int(r.concise_type.into()),
            field::TYPE => FieldValue::Int(verbose.into()),
            field::DATETIME_INTERVAL_CODE => FieldValue::Int(code.into()),
            field::OCTET_LENGTH => FieldValue::Int(r.octet_length as i64),
            field::LENGTH => FieldValue::Int(r.length as i64),
            field::PRECISION => FieldValue::Int(r.precision.into()),
            field::SCALE => FieldValue::Int(r.scale.into()),
            field::DATA_PTR => FieldValue::Ptr(r.data_ptr),
            field::INDICATOR_PTR => FieldValue::Ptr(r.indicator_ptr),
            field::OCTET_LENGTH_PTR => FieldValue::Ptr(r.octet_length_ptr),
            field::NULLABLE => FieldValue::Int(r.nullable.into()),
            field::NAME => FieldValue::Str(r.name.clone()),
            field::UNNAMED => FieldValue::Int(r.unnamed.into()),
            field::PARAMETER_TYPE if self.kind == DescKind::Ipd => FieldValue::Int(r.parameter_type.into()),
            _ => return Err(unknown_field(id)),
        })
    }

    /// SQLSetDescField. Pointer fields arrive as addresses, numbers as integers.
    pub fn set_field(&self, record: i16, id: i16, value: FieldValue) -> OdbcResult<()> {
        if self.kind == DescKind::Ird && !matches!(id, field::ARRAY_STATUS_PTR | field::ROWS_PROCESSED_PTR) {
            return Err(OdbcError::new(SqlState(*b"HY016"), "cannot modify an implementation row descriptor"));
        }
        let int = || match &value {
            FieldValue::Int(v) => Ok(*v),
            FieldValue::Ptr(p) => Ok(*p as i64),
            FieldValue::Str(_) => Err(OdbcError::invalid_value("descriptor field", 0)),
        };
        let ptr = || match &value {
            FieldValue::Ptr(p) => *p,
            FieldValue::Int(v) => *v as usize,
            FieldValue::Str(_) => 0,
        };
        let mut d = self.lock();
        match id {
            field::ARRAY_SIZE => d.array_size = check_array_size("SQL_DESC_ARRAY_SIZE", int()?)?,
            field::ARRAY_STATUS_PTR => d.array_status_ptr = ptr(),
            field::BIND_OFFSET_PTR => d.bind_offset_ptr = ptr(),
            field::BIND_TYPE => d.bind_type = int()?.max(0) as usize,
            field::ROWS_PROCESSED_PTR => d.rows_processed_ptr = ptr(),
            field::ALLOC_TYPE => {
                return Err(OdbcError::new(SqlState::INVALID_DESCRIPTOR_FIELD, "SQL_DESC_ALLOC_TYPE is read-only"))
            }
            field::COUNT => {
                let n = check_record_count("SQL_DESC_COUNT", int()?)?;
                d.set_count(n)?;
            }
            _ => {
                if record < 1 {
                    return Err(OdbcError::new(
                        SqlState::INVALID_DESCRIPTOR_INDEX,
                        format!("invalid descriptor index {record}"),
                    ));
                }
                let r = d.record_mut(record as usize)?;
                match id {
                    field::CONCISE_TYPE => r.concise_type = int()? as i16,
                    field::TYPE => {
                        let code = verbose_type(r.concise_type).1;
                        r.concise_type = concise_type(int()? as i16, code);
                    }
                    field::DATETIME_INTERVAL_CODE => {
                        let verbose = verbose_type(r.concise_type).0;
                        r.concise_type = concise_type(verbose, int()? as i16);
                    }
                    field::OCTET_LENGTH => r.octet_length = int()? as isize,
                    field::LENGTH => r.length = int()?.max(0) as usize,
                    field::PRECISION => r.precision = int()? as i16,
                    field::SCALE => r.scale = int()? as i16,
                    field::DATA_PTR => r.data_ptr = ptr(),
                    field::INDICATOR_PTR => r.indicator_ptr = ptr(),
                    field::OCTET_LENGTH_PTR => r.octet_length_ptr = ptr(),
                    field::NULLABLE => {
                        return Err(OdbcError::new(
                            SqlState::INVALID_DESCRIPTOR_FIELD,
                            "SQL_DESC_NULLABLE is read-only",
                        ))
                    }
                    field::NAME => {
                        if let FieldValue::Str(s) = &value {
                            r.name = s.clone();
                            r.unnamed = 0;
                        }
                    }
                    field::UNNAMED => r.unnamed = int()? as i16,
                    field::PARAMETER_TYPE => r.parameter_type = int()? as i16,
                    _ => return Err(unknown_field(id)),
                }
            }
        }
        Ok(())
    }

    /// SQLCopyDesc: everything but the allocation type. An IRD source copies its column
    /// descriptions into records.
    pub fn copy_from(&self, source: &Descriptor) -> OdbcResult<()> {
        if self.kind == DescKind::Ird {
            return Err(OdbcError::new(SqlState(*b"HY016"), "cannot modify an implementation row descriptor"));
        }
        if std::ptr::eq(self, source) {
            return Ok(());
        }
        let mut copy = source.lock().clone();
        if source.kind == DescKind::Ird {
            copy.records = copy
                .columns
                .iter()
                .map(|c| DescRecord {
                    concise_type: c.sql_type,
                    length: c.column_size as usize,
                    precision: c.column_size.min(i16::MAX as u32) as i16,
                    scale: c.decimal_digits,
                    nullable: c.nullable.odbc_code(),
                    name: c.name.clone(),
                    unnamed: i16::from(c.name.is_empty()),
                    ..DescRecord::default()
                })
                .collect();
            copy.columns.clear();
        }
        *self.lock() = copy;
        Ok(())
    }
}

fn no_record(record: i16) -> OdbcError {
    OdbcError::new(SqlState::INVALID_DESCRIPTOR_INDEX, format!("invalid descriptor index {record}"))
}

fn unknown_field(id: i16) -> OdbcError {
    OdbcError::new(SqlState::INVALID_DESCRIPTOR_FIELD, format!("invalid descriptor field identifier {id}"))
}

/// SQLAllocHandle(SQL_HANDLE_DESC): an explicit descriptor on `conn`.
pub fn allocate_explicit(conn: &Arc<Connection>) -> OdbcResult<RawHandle> {
    let d = Arc::new(Descriptor::new(Arc::clone(conn), DescKind::Ard, true));
    let raw = handles::register(d).ok_or_else(|| OdbcError::new(SqlState::MEMORY_ALLOCATION, "too many handles"))?;
    conn.descriptors.lock().unwrap_or_else(|e| e.into_inner()).push(raw);
    Ok(raw)
}

/// SQLFreeHandle(SQL_HANDLE_DESC). False for anything but a live explicit descriptor
/// (an implicit one is freed with its statement: HY017 for the caller).
pub fn free_explicit(raw: RawHandle) -> bool {
    match handles::lookup::<Descriptor>(raw) {
        Some(d) if d.explicit => {}
        _ => return false,
    }
    let Some(d) = handles::unregister::<Descriptor>(raw) else { return false };
    d.freed.store(true, Ordering::Release);
    d.conn.descriptors.lock().unwrap_or_else(|e| e.into_inner()).retain(|&h| h != raw);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(kind: DescKind) -> Descriptor {
        let env = Arc::new(crate::env::Environment::new());
        Descriptor::new(Arc::new(Connection::new(env, 0)), kind, false)
    }

    #[test]
    fn setting_a_record_field_creates_the_record_and_raises_the_count() {
        let d = desc(DescKind::Ard);
        d.set_field(3, field::CONCISE_TYPE, FieldValue::Int(4)).unwrap();
        assert_eq!(d.get_field(0, field::COUNT).unwrap(), FieldValue::Int(3));
        assert_eq!(d.get_field(3, field::CONCISE_TYPE).unwrap(), FieldValue::Int(4));
        assert_eq!(d.get_field(1, field::CONCISE_TYPE).unwrap(), FieldValue::Int(99), "SQL_C_DEFAULT");
    }

    #[test]
    fn date_types_split_into_verbose_type_and_interval_code() {
        let d = desc(DescKind::Apd);
        d.set_field(1, field::CONCISE_TYPE, FieldValue::Int(93)).unwrap();
        assert_eq!(d.get_field(1, field::TYPE).unwrap(), FieldValue::Int(9));
        assert_eq!(d.get_field(1, field::DATETIME_INTERVAL_CODE).unwrap(), FieldValue::Int(3));
        d.set_field(1, field::DATETIME_INTERVAL_CODE, FieldValue::Int(1)).unwrap();
        assert_eq!(d.get_field(1, field::CONCISE_TYPE).unwrap(), FieldValue::Int(91));
    }

    #[test]
    fn unbinding_the_last_record_lowers_the_count() {
        let d = desc(DescKind::Ard);
        d.set_field(1, field::DATA_PTR, FieldValue::Ptr(0x1000)).unwrap();
        d.set_field(2, field::DATA_PTR, FieldValue::Ptr(0x2000)).unwrap();
        d.lock().unbind(2);
        assert_eq!(d.get_field(0, field::COUNT).unwrap(), FieldValue::Int(1));
    }

    #[test]
    fn an_ird_is_read_only_and_bad_fields_and_indexes_are_refused() {
        let d = desc(DescKind::Ird);
        assert_eq!(d.set_field(1, field::CONCISE_TYPE, FieldValue::Int(4)).unwrap_err().state.as_str(), "HY016");
        let a = desc(DescKind::Ard);
        assert_eq!(a.get_field(1, 4242).unwrap_err().state, SqlState::INVALID_DESCRIPTOR_FIELD);
        assert_eq!(
            a.set_field(0, field::DATA_PTR, FieldValue::Ptr(1)).unwrap_err().state,
            SqlState::INVALID_DESCRIPTOR_INDEX
        );
        assert_eq!(
            a.set_field(0, field::ARRAY_SIZE, FieldValue::Int(0)).unwrap_err().state,
            SqlState::INVALID_ATTRIBUTE_VALUE
        );
    }

    #[test]
    fn a_count_beyond_a_smallint_is_refused_before_anything_is_allocated() {
        for kind in [DescKind::Ard, DescKind::Apd, DescKind::Ipd] {
            let d = desc(kind);
            for n in [32768, 65535, 100_000, 1 << 31, i64::MAX, -1] {
                let e = d.set_field(0, field::COUNT, FieldValue::Int(n)).unwrap_err();
                assert_eq!(e.state, SqlState::INVALID_DESCRIPTOR_INDEX, "{kind:?} {n}");
            }
            // A pointer passed by mistake.
            let e = d.set_field(0, field::COUNT, FieldValue::Ptr(0x7fff_1234_5678)).unwrap_err();
            assert_eq!(e.state, SqlState::INVALID_DESCRIPTOR_INDEX);
            assert_eq!(d.get_field(0, field::COUNT).unwrap(), FieldValue::Int(0), "nothing changed");
            d.set_field(0, field::COUNT, FieldValue::Int(32767)).unwrap();
            assert_eq!(d.get_field(0, field::COUNT).unwrap(), FieldValue::Int(32767));
            d.set_field(0, field::COUNT, FieldValue::Int(2)).unwrap();
            assert_eq!(d.get_field(0, field::COUNT).unwrap(), FieldValue::Int(2));
        }
    }

    #[test]
    fn records_are_numbered_up_to_32767_only() {
        let mut data = DescData::default();
        assert_eq!(data.record_mut(0).unwrap_err().state, SqlState::INVALID_DESCRIPTOR_INDEX);
        assert_eq!(data.record_mut(32768).unwrap_err().state, SqlState::INVALID_DESCRIPTOR_INDEX);
        assert_eq!(data.record_mut(65535).unwrap_err().state, SqlState::INVALID_DESCRIPTOR_INDEX);
        assert!(data.records.is_empty());
        data.record_mut(32767).unwrap().scale = 3;
        assert_eq!(data.records.len(), 32767);
    }

    #[test]
    fn array_sizes_are_bounded() {
        let d = desc(DescKind::Apd);
        for v in [0, -1, MAX_ARRAY_SIZE as i64 + 1, 1 << 40] {
            let e = d.set_field(0, field::ARRAY_SIZE, FieldValue::Int(v)).unwrap_err();
            assert_eq!(e.state, SqlState::INVALID_ATTRIBUTE_VALUE, "{v}");
        }
        d.set_field(0, field::ARRAY_SIZE, FieldValue::Int(MAX_ARRAY_SIZE as i64)).unwrap();
        assert_eq!(d.get_field(0, field::ARRAY_SIZE).unwrap(), FieldValue::Int(MAX_ARRAY_SIZE as i64));
    }

    #[test]
    fn copying_a_descriptor_copies_header_and_records() {
        let a = desc(DescKind::Ard);
        a.set_field(0, field::ARRAY_SIZE, FieldValue::Int(10)).unwrap();
        a.set_field(2, field::OCTET_LENGTH, FieldValue::Int(64)).unwrap();
        let b = desc(DescKind::Apd);
        b.copy_from(&a).unwrap();
        assert_eq!(b.get_field(0, field::ARRAY_SIZE).unwrap(), FieldValue::Int(10));
        assert_eq!(b.get_field(2, field::OCTET_LENGTH).unwrap(), FieldValue::Int(64));
    }
}
