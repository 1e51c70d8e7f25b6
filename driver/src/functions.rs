//! SQLGetFunctions: exactly the functions this library exports (its own and the
//! statement layer's). The driver manager maps the ODBC 2 option functions itself.

pub const SQL_API_ALL_FUNCTIONS: u16 = 0;
pub const SQL_API_ODBC3_ALL_FUNCTIONS: u16 = 999;
pub const SQL_API_ODBC3_ALL_FUNCTIONS_SIZE: usize = 250;
pub const ODBC2_ALL_FUNCTIONS_SIZE: usize = 100;

/// SQL_API_* identifiers of the exported functions.
pub const EXPORTED: &[u16] = &[
    // Handles, environment, connection, diagnostics.
    1,    // SQLAllocConnect
    2,    // SQLAllocEnv
    3,    // SQLAllocStmt
    1001, // SQLAllocHandle
    14,   // SQLFreeConnect
    15,   // SQLFreeEnv
    1006, // SQLFreeHandle
    1019, // SQLSetEnvAttr
    1012, // SQLGetEnvAttr
    7,    // SQLConnect
    41,   // SQLDriverConnect
    55,   // SQLBrowseConnect
    9,    // SQLDisconnect
    45,   // SQLGetInfo
    44,   // SQLGetFunctions
    1007, // SQLGetConnectAttr
    1016, // SQLSetConnectAttr
    1005, // SQLEndTran
    23,   // SQLTransact
    62,   // SQLNativeSql
    1011, // SQLGetDiagRec
    1010, // SQLGetDiagField
    10,   // SQLError
    // Statements.
    16,   // SQLFreeStmt
    11,   // SQLExecDirect
    19,   // SQLPrepare
    12,   // SQLExecute
    72,   // SQLBindParameter
    63,   // SQLNumParams
    58,   // SQLDescribeParam
    18,   // SQLNumResultCols
    8,    // SQLDescribeCol
    6,    // SQLColAttribute
    4,    // SQLBindCol
    13,   // SQLFetch
    1021, // SQLFetchScroll
    59,   // SQLExtendedFetch
    68,   // SQLSetPos
    43,   // SQLGetData
    20,   // SQLRowCount
    61,   // SQLMoreResults
    1003, // SQLCloseCursor
    5,    // SQLCancel
    1014, // SQLGetStmtAttr
    1020, // SQLSetStmtAttr
    42,   // SQLGetConnectOption
    46,   // SQLGetStmtOption
    50,   // SQLSetConnectOption
    51,   // SQLSetStmtOption
    17,   // SQLGetCursorName
    21,   // SQLSetCursorName
    48,   // SQLParamData
    49,   // SQLPutData
    // Catalog.
    54, // SQLTables
    40, // SQLColumns
    65, // SQLPrimaryKeys
    53, // SQLStatistics
    52, // SQLSpecialColumns
    60, // SQLForeignKeys
    47, // SQLGetTypeInfo
    67, // SQLProcedures
    66, // SQLProcedureColumns
    70, // SQLTablePrivileges
    56, // SQLColumnPrivileges
    // Descriptors.
    1008, // SQLGetDescField
    1017, // SQLSetDescField
    1009, // SQLGetDescRec
    1018, // SQLSetDescRec
    1004, // SQLCopyDesc
];

pub fn is_supported(function_id: u16) -> bool {
    EXPORTED.contains(&function_id)
}

/// The SQL_API_ODBC3_ALL_FUNCTIONS bitmap: bit `id % 16` of word `id / 16`.
pub fn odbc3_bitmap() -> [u16; SQL_API_ODBC3_ALL_FUNCTIONS_SIZE] {
    let mut map = [0u16; SQL_API_ODBC3_ALL_FUNCTIONS_SIZE];
    for &id in EXPORTED {
        map[usize::from(id >> 4)] |= 1 << (id & 0xF);
    }
    map
}

/// The ODBC 2 SQL_API_ALL_FUNCTIONS array: one SQL_TRUE/SQL_FALSE per id below 100.
pub fn odbc2_array() -> [u16; ODBC2_ALL_FUNCTIONS_SIZE] {
    let mut arr = [0u16; ODBC2_ALL_FUNCTIONS_SIZE];
    for &id in EXPORTED.iter().filter(|&&id| usize::from(id) < ODBC2_ALL_FUNCTIONS_SIZE) {
        arr[usize::from(id)] = 1;
    }
    arr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bit(map: &[u16], id: u16) -> bool {
        map[usize::from(id >> 4)] & (1 << (id & 0xF)) != 0
    }

    #[test]
    fn the_odbc3_bitmap_has_exactly_the_exported_functions() {
        let map = odbc3_bitmap();
        for id in [1001u16, 41, 61, 1021, 1011, 72, 23] {
            assert!(bit(&map, id), "{id}");
        }
        for id in [24u16 /* BulkOperations */, 1000 /* AllocHandleStd */] {
            assert!(!bit(&map, id), "{id}");
        }
        let set: u32 = map.iter().map(|w| w.count_ones()).sum();
        assert_eq!(set as usize, EXPORTED.len());
    }

    #[test]
    fn the_odbc2_array_marks_ids_below_100() {
        let arr = odbc2_array();
        assert_eq!(arr[61], 1);
        assert_eq!(arr[24], 0);
        assert!(is_supported(1006) && !is_supported(999));
    }

    #[test]
    fn no_function_is_listed_twice() {
        let mut ids = EXPORTED.to_vec();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), EXPORTED.len());
    }
}
