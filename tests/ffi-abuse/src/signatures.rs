//! What each exported function takes, argument by argument, so that cases can be
//! generated for every argument of every export. The table follows the ODBC 3.8
//! prototypes (sql.h, sqlext.h, sqlucode.h), which the driver's exports match.

/// Handle kinds, numbered as SQL_HANDLE_ENV .. SQL_HANDLE_DESC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Env = 1,
    Dbc = 2,
    Stmt = 3,
    Desc = 4,
}

pub const KINDS: [Kind; 4] = [Kind::Env, Kind::Dbc, Kind::Stmt, Kind::Desc];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Narrow,
    Wide,
}

/// Width of an integer argument or of the integer an output pointer points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int {
    I16,
    I32,
    Isize,
}

/// What a valid input string of an argument says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    Sql,
    ConnectionString,
    Dsn,
    Uid,
    Pwd,
    CursorName,
    Pattern,
}

/// Integer arguments that select something: each has a list of known and unknown values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sel {
    EnvAttr,
    ConnAttr,
    StmtAttr,
    ConnOption,
    StmtOption,
    Info,
    FunctionId,
    DescField,
    ColAttrField,
    DiagField,
    Record,
    Column,
    CType,
    SqlType,
    IoType,
    FreeOption,
    Orientation,
    Completion,
    DriverCompletion,
    IdentifierType,
    Scope,
    Nullable,
    Unique,
    Accuracy,
    /// SQLSetPos' Operation (SQL_POSITION .. SQL_ADD) and LockType.
    SetPosOperation,
    LockType,
}

/// Fixed-size things an output pointer (without a length argument) points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixed {
    I16,
    I32,
    Isize,
    /// SQLGetFunctions' array: 250 SQLUSMALLINTs for SQL_API_ODBC3_ALL_FUNCTIONS.
    Functions,
    /// SQLExtendedFetch's row status array (one row: the rowset size is never raised
    /// before it in a case).
    RowStatus,
    /// A SQLSTATE buffer: 6 characters.
    State(Width),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// The handle the function works on.
    Handle(Kind),
    /// A further handle (SQLCopyDesc's target, SQLError's and SQLTransact's others).
    Other(Kind),
    /// SQLSMALLINT handle type, for the `TypedHandle` that follows.
    HandleType,
    TypedHandle,
    /// Where a new handle is written.
    NewHandle,
    /// An input string; the next argument is its length.
    InText(Width, Text),
    InLen(Int),
    /// A string output buffer; `Capacity` and `OutLen` follow.
    OutText(Width),
    /// A value output buffer whose size the selector decides (attributes, info, fields).
    OutValue,
    Capacity(Int),
    OutLen(Int),
    Out(Fixed),
    Sel(Sel),
    /// A free integer (column size, decimal digits, offsets, lengths).
    Number(Int),
    /// The value of Set*Attr / Set*Option: an integer or a pointer; `SetLen` follows in
    /// the Attr functions.
    SetValue,
    SetLen,
    /// SQLPutData's data and length.
    Data,
    DataLen,
    /// A bound or fetched value buffer; `Capacity(Isize)` and `Indicator` follow.
    Target,
    Indicator,
    /// A window handle the driver ignores.
    Window,
}

pub struct Function {
    pub name: &'static str,
    pub params: Vec<(&'static str, Param)>,
}

impl Function {
    /// The handle the function works on, if its first argument is one.
    pub fn handle_kind(&self) -> Option<Kind> {
        match self.params.first() {
            Some((_, Param::Handle(kind))) => Some(*kind),
            _ => None,
        }
    }
}

use Fixed as F;
use Int::*;
use Kind::*;
use Param::*;
use Text as T;
use Width::*;

fn f(name: &'static str, params: &[(&'static str, Param)]) -> Function {
    Function { name, params: params.to_vec() }
}

macro_rules! catalog {
    ($narrow:literal, $wide:literal, [$($name:literal),*] $(, $extra:expr)*) => {
        [
            f($narrow, &[("stmt", Handle(Stmt)) $(, ($name, InText(Narrow, T::Pattern)), (concat!($name, "_len"), InLen(I16)))* $(, $extra)*]),
            f($wide, &[("stmt", Handle(Stmt)) $(, ($name, InText(Wide, T::Pattern)), (concat!($name, "_len"), InLen(I16)))* $(, $extra)*]),
        ]
    };
}

