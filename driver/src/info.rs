//! SQLGetInfo: what the driver and the data source can do. Values describe SQLite behind
//! the TwoFactor server and the two cursors of this driver: forward-only (streaming) and
//! static (a read-only snapshot, `stmt::scroll`). unixODBC loads its cursor library for
//! SQL_CUR_USE_IF_NEEDED only when SQL_STATIC_CURSOR_ATTRIBUTES1 lacks SQL_CA1_ABSOLUTE
//! (SQL_FETCH_DIRECTION lacks SQL_FD_FETCH_PRIOR for ODBC 2 drivers), so both say so.

use crate::conn::Connection;
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// An info value: a string, or a 16/32-bit integer as the info type prescribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InfoValue {
    Str(String),
    U16(u16),
    U32(u32),
}

pub const DRIVER_NAME: &str = "libtwofactorodbc.so";
pub const DBMS_NAME: &str = "TwoFactor SQLite";

/// `MM.mm.rrrr` as ODBC wants driver versions.
fn driver_version() -> String {
    let v = |s: &str| s.parse::<u32>().unwrap_or(0);
    format!(
        "{:02}.{:02}.{:04}",
        v(env!("CARGO_PKG_VERSION_MAJOR")),
        v(env!("CARGO_PKG_VERSION_MINOR")),
        v(env!("CARGO_PKG_VERSION_PATCH"))
    )
}

// Bitmask values from sqlext.h.
const SQL_GD_ANY_COLUMN: u32 = 1;
const SQL_GD_ANY_ORDER: u32 = 2;
const SQL_GD_BLOCK: u32 = 4;
const SQL_GD_BOUND: u32 = 8;
const SQL_CB_CLOSE: u16 = 1;
const SQL_TC_ALL: u16 = 2;
const SQL_TXN_SERIALIZABLE: u32 = 8;
const SQL_SO_FORWARD_ONLY: u32 = 1;
const SQL_SO_STATIC: u32 = 0x10;
const SQL_FD_FETCH_ALL_BUT_BOOKMARK: u32 = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20; // NEXT FIRST LAST PRIOR ABSOLUTE RELATIVE
const SQL_CA1_NEXT: u32 = 1;
const SQL_CA1_ABSOLUTE: u32 = 2;
const SQL_CA1_RELATIVE: u32 = 4;
const SQL_CA1_LOCK_NO_CHANGE: u32 = 0x40;
const SQL_CA1_POS_POSITION: u32 = 0x200;
const SQL_CA1_POS_REFRESH: u32 = 0x1000;
const SQL_CA2_READ_ONLY_CONCURRENCY: u32 = 1;
const SQL_CA2_MAX_ROWS_SELECT: u32 = 0x80;
const SQL_CA2_CRC_EXACT: u32 = 0x1000;
const SQL_LCK_NO_CHANGE: u32 = 1;
const SQL_POS_POSITION: u32 = 1;
const SQL_POS_REFRESH: u32 = 2;
/// What SQLSetPos does on a rowset of either cursor.
const CA1_POSITIONING: u32 = SQL_CA1_LOCK_NO_CHANGE | SQL_CA1_POS_POSITION | SQL_CA1_POS_REFRESH;
const SQL_PARC_NO_BATCH: u32 = 2;
const SQL_PAS_NO_SELECT: u32 = 3;
const SQL_SC_SQL92_ENTRY: u32 = 1;
const SQL_OIC_CORE: u32 = 1;
const SQL_NC_LOW: u16 = 1;
const SQL_CB_NULL: u16 = 0;
const SQL_IC_MIXED: u16 = 4;
const SQL_IC_SENSITIVE: u16 = 3;
const SQL_AM_NONE: u32 = 0;
const SQL_TXN_CAPABLE_ALL: u16 = SQL_TC_ALL;
const SQL_CN_ANY: u16 = 2;
const SQL_NNC_NON_NULL: u16 = 1;
const SQL_GB_GROUP_BY_CONTAINS_SELECT: u16 = 2;
const SQL_OAC_LEVEL1: u16 = 1;
const SQL_OSC_CORE: u16 = 1;
const SQL_U_UNION_ALL: u32 = 3;
const SQL_SQ_ALL: u32 = 0x1F;
const SQL_OJ_LEFT_NOTORDERED_ALL: u32 = 0x01 | 0x08 | 0x10 | 0x20 | 0x40;
const SQL_FILE_NOT_SUPPORTED: u16 = 0;
const SQL_CL_START: u16 = 1;
const SQL_QL_START: u16 = SQL_CL_START;

