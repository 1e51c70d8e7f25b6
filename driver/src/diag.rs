//! Diagnostics: SQLSTATEs, the error type every safe function returns, and the records a
//! handle keeps for SQLGetDiagRec / SQLGetDiagField.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI16, Ordering};
use std::sync::{LockResult, Mutex, MutexGuard};

/// A five-character SQLSTATE.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlState(pub [u8; 5]);

impl SqlState {
    pub const GENERAL_WARNING: SqlState = SqlState(*b"01000");
    pub const STRING_TRUNCATED: SqlState = SqlState(*b"01004");
    pub const OPTION_VALUE_CHANGED: SqlState = SqlState(*b"01S02");
    pub const ERROR_IN_ROW: SqlState = SqlState(*b"01S01");
    pub const WRONG_PARAM_COUNT: SqlState = SqlState(*b"07002");
    pub const RESTRICTED_DATA_TYPE: SqlState = SqlState(*b"07006");
    pub const INVALID_DESCRIPTOR_INDEX: SqlState = SqlState(*b"07009");
    pub const UNABLE_TO_CONNECT: SqlState = SqlState(*b"08001");
    pub const CONNECTION_IN_USE: SqlState = SqlState(*b"08002");
    pub const CONNECTION_NOT_OPEN: SqlState = SqlState(*b"08003");
    pub const CONNECTION_REJECTED: SqlState = SqlState(*b"08004");
    pub const COMMUNICATION_LINK_FAILURE: SqlState = SqlState(*b"08S01");
    pub const NOT_CAPABLE: SqlState = SqlState(*b"HYC00");
    pub const STRING_RIGHT_TRUNCATED: SqlState = SqlState(*b"22001");
    pub const INDICATOR_REQUIRED: SqlState = SqlState(*b"22002");
    pub const NUMERIC_OUT_OF_RANGE: SqlState = SqlState(*b"22003");
    pub const INVALID_DATETIME_FORMAT: SqlState = SqlState(*b"22007");
    pub const DATETIME_OVERFLOW: SqlState = SqlState(*b"22008");
    pub const INVALID_CHARACTER_VALUE: SqlState = SqlState(*b"22018");
    pub const FRACTIONAL_TRUNCATION: SqlState = SqlState(*b"01S07");
    pub const INTEGRITY_CONSTRAINT: SqlState = SqlState(*b"23000");
    pub const INVALID_CURSOR_STATE: SqlState = SqlState(*b"24000");
    pub const INVALID_TRANSACTION_STATE: SqlState = SqlState(*b"25000");
    pub const INVALID_AUTHORIZATION: SqlState = SqlState(*b"28000");
    pub const INVALID_CURSOR_NAME: SqlState = SqlState(*b"34000");
    pub const SYNTAX_ERROR: SqlState = SqlState(*b"42000");
    pub const GENERAL_ERROR: SqlState = SqlState(*b"HY000");
    pub const MEMORY_ALLOCATION: SqlState = SqlState(*b"HY001");
    pub const INVALID_C_TYPE: SqlState = SqlState(*b"HY003");
    pub const INVALID_SQL_TYPE: SqlState = SqlState(*b"HY004");
    pub const OPERATION_CANCELLED: SqlState = SqlState(*b"HY008");
    pub const INVALID_NULL_POINTER: SqlState = SqlState(*b"HY009");
    pub const FUNCTION_SEQUENCE_ERROR: SqlState = SqlState(*b"HY010");
    pub const ATTRIBUTE_CANNOT_BE_SET_NOW: SqlState = SqlState(*b"HY011");
    pub const INVALID_TRANSACTION_OPCODE: SqlState = SqlState(*b"HY012");
    pub const INVALID_DESCRIPTOR_USE: SqlState = SqlState(*b"HY017");
    pub const INVALID_ATTRIBUTE_VALUE: SqlState = SqlState(*b"HY024");
    pub const INVALID_BUFFER_LENGTH: SqlState = SqlState(*b"HY090");
    pub const INVALID_DESCRIPTOR_FIELD: SqlState = SqlState(*b"HY091");
    pub const INVALID_ATTRIBUTE: SqlState = SqlState(*b"HY092");
    pub const INVALID_INFO_TYPE: SqlState = SqlState(*b"HY096");
    pub const INVALID_PRECISION_OR_SCALE: SqlState = SqlState(*b"HY104");
    pub const INVALID_PARAMETER_TYPE: SqlState = SqlState(*b"HY105");
    pub const FETCH_TYPE_OUT_OF_RANGE: SqlState = SqlState(*b"HY106");
    pub const INVALID_CURSOR_POSITION: SqlState = SqlState(*b"HY109");
    pub const INVALID_DRIVER_COMPLETION: SqlState = SqlState(*b"HY110");
    pub const TIMEOUT_EXPIRED: SqlState = SqlState(*b"HYT00");
    pub const CONNECTION_TIMEOUT: SqlState = SqlState(*b"HYT01");
    pub const DRIVER_NOT_CAPABLE: SqlState = SqlState(*b"HYC00");
    pub const FUNCTION_NOT_SUPPORTED: SqlState = SqlState(*b"IM001");
    pub const DIALOG_FAILED: SqlState = SqlState(*b"IM008");

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("HY000")
    }

    /// Class "01" is a warning: the call still succeeds, with info.
    pub fn is_warning(&self) -> bool {
        self.0.starts_with(b"01")
    }

    /// The ODBC 2 SQLSTATE an ODBC 2 application expects for this ODBC 3 one.
    pub fn odbc2(&self) -> SqlState {
        match &self.0 {
            b"07005" => SqlState(*b"24000"),
            b"07009" => SqlState(*b"S1002"),
            b"42000" => SqlState(*b"37000"),
            b"42S01" => SqlState(*b"S0001"),
            b"42S02" => SqlState(*b"S0002"),
            b"42S11" => SqlState(*b"S0011"),
            b"42S12" => SqlState(*b"S0012"),
            b"42S21" => SqlState(*b"S0021"),
            b"42S22" => SqlState(*b"S0022"),
            b"HY019" => SqlState(*b"22003"),
            b"HY024" => SqlState(*b"S1009"),
            b"HYT00" => SqlState(*b"S1T00"),
            s if s.starts_with(b"HY") => {
                let mut v = *s;
                v[0] = b'S';
                v[1] = b'1';
                SqlState(v)
            }
            _ => *self,
        }
    }
}