fn catalog() -> [[Function; 2]; 8] {
    [
        catalog!("SQLTables", "SQLTablesW", ["catalog", "schema", "table", "type"]),
        catalog!("SQLColumns", "SQLColumnsW", ["catalog", "schema", "table", "column"]),
        catalog!("SQLPrimaryKeys", "SQLPrimaryKeysW", ["catalog", "schema", "table"]),
        catalog!(
            "SQLForeignKeys",
            "SQLForeignKeysW",
            ["pk_catalog", "pk_schema", "pk_table", "fk_catalog", "fk_schema", "fk_table"]
        ),
        catalog!("SQLProcedures", "SQLProceduresW", ["catalog", "schema", "procedure"]),
        catalog!("SQLProcedureColumns", "SQLProcedureColumnsW", ["catalog", "schema", "procedure", "column"]),
        catalog!("SQLTablePrivileges", "SQLTablePrivilegesW", ["catalog", "schema", "table"]),
        catalog!("SQLColumnPrivileges", "SQLColumnPrivilegesW", ["catalog", "schema", "table", "column"]),
    ]
}

fn special_columns(name: &'static str, w: Width) -> Function {
    f(
        name,
        &[
            ("stmt", Handle(Stmt)),
            ("identifier_type", Sel(Sel::IdentifierType)),
            ("catalog", InText(w, T::Pattern)),
            ("catalog_len", InLen(I16)),
            ("schema", InText(w, T::Pattern)),
            ("schema_len", InLen(I16)),
            ("table", InText(w, T::Pattern)),
            ("table_len", InLen(I16)),
            ("scope", Sel(Sel::Scope)),
            ("nullable", Sel(Sel::Nullable)),
        ],
    )
}

fn statistics(name: &'static str, w: Width) -> Function {
    f(
        name,
        &[
            ("stmt", Handle(Stmt)),
            ("catalog", InText(w, T::Pattern)),
            ("catalog_len", InLen(I16)),
            ("schema", InText(w, T::Pattern)),
            ("schema_len", InLen(I16)),
            ("table", InText(w, T::Pattern)),
            ("table_len", InLen(I16)),
            ("unique", Sel(Sel::Unique)),
            ("reserved", Sel(Sel::Accuracy)),
        ],
    )
}