// Scalar functions SQLite offers under their ODBC names.
const STRING_FUNCTIONS: u32 = 0x1 /*CONCAT*/ | 0x8 /*LTRIM*/ | 0x10 /*LENGTH*/ | 0x40 /*LCASE*/
    | 0x100 /*REPLACE*/ | 0x400 /*RTRIM*/ | 0x800 /*SUBSTRING*/ | 0x1000 /*UCASE*/ | 0x4000 /*CHAR*/;
const NUMERIC_FUNCTIONS: u32 = 0x1 /*ABS*/ | 0x20 /*CEILING*/ | 0x200 /*FLOOR*/ | 0x800 /*MOD*/
    | 0x1000 /*SIGN*/ | 0x20000 /*RAND*/ | 0x400000 /*ROUND*/;
const TIMEDATE_FUNCTIONS: u32 = 0x1 /*NOW*/ | 0x2 /*CURDATE*/ | 0x200 /*CURTIME*/
    | 0x20000 /*CURRENT_DATE*/ | 0x40000 /*CURRENT_TIME*/ | 0x80000 /*CURRENT_TIMESTAMP*/;
const SYSTEM_FUNCTIONS: u32 = 0x4; /* IFNULL */
const AGGREGATE_FUNCTIONS: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20; /* ALL AVG COUNT DISTINCT MAX MIN SUM */

const KEYWORDS: &str = "ABORT,ANALYZE,ATTACH,AUTOINCREMENT,CONFLICT,DATABASE,DETACH,EXCLUSIVE,EXPLAIN,\
GLOB,IF,IGNORE,INDEXED,INSTEAD,ISNULL,LIMIT,NOTNULL,OFFSET,PLAN,PRAGMA,QUERY,RAISE,RECURSIVE,\
REGEXP,REINDEX,RENAME,REPLACE,ROW,TEMP,VACUUM,VIRTUAL,WITHOUT";