impl fmt::Debug for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who raised a diagnostic; it decides the `[Vendor][Component]` prefix of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Driver,
    Server,
}

pub const VENDOR_PREFIX: &str = "[TwoFactor][ODBC Driver]";

/// An error, or a warning, from a driver function. Safe code returns `Err(OdbcError)`;
/// the FFI layer turns it into a diagnostic record and `SQL_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdbcError {
    pub state: SqlState,
    pub native: i32,
    pub message: String,
    pub origin: Origin,
    /// Row (1-based) of a row array or parameter array the record belongs to, if any.
    pub row: Option<usize>,
    /// Column or parameter number the record belongs to, if any.
    pub column: Option<usize>,
}

impl OdbcError {
    pub fn new(state: SqlState, message: impl Into<String>) -> Self {
        OdbcError { state, native: 0, message: message.into(), origin: Origin::Driver, row: None, column: None }
    }

    pub fn server(state: SqlState, native: i32, message: impl Into<String>) -> Self {
        OdbcError { state, native, message: message.into(), origin: Origin::Server, row: None, column: None }
    }

    pub fn with_native(mut self, native: i32) -> Self {
        self.native = native;
        self
    }

    pub fn at_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }

    pub fn at_column(mut self, column: usize) -> Self {
        self.column = Some(column);
        self
    }

    /// The message as the application sees it, with the vendor prefix.
    pub fn full_message(&self) -> String {
        match self.origin {
            Origin::Driver => format!("{VENDOR_PREFIX} {}", self.message),
            Origin::Server => format!("{VENDOR_PREFIX}[Server] {}", self.message),
        }
    }

    // Constructors for the errors every module raises; the messages say what to fix.
    pub fn null_pointer(what: &str) -> Self {
        Self::new(SqlState::INVALID_NULL_POINTER, format!("invalid use of null pointer: {what}"))
    }
    pub fn buffer_length(what: &str, len: i64) -> Self {
        Self::new(SqlState::INVALID_BUFFER_LENGTH, format!("invalid string or buffer length {len} for {what}"))
    }
    pub fn sequence(what: &str) -> Self {
        Self::new(SqlState::FUNCTION_SEQUENCE_ERROR, format!("function sequence error: {what}"))
    }
    pub fn not_connected() -> Self {
        Self::new(SqlState::CONNECTION_NOT_OPEN, "connection not open")
    }
    pub fn unknown_attribute(attr: i32) -> Self {
        Self::new(SqlState::INVALID_ATTRIBUTE, format!("invalid attribute/option identifier {attr}"))
    }
    pub fn invalid_value(what: &str, value: i64) -> Self {
        Self::new(SqlState::INVALID_ATTRIBUTE_VALUE, format!("invalid value {value} for {what}"))
    }
    pub fn not_capable(what: &str) -> Self {
        Self::new(SqlState::NOT_CAPABLE, format!("optional feature not implemented: {what}"))
    }
    pub fn truncated(what: &str) -> Self {
        Self::new(SqlState::STRING_TRUNCATED, format!("string data, right truncated: {what}"))
    }
}

impl fmt::Display for OdbcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, native {})", self.full_message(), self.state, self.native)
    }
}