/// Every export of the driver, paired ANSI/wide where the API has both.
pub fn functions() -> Vec<Function> {
    let mut all = vec![
        f("SQLAllocHandle", &[("handle_type", HandleType), ("input", TypedHandle), ("output", NewHandle)]),
        f("SQLAllocEnv", &[("output", NewHandle)]),
        f("SQLAllocConnect", &[("env", Handle(Env)), ("output", NewHandle)]),
        f("SQLAllocStmt", &[("dbc", Handle(Dbc)), ("output", NewHandle)]),
        f("SQLFreeHandle", &[("handle_type", HandleType), ("handle", TypedHandle)]),
        f("SQLFreeEnv", &[("env", Handle(Env))]),
        f("SQLFreeConnect", &[("dbc", Handle(Dbc))]),
        f("SQLFreeStmt", &[("stmt", Handle(Stmt)), ("option", Sel(Sel::FreeOption))]),
        f("SQLSetEnvAttr", &[("env", Handle(Env)), ("attr", Sel(Sel::EnvAttr)), ("value", SetValue), ("len", SetLen)]),
        f(
            "SQLGetEnvAttr",
            &[
                ("env", Handle(Env)),
                ("attr", Sel(Sel::EnvAttr)),
                ("value", OutValue),
                ("buf_len", Capacity(I32)),
                ("out_len", OutLen(I32)),
            ],
        ),
        f("SQLConnect", &connect(Narrow)),
        f("SQLConnectW", &connect(Wide)),
        f("SQLDriverConnect", &driver_connect(Narrow)),
        f("SQLDriverConnectW", &driver_connect(Wide)),
        f("SQLBrowseConnect", &browse_connect(Narrow)),
        f("SQLBrowseConnectW", &browse_connect(Wide)),
        f("SQLDisconnect", &[("dbc", Handle(Dbc))]),
        f("SQLSetConnectAttr", SET_CONNECT_ATTR),
        f("SQLSetConnectAttrW", SET_CONNECT_ATTR),
        f("SQLGetConnectAttr", GET_CONNECT_ATTR),
        f("SQLGetConnectAttrW", GET_CONNECT_ATTR),
        f("SQLSetConnectOption", &[("dbc", Handle(Dbc)), ("option", Sel(Sel::ConnOption)), ("value", SetValue)]),
        f("SQLSetConnectOptionW", &[("dbc", Handle(Dbc)), ("option", Sel(Sel::ConnOption)), ("value", SetValue)]),
        f("SQLGetConnectOption", &[("dbc", Handle(Dbc)), ("option", Sel(Sel::ConnOption)), ("value", OutValue)]),
        f("SQLGetConnectOptionW", &[("dbc", Handle(Dbc)), ("option", Sel(Sel::ConnOption)), ("value", OutValue)]),
        f("SQLGetInfo", GET_INFO),
        f("SQLGetInfoW", GET_INFO),
        f(
            "SQLGetFunctions",
            &[("dbc", Handle(Dbc)), ("function_id", Sel(Sel::FunctionId)), ("supported", Out(F::Functions))],
        ),
        f("SQLNativeSql", &native_sql(Narrow)),
        f("SQLNativeSqlW", &native_sql(Wide)),
        f("SQLEndTran", &[("handle_type", HandleType), ("handle", TypedHandle), ("completion", Sel(Sel::Completion))]),
        f("SQLTransact", &[("env", Other(Env)), ("dbc", Other(Dbc)), ("completion", Sel(Sel::Completion))]),
        f("SQLError", &error(Narrow)),
        f("SQLErrorW", &error(Wide)),
        f("SQLGetDiagRec", &diag_rec(Narrow)),
        f("SQLGetDiagRecW", &diag_rec(Wide)),
        f("SQLGetDiagField", GET_DIAG_FIELD),
        f("SQLGetDiagFieldW", GET_DIAG_FIELD),
        f("SQLExecDirect", &[("stmt", Handle(Stmt)), ("text", InText(Narrow, T::Sql)), ("len", InLen(I32))]),
        f("SQLExecDirectW", &[("stmt", Handle(Stmt)), ("text", InText(Wide, T::Sql)), ("len", InLen(I32))]),
        f("SQLPrepare", &[("stmt", Handle(Stmt)), ("text", InText(Narrow, T::Sql)), ("len", InLen(I32))]),
        f("SQLPrepareW", &[("stmt", Handle(Stmt)), ("text", InText(Wide, T::Sql)), ("len", InLen(I32))]),
        f("SQLExecute", &[("stmt", Handle(Stmt))]),
        f("SQLCancel", &[("stmt", Handle(Stmt))]),
        f("SQLCloseCursor", &[("stmt", Handle(Stmt))]),
        f("SQLFetch", &[("stmt", Handle(Stmt))]),
        f("SQLMoreResults", &[("stmt", Handle(Stmt))]),
        f(
            "SQLFetchScroll",
            &[("stmt", Handle(Stmt)), ("orientation", Sel(Sel::Orientation)), ("offset", Number(Isize))],
        ),
        f(
            "SQLExtendedFetch",
            &[
                ("stmt", Handle(Stmt)),
                ("orientation", Sel(Sel::Orientation)),
                ("offset", Number(Isize)),
                ("row_count", Out(F::Isize)),
                ("status", Out(F::RowStatus)),
            ],
        ),
        f(
            "SQLSetPos",
            &[
                ("stmt", Handle(Stmt)),
                ("row", Number(Isize)),
                ("operation", Sel(Sel::SetPosOperation)),
                ("lock_type", Sel(Sel::LockType)),
            ],
        ),
        f("SQLNumResultCols", &[("stmt", Handle(Stmt)), ("count", Out(F::I16))]),
        f("SQLNumParams", &[("stmt", Handle(Stmt)), ("count", Out(F::I16))]),
        f("SQLRowCount", &[("stmt", Handle(Stmt)), ("count", Out(F::Isize))]),
        f("SQLParamData", &[("stmt", Handle(Stmt)), ("value", Out(F::Isize))]),
        f("SQLPutData", &[("stmt", Handle(Stmt)), ("data", Data), ("len", DataLen)]),
        f("SQLBindCol", COLUMN_DATA),
        f("SQLGetData", COLUMN_DATA),
        f(
            "SQLBindParameter",
            &[
                ("stmt", Handle(Stmt)),
                ("number", Sel(Sel::Column)),
                ("io_type", Sel(Sel::IoType)),
                ("value_type", Sel(Sel::CType)),
                ("parameter_type", Sel(Sel::SqlType)),
                ("column_size", Number(Isize)),
                ("decimal_digits", Number(I16)),
                ("value", Target),
                ("buffer_length", Capacity(Isize)),
                ("indicator", Indicator),
            ],
        ),
        f(
            "SQLDescribeParam",
            &[
                ("stmt", Handle(Stmt)),
                ("number", Sel(Sel::Column)),
                ("data_type", Out(F::I16)),
                ("size", Out(F::Isize)),
                ("digits", Out(F::I16)),
                ("nullable", Out(F::I16)),
            ],
        ),
        f("SQLDescribeCol", &describe_col(Narrow)),
        f("SQLDescribeColW", &describe_col(Wide)),
        f("SQLColAttribute", COL_ATTRIBUTE),
        f("SQLColAttributeW", COL_ATTRIBUTE),
        f("SQLSetStmtAttr", SET_STMT_ATTR),
        f("SQLSetStmtAttrW", SET_STMT_ATTR),
        f("SQLGetStmtAttr", GET_STMT_ATTR),
        f("SQLGetStmtAttrW", GET_STMT_ATTR),
        f("SQLSetStmtOption", &[("stmt", Handle(Stmt)), ("option", Sel(Sel::StmtOption)), ("value", SetValue)]),
        f("SQLGetStmtOption", &[("stmt", Handle(Stmt)), ("option", Sel(Sel::StmtOption)), ("value", OutValue)]),
        f("SQLSetCursorName", &[("stmt", Handle(Stmt)), ("name", InText(Narrow, T::CursorName)), ("len", InLen(I16))]),
        f("SQLSetCursorNameW", &[("stmt", Handle(Stmt)), ("name", InText(Wide, T::CursorName)), ("len", InLen(I16))]),
        f("SQLGetCursorName", &get_cursor_name(Narrow)),
        f("SQLGetCursorNameW", &get_cursor_name(Wide)),
        f("SQLGetTypeInfo", &[("stmt", Handle(Stmt)), ("data_type", Sel(Sel::SqlType))]),
        f("SQLGetTypeInfoW", &[("stmt", Handle(Stmt)), ("data_type", Sel(Sel::SqlType))]),
        special_columns("SQLSpecialColumns", Narrow),
        special_columns("SQLSpecialColumnsW", Wide),
        statistics("SQLStatistics", Narrow),
        statistics("SQLStatisticsW", Wide),
        f("SQLCopyDesc", &[("source", Handle(Desc)), ("target", Other(Desc))]),
        f("SQLGetDescField", GET_DESC_FIELD),
        f("SQLGetDescFieldW", GET_DESC_FIELD),
        f("SQLSetDescField", SET_DESC_FIELD),
        f("SQLSetDescFieldW", SET_DESC_FIELD),
        f("SQLGetDescRec", &get_desc_rec(Narrow)),
        f("SQLGetDescRecW", &get_desc_rec(Wide)),
        f(
            "SQLSetDescRec",
            &[
                ("desc", Handle(Desc)),
                ("record", Sel(Sel::Record)),
                ("type", Sel(Sel::SqlType)),
                ("subtype", Number(I16)),
                ("length", Number(Isize)),
                ("precision", Number(I16)),
                ("scale", Number(I16)),
                ("data", Target),
                ("string_length", Indicator),
                ("indicator", Indicator),
            ],
        ),
    ];
    for pair in catalog() {
        all.extend(pair);
    }
    all
}