/// The value of `info_type` for this connection; HY096 for a type ODBC does not define
/// (or this driver does not know).
pub fn get_info(conn: &Connection, info_type: u16) -> OdbcResult<InfoValue> {
    use InfoValue::{Str, U16, U32};
    let info = conn.info();
    let s = |v: &str| Str(v.to_string());
    Ok(match info_type {
        0 => U16(0),                                                        // MAX_DRIVER_CONNECTIONS: no limit
        1 => U16(0), // MAX_CONCURRENT_ACTIVITIES: statements drain each other's cursors
        2 => Str(info.as_ref().map(|i| i.dsn.clone()).unwrap_or_default()), // DATA_SOURCE_NAME
        6 => s(DRIVER_NAME),
        7 => Str(driver_version()),
        8 => U32(SQL_FD_FETCH_ALL_BUT_BOOKMARK), // FETCH_DIRECTION (ODBC 2)
        9 => U16(SQL_OAC_LEVEL1),                // ODBC_API_CONFORMANCE
        10 => s("03.80.0000"),                   // ODBC_VER (the DM answers it)
        11 => s("N"),                            // ROW_UPDATES
        12 => U16(1),                            // ODBC_SAG_CLI_CONFORMANCE
        13 => Str(info.as_ref().map(|i| i.server_name.clone()).unwrap_or_default()), // SERVER_NAME
        14 => s("\\"),                           // SEARCH_PATTERN_ESCAPE
        15 => U16(SQL_OSC_CORE),                 // ODBC_SQL_CONFORMANCE
        16 => s("main"),                         // DATABASE_NAME
        17 => s(DBMS_NAME),
        18 => s("03.00.0000"),                                                // DBMS_VER
        19 => s("Y"),                                                         // ACCESSIBLE_TABLES
        20 => s("Y"),                                                         // ACCESSIBLE_PROCEDURES
        21 => s("N"),                                                         // PROCEDURES
        22 => U16(SQL_CB_NULL),                                               // CONCAT_NULL_BEHAVIOR
        23 | 24 => U16(SQL_CB_CLOSE),                                         // CURSOR_COMMIT/ROLLBACK_BEHAVIOR
        25 => s(if conn.access_mode_read_only() { "Y" } else { "N" }),        // DATA_SOURCE_READ_ONLY
        26 => U32(SQL_TXN_SERIALIZABLE),                                      // DEFAULT_TXN_ISOLATION
        27 => s("Y"),                                                         // EXPRESSIONS_IN_ORDERBY
        28 => U16(SQL_IC_MIXED),                                              // IDENTIFIER_CASE
        29 => s("\""),                                                        // IDENTIFIER_QUOTE_CHAR
        30 | 31 | 32 | 34 | 35 => U16(128), // MAX_COLUMN/CURSOR/SCHEMA/CATALOG/TABLE_NAME_LEN
        33 => U16(0),                       // MAX_PROCEDURE_NAME_LEN
        36 => s("N"),                       // MULT_RESULT_SETS
        37 => s("Y"),                       // MULTIPLE_ACTIVE_TXN
        38 => s("Y"),                       // OUTER_JOINS (ODBC 2)
        39 => s("schema"),                  // SCHEMA_TERM
        40 => s("procedure"),               // PROCEDURE_TERM
        41 => s("."),                       // CATALOG_NAME_SEPARATOR
        42 => s("catalog"),                 // CATALOG_TERM
        43 => U32(1),                       // SCROLL_CONCURRENCY: SQL_SCCO_READ_ONLY
        44 => U32(SQL_SO_FORWARD_ONLY | SQL_SO_STATIC), // SCROLL_OPTIONS
        45 => s("table"),                   // TABLE_TERM
        46 => U16(SQL_TXN_CAPABLE_ALL),     // TXN_CAPABLE
        47 => Str(info.as_ref().map(|i| i.user.clone()).unwrap_or_default()), // USER_NAME
        48 => U32(0),                       // CONVERT_FUNCTIONS
        49 => U32(NUMERIC_FUNCTIONS),
        50 => U32(STRING_FUNCTIONS),
        51 => U32(SYSTEM_FUNCTIONS),
        52 => U32(TIMEDATE_FUNCTIONS),
        53..=71 | 122 | 123 | 124 | 125 | 126 | 173 => U32(0), // CONVERT_*: no CONVERT function
        72 => U32(SQL_TXN_SERIALIZABLE),                       // TXN_ISOLATION_OPTION
        73 => s("N"),                                          // INTEGRITY
        74 => U16(SQL_CN_ANY),                                 // CORRELATION_NAME
        75 => U16(SQL_NNC_NON_NULL),                           // NON_NULLABLE_COLUMNS
        77 => s("03.80"),                                      // DRIVER_ODBC_VER
        78 => U32(SQL_LCK_NO_CHANGE),                          // LOCK_TYPES
        79 => U32(SQL_POS_POSITION | SQL_POS_REFRESH),         // POS_OPERATIONS
        80 => U32(0),                                          // POSITIONED_STATEMENTS
        81 => U32(SQL_GD_ANY_COLUMN | SQL_GD_ANY_ORDER | SQL_GD_BLOCK | SQL_GD_BOUND),
        82 => U32(0),                      // BOOKMARK_PERSISTENCE
        83 => U32(0),                      // STATIC_SENSITIVITY: a snapshot sees no changes
        84 => U16(SQL_FILE_NOT_SUPPORTED), // FILE_USAGE
        85 => U16(SQL_NC_LOW),             // NULL_COLLATION: NULLs sort first ascending
        86 => U32(0x1 | 0x20),             // ALTER_TABLE: ADD COLUMN, ADD COLUMN DEFAULT
        87 => s("Y"),                      // COLUMN_ALIAS
        88 => U16(SQL_GB_GROUP_BY_CONTAINS_SELECT),
        89 => s(KEYWORDS),
        90 => s("N"),                                   // ORDER_BY_COLUMNS_IN_SELECT
        91 | 92 => U32(0),                              // SCHEMA_USAGE, CATALOG_USAGE
        93 => U16(SQL_IC_SENSITIVE),                    // QUOTED_IDENTIFIER_CASE
        94 => s(""),                                    // SPECIAL_CHARACTERS
        95 => U32(SQL_SQ_ALL),                          // SUBQUERIES
        96 => U32(SQL_U_UNION_ALL),                     // UNION
        97 | 98 | 99 | 100 | 101 | 106 => U16(0),       // MAX_COLUMNS_IN_*, MAX_TABLES_IN_SELECT: no limit
        102 | 104 | 105 | 108 | 112 => U32(0),          // MAX_INDEX_SIZE, ROW_SIZE, STATEMENT_LEN, literals
        103 => s("Y"),                                  // MAX_ROW_SIZE_INCLUDES_LONG
        107 => U16(128),                                // MAX_USER_NAME_LEN
        109 | 110 => U32(0),                            // TIMEDATE_ADD/DIFF_INTERVALS
        111 => s("N"),                                  // NEED_LONG_DATA_LEN
        113 => s("Y"),                                  // LIKE_ESCAPE_CLAUSE
        114 => U16(SQL_QL_START),                       // CATALOG_LOCATION
        115 | 65003 => U32(SQL_OJ_LEFT_NOTORDERED_ALL), // OJ_CAPABILITIES
        116 => U32(0),                                  // ACTIVE_ENVIRONMENTS: no limit
        117 => U32(0),                                  // ALTER_DOMAIN
        118 => U32(SQL_SC_SQL92_ENTRY),                 // SQL_CONFORMANCE
        119 => U32(0x1 | 0x2 | 0x4),                    // DATETIME_LITERALS: DATE, TIME, TIMESTAMP
        120 => U32(0),                                  // BATCH_ROW_COUNT
        121 => U32(0),                                  // BATCH_SUPPORT
        127..=143 => U32(0),                            // CREATE_*/DROP_* details, CURSOR_SENSITIVITY-ish
        144 | 145 | 150 | 151 => U32(0),                // DYNAMIC/KEYSET cursor attributes: none
        146 => U32(SQL_CA1_NEXT | CA1_POSITIONING),     // FORWARD_ONLY_CURSOR_ATTRIBUTES1
        167 => U32(SQL_CA1_NEXT | SQL_CA1_ABSOLUTE | SQL_CA1_RELATIVE | CA1_POSITIONING), // STATIC_CURSOR_ATTRIBUTES1
        168 => U32(SQL_CA2_READ_ONLY_CONCURRENCY | SQL_CA2_MAX_ROWS_SELECT | SQL_CA2_CRC_EXACT), // ..2
        147 => U32(SQL_CA2_READ_ONLY_CONCURRENCY | SQL_CA2_MAX_ROWS_SELECT), // ..2
        148 => U32(0),                                  // INDEX_KEYWORDS
        149 => U32(0),                                  // INFO_SCHEMA_VIEWS
        152 => U32(SQL_OIC_CORE),                       // ODBC_INTERFACE_CONFORMANCE
        153 => U32(SQL_PARC_NO_BATCH),                  // PARAM_ARRAY_ROW_COUNTS
        154 => U32(SQL_PAS_NO_SELECT),                  // PARAM_ARRAY_SELECTS
        155..=166 => U32(0),                            // SQL92_* details
        169 => U32(AGGREGATE_FUNCTIONS),
        170 => U32(0x1 | 0x2),       // DDL_INDEX: CREATE, DROP
        171 => s("03.80.0000.0000"), // DM_VER (the DM answers it)
        172 => U32(0x1 | 0x2 | 0x4), // INSERT_STATEMENT
        10000 => s("1995"),          // XOPEN_CLI_YEAR
        10001 => U32(0),             // CURSOR_SENSITIVITY: SQL_UNSPECIFIED
        10002 => s("Y"),             // DESCRIBE_PARAMETER
        10003 => s("Y"),             // CATALOG_NAME
        10004 => s(""),              // COLLATION_SEQ
        10005 => U16(128),           // MAX_IDENTIFIER_LEN
        10021 => U32(SQL_AM_NONE),   // ASYNC_MODE
        10022 => U32(0),             // MAX_ASYNC_CONCURRENT_STATEMENTS
        10023 => U32(0),             // ASYNC_DBC_FUNCTIONS: not capable
        10024 => U32(0),             // DRIVER_AWARE_POOLING_SUPPORTED: not aware
        10025 => U32(0),             // ASYNC_NOTIFICATION: not capable
        other => {
            return Err(OdbcError::new(SqlState::INVALID_INFO_TYPE, format!("information type {other} out of range")))
        }
    })
}