impl std::error::Error for OdbcError {}

pub type OdbcResult<T> = Result<T, OdbcError>;

/// What a successful call reports besides its warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Success,
    NoData,
    NeedData,
}

/// The diagnostic area of one handle: header fields and the records of the last call.
#[derive(Debug, Default)]
pub struct Diagnostics {
    records: Vec<OdbcError>,
    /// SQL_DIAG_ROW_COUNT: rows affected by the last statement.
    pub row_count: i64,
    /// SQL_DIAG_DYNAMIC_FUNCTION(_CODE) of the last executed statement.
    pub dynamic_function: Option<(&'static str, i32)>,
}

impl Diagnostics {
    /// Every function but the diagnostic ones starts by clearing the area.
    pub fn clear(&mut self) {
        self.records.clear();
    }

    pub fn push(&mut self, record: OdbcError) {
        // Errors before warnings, as ODBC orders records by rank.
        if record.state.is_warning() {
            self.records.push(record);
        } else {
            let first_warning = self.records.iter().position(|r| r.state.is_warning()).unwrap_or(self.records.len());
            self.records.insert(first_warning, record);
        }
    }

    pub fn warn(&mut self, state: SqlState, message: impl Into<String>) {
        self.push(OdbcError::new(state, message));
    }

    pub fn has_warnings(&self) -> bool {
        self.records.iter().any(|r| r.state.is_warning())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record `n`, 1-based as in SQLGetDiagRec.
    pub fn record(&self, n: usize) -> Option<&OdbcError> {
        n.checked_sub(1).and_then(|i| self.records.get(i))
    }

    pub fn records(&self) -> &[OdbcError] {
        &self.records
    }

    /// The ODBC 2 SQLError path consumes records one by one.
    pub fn take_first(&mut self) -> Option<OdbcError> {
        (!self.records.is_empty()).then(|| self.records.remove(0))
    }
}

/// A handle's diagnostic area: the records behind their lock, and lock-free answers to
/// the two things every call does to it (clear it, record its return code). A call that
/// succeeds without warnings on an area already empty takes no lock at all, which is
/// most SQLFetch and SQLGetData calls.
#[derive(Debug, Default)]
pub struct DiagArea {
    /// False only while the records are known to be empty. Whoever takes the lock may
    /// push, so `lock` sets it (under the lock); `clear` resets it after clearing, under
    /// the lock too, so the last holder of the lock decides it.
    may_have_records: AtomicBool,
    /// SQL_DIAG_RETURNCODE of the last call.
    return_code: AtomicI16,
    records: Mutex<Diagnostics>,
}

impl DiagArea {
    /// The records, to read or change. Marks the area as possibly not empty.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, Diagnostics>> {
        let guard = self.records.lock();
        self.may_have_records.store(true, Ordering::Release);
        guard
    }

    /// Every function but the diagnostic ones starts by clearing the area; an area
    /// known to be empty is left alone without taking the lock.
    pub fn clear(&self) {
        if !self.may_have_records.load(Ordering::Acquire) {
            return;
        }
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.clear();
        self.may_have_records.store(false, Ordering::Release);
    }

    /// Whether the records may hold something (false: certainly empty).
    pub fn may_have_records(&self) -> bool {
        self.may_have_records.load(Ordering::Acquire)
    }

    pub fn set_return_code(&self, code: i16) {
        self.return_code.store(code, Ordering::Relaxed);
    }

    pub fn return_code(&self) -> i16 {
        self.return_code.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_rank_before_warnings_whatever_order_they_arrive_in() {
        let mut d = Diagnostics::default();
        d.warn(SqlState::STRING_TRUNCATED, "w");
        d.push(OdbcError::new(SqlState::GENERAL_ERROR, "e"));
        assert_eq!(d.record(1).unwrap().state, SqlState::GENERAL_ERROR);
        assert_eq!(d.record(2).unwrap().state, SqlState::STRING_TRUNCATED);
        assert!(d.record(0).is_none() && d.record(3).is_none());
    }

    #[test]
    fn odbc2_states_follow_the_odbc_mapping() {
        assert_eq!(SqlState::SYNTAX_ERROR.odbc2().as_str(), "37000");
        assert_eq!(SqlState::INVALID_NULL_POINTER.odbc2().as_str(), "S1009");
        assert_eq!(SqlState::INVALID_ATTRIBUTE_VALUE.odbc2().as_str(), "S1009");
        assert_eq!(SqlState::INVALID_AUTHORIZATION.odbc2().as_str(), "28000");
    }

    #[test]
    fn server_messages_carry_the_server_component() {
        let e = OdbcError::server(SqlState::INVALID_AUTHORIZATION, 1002, "two-factor code rejected");
        assert_eq!(e.full_message(), "[TwoFactor][ODBC Driver][Server] two-factor code rejected");
    }
}