/// SQLBindCol and SQLGetData.
const COLUMN_DATA: &[(&str, Param)] = &[
    ("stmt", Handle(Stmt)),
    ("column", Sel(Sel::Column)),
    ("target_type", Sel(Sel::CType)),
    ("target", Target),
    ("buffer_length", Capacity(Isize)),
    ("indicator", Indicator),
];
const SET_CONNECT_ATTR: &[(&str, Param)] =
    &[("dbc", Handle(Dbc)), ("attr", Sel(Sel::ConnAttr)), ("value", SetValue), ("len", SetLen)];
const GET_CONNECT_ATTR: &[(&str, Param)] = &[
    ("dbc", Handle(Dbc)),
    ("attr", Sel(Sel::ConnAttr)),
    ("value", OutValue),
    ("buf_len", Capacity(I32)),
    ("out_len", OutLen(I32)),
];
const SET_STMT_ATTR: &[(&str, Param)] =
    &[("stmt", Handle(Stmt)), ("attr", Sel(Sel::StmtAttr)), ("value", SetValue), ("len", SetLen)];
const GET_STMT_ATTR: &[(&str, Param)] = &[
    ("stmt", Handle(Stmt)),
    ("attr", Sel(Sel::StmtAttr)),
    ("value", OutValue),
    ("buf_len", Capacity(I32)),
    ("out_len", OutLen(I32)),
];
const GET_INFO: &[(&str, Param)] = &[
    ("dbc", Handle(Dbc)),
    ("info_type", Sel(Sel::Info)),
    ("value", OutValue),
    ("buf_len", Capacity(I16)),
    ("out_len", OutLen(I16)),
];
const GET_DIAG_FIELD: &[(&str, Param)] = &[
    ("handle_type", HandleType),
    ("handle", TypedHandle),
    ("record", Sel(Sel::Record)),
    ("diag_id", Sel(Sel::DiagField)),
    ("info", OutValue),
    ("buf_len", Capacity(I16)),
    ("out_len", OutLen(I16)),
];
const COL_ATTRIBUTE: &[(&str, Param)] = &[
    ("stmt", Handle(Stmt)),
    ("column", Sel(Sel::Column)),
    ("field", Sel(Sel::ColAttrField)),
    ("text", OutValue),
    ("buf_len", Capacity(I16)),
    ("text_len", OutLen(I16)),
    ("number", Out(F::Isize)),
];
const GET_DESC_FIELD: &[(&str, Param)] = &[
    ("desc", Handle(Desc)),
    ("record", Sel(Sel::Record)),
    ("field", Sel(Sel::DescField)),
    ("value", OutValue),
    ("buf_len", Capacity(I32)),
    ("out_len", OutLen(I32)),
];
const SET_DESC_FIELD: &[(&str, Param)] = &[
    ("desc", Handle(Desc)),
    ("record", Sel(Sel::Record)),
    ("field", Sel(Sel::DescField)),
    ("value", SetValue),
    ("len", SetLen),
];