/// Info types that are answered with a handle-sized value by the DM only.
pub fn is_dm_only(info_type: u16) -> bool {
    matches!(info_type, 3 | 4 | 5 | 76 | 135)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn conn() -> Connection {
        Connection::new(Arc::new(crate::env::Environment::new()), 0)
    }

    #[test]
    fn every_info_type_pyodbc_asks_has_an_answer() {
        let c = conn();
        assert_eq!(get_info(&c, 77).unwrap(), InfoValue::Str("03.80".into()));
        assert_eq!(get_info(&c, 10002).unwrap(), InfoValue::Str("Y".into()));
        assert_eq!(get_info(&c, 111).unwrap(), InfoValue::Str("N".into()));
        assert_eq!(get_info(&c, 17).unwrap(), InfoValue::Str("TwoFactor SQLite".into()));
        assert_eq!(get_info(&c, 23).unwrap(), InfoValue::U16(1));
        assert_eq!(get_info(&c, 24).unwrap(), InfoValue::U16(1));
    }

    #[test]
    fn unknown_info_types_are_hy096() {
        assert_eq!(get_info(&conn(), 9999).unwrap_err().state, SqlState::INVALID_INFO_TYPE);
    }

    #[test]
    fn getdata_extensions_allow_any_column_any_order_block_and_bound() {
        assert_eq!(get_info(&conn(), 81).unwrap(), InfoValue::U32(0xF));
    }

    #[test]
    fn static_cursors_scroll_so_unixodbc_never_needs_its_cursor_library() {
        let c = conn();
        let InfoValue::U32(static1) = get_info(&c, 167).unwrap() else { panic!() };
        assert_ne!(static1 & SQL_CA1_ABSOLUTE, 0, "unixODBC's SQL_CUR_USE_IF_NEEDED test");
        assert_ne!(static1 & SQL_CA1_POS_POSITION, 0);
        let InfoValue::U32(fd) = get_info(&c, 8).unwrap() else { panic!() };
        assert_ne!(fd & 0x08, 0, "SQL_FD_FETCH_PRIOR, the ODBC 2 test");
        assert_eq!(get_info(&c, 44).unwrap(), InfoValue::U32(0x11));
        assert_eq!(get_info(&c, 79).unwrap(), InfoValue::U32(3));
        assert_eq!(get_info(&c, 150).unwrap(), InfoValue::U32(0), "no keyset cursors");
    }

    #[test]
    fn driver_version_has_the_odbc_shape() {
        let v = driver_version();
        assert_eq!(v.len(), 10, "{v}");
        assert_eq!(&v[2..3], ".");
    }
}