macro_rules! by_width {
    ($name:ident, |$w:ident| $params:expr) => {
        fn $name($w: Width) -> Vec<(&'static str, Param)> {
            $params.to_vec()
        }
    };
}

by_width!(connect, |w| [
    ("dbc", Handle(Dbc)),
    ("dsn", InText(w, T::Dsn)),
    ("dsn_len", InLen(I16)),
    ("uid", InText(w, T::Uid)),
    ("uid_len", InLen(I16)),
    ("pwd", InText(w, T::Pwd)),
    ("pwd_len", InLen(I16)),
]);
by_width!(driver_connect, |w| [
    ("dbc", Handle(Dbc)),
    ("window", Window),
    ("in", InText(w, T::ConnectionString)),
    ("in_len", InLen(I16)),
    ("out", OutText(w)),
    ("out_max", Capacity(I16)),
    ("out_len", OutLen(I16)),
    ("completion", Sel(Sel::DriverCompletion)),
]);
by_width!(browse_connect, |w| [
    ("dbc", Handle(Dbc)),
    ("in", InText(w, T::ConnectionString)),
    ("in_len", InLen(I16)),
    ("out", OutText(w)),
    ("out_max", Capacity(I16)),
    ("out_len", OutLen(I16)),
]);
by_width!(native_sql, |w| [
    ("dbc", Handle(Dbc)),
    ("in", InText(w, T::Sql)),
    ("in_len", InLen(I32)),
    ("out", OutText(w)),
    ("out_max", Capacity(I32)),
    ("out_len", OutLen(I32)),
]);
by_width!(error, |w| [
    ("env", Other(Env)),
    ("dbc", Other(Dbc)),
    ("stmt", Other(Stmt)),
    ("state", Out(F::State(w))),
    ("native", Out(F::I32)),
    ("message", OutText(w)),
    ("buf_len", Capacity(I16)),
    ("text_len", OutLen(I16)),
]);
by_width!(diag_rec, |w| [
    ("handle_type", HandleType),
    ("handle", TypedHandle),
    ("record", Sel(Sel::Record)),
    ("state", Out(F::State(w))),
    ("native", Out(F::I32)),
    ("message", OutText(w)),
    ("buf_len", Capacity(I16)),
    ("text_len", OutLen(I16)),
]);
by_width!(describe_col, |w| [
    ("stmt", Handle(Stmt)),
    ("column", Sel(Sel::Column)),
    ("name", OutText(w)),
    ("buf_len", Capacity(I16)),
    ("name_len", OutLen(I16)),
    ("data_type", Out(F::I16)),
    ("size", Out(F::Isize)),
    ("digits", Out(F::I16)),
    ("nullable", Out(F::I16)),
]);
by_width!(get_cursor_name, |w| [
    ("stmt", Handle(Stmt)),
    ("name", OutText(w)),
    ("buf_len", Capacity(I16)),
    ("name_len", OutLen(I16)),
]);
by_width!(get_desc_rec, |w| [
    ("desc", Handle(Desc)),
    ("record", Sel(Sel::Record)),
    ("name", OutText(w)),
    ("buf_len", Capacity(I16)),
    ("name_len", OutLen(I16)),
    ("type", Out(F::I16)),
    ("subtype", Out(F::I16)),
    ("length", Out(F::Isize)),
    ("precision", Out(F::I16)),
    ("scale", Out(F::I16)),
    ("nullable", Out(F::I16)),
]);
