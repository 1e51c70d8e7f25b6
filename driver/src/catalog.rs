//! Catalog functions: the request each one sends, and the ODBC 2 names of the result
//! columns for ODBC 2 applications (isql is one).

use twofactor_protocol::CatalogRequest;

use crate::diag::{OdbcError, OdbcResult, SqlState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Tables,
    Columns,
    PrimaryKeys,
    ForeignKeys,
    Statistics,
    SpecialColumns,
    TypeInfo,
    TablePrivileges,
    ColumnPrivileges,
    Procedures,
    ProcedureColumns,
}

/// Where a catalog function's result comes from: the server, or an empty result in the
/// function's layout built here (SQLite has no procedures, and nothing changes a row
/// version automatically).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Server(CatalogRequest),
    Empty(Function),
}

impl Function {
    pub fn of(request: &CatalogRequest) -> Function {
        match request {
            CatalogRequest::Tables { .. } => Function::Tables,
            CatalogRequest::Columns { .. } => Function::Columns,
            CatalogRequest::PrimaryKeys { .. } => Function::PrimaryKeys,
            CatalogRequest::ForeignKeys { .. } => Function::ForeignKeys,
            CatalogRequest::Statistics { .. } => Function::Statistics,
            CatalogRequest::SpecialColumns { .. } => Function::SpecialColumns,
            CatalogRequest::TypeInfo { .. } => Function::TypeInfo,
            CatalogRequest::TablePrivileges { .. } => Function::TablePrivileges,
            CatalogRequest::ColumnPrivileges { .. } => Function::ColumnPrivileges,
            CatalogRequest::Procedures { .. } => Function::Procedures,
            CatalogRequest::ProcedureColumns { .. } => Function::ProcedureColumns,
        }
    }
}

/// The ODBC 2 name of an ODBC 3 result column of `function`, where ODBC renamed it.
pub fn odbc2_name(function: Function, name: &str) -> Option<&'static str> {
    use Function::*;
    Some(match (function, name) {
        (_, "TABLE_CAT") => "TABLE_QUALIFIER",
        (_, "TABLE_SCHEM") => "TABLE_OWNER",
        (_, "PKTABLE_CAT") => "PKTABLE_QUALIFIER",
        (_, "PKTABLE_SCHEM") => "PKTABLE_OWNER",
        (_, "FKTABLE_CAT") => "FKTABLE_QUALIFIER",
        (_, "FKTABLE_SCHEM") => "FKTABLE_OWNER",
        (_, "PROCEDURE_CAT") => "PROCEDURE_QUALIFIER",
        (_, "PROCEDURE_SCHEM") => "PROCEDURE_OWNER",
        (Columns | SpecialColumns | TypeInfo | ProcedureColumns, "COLUMN_SIZE") => "PRECISION",
        (Columns | SpecialColumns | ProcedureColumns, "BUFFER_LENGTH") => "LENGTH",
        (Columns | SpecialColumns | ProcedureColumns, "DECIMAL_DIGITS") => "SCALE",
        (Columns | ProcedureColumns, "NUM_PREC_RADIX") => "RADIX",
        (Statistics, "ORDINAL_POSITION") => "SEQ_IN_INDEX",
        (Statistics, "ASC_OR_DESC") => "COLLATION",
        (TypeInfo, "FIXED_PREC_SCALE") => "MONEY",
        (TypeInfo, "AUTO_UNIQUE_VALUE") => "AUTO_INCREMENT",
        _ => return None,
    })
}

/// A catalog argument. With SQL_ATTR_METADATA_ID on, arguments are identifiers, not
/// patterns: quotes are removed, and `%`, `_` and `\` match only themselves.
pub fn argument(value: Option<String>, metadata_id: bool, pattern: bool) -> Option<String> {
    let v = value?;
    if !metadata_id {
        return Some(v);
    }
    let trimmed = v.trim();
    let unquoted = trimmed
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .map(|s| s.replace("\"\"", "\""))
        .unwrap_or_else(|| trimmed.to_owned());
    if !pattern {
        return Some(unquoted);
    }
    let mut escaped = String::with_capacity(unquoted.len());
    for c in unquoted.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    Some(escaped)
}

/// With SQL_ATTR_METADATA_ID on, a null argument is an error (HY009), as ODBC says.
fn required_if_identifier(value: &Option<String>, metadata_id: bool, what: &str) -> OdbcResult<()> {
    if metadata_id && value.is_none() {
        return Err(OdbcError::null_pointer(what));
    }
    Ok(())
}

pub fn tables(
    catalog: Option<String>,
    schema: Option<String>,
    table: Option<String>,
    table_types: Option<String>,
    metadata_id: bool,
) -> OdbcResult<CatalogRequest> {
    Ok(CatalogRequest::Tables {
        catalog: argument(catalog, metadata_id, false),
        schema: argument(schema, metadata_id, true),
        table: argument(table, metadata_id, true),
        table_types,
    })
}

pub fn columns(
    catalog: Option<String>,
    schema: Option<String>,
    table: Option<String>,
    column: Option<String>,
    metadata_id: bool,
) -> OdbcResult<CatalogRequest> {
    required_if_identifier(&table, metadata_id, "table name")?;
    required_if_identifier(&column, metadata_id, "column name")?;
    Ok(CatalogRequest::Columns {
        catalog: argument(catalog, metadata_id, false),
        schema: argument(schema, metadata_id, true),
        table: argument(table, metadata_id, true),
        column: argument(column, metadata_id, true),
    })
}

pub fn primary_keys(
    catalog: Option<String>,
    schema: Option<String>,
    table: Option<String>,
    metadata_id: bool,
) -> OdbcResult<CatalogRequest> {
    let table = argument(table, metadata_id, false).ok_or_else(|| OdbcError::null_pointer("table name"))?;
    Ok(CatalogRequest::PrimaryKeys {
        catalog: argument(catalog, metadata_id, false),
        schema: argument(schema, metadata_id, false),
        table,
    })
}

pub fn foreign_keys(
    pk_table: Option<String>,
    fk_table: Option<String>,
    metadata_id: bool,
) -> OdbcResult<CatalogRequest> {
    if pk_table.is_none() && fk_table.is_none() {
        return Err(OdbcError::null_pointer("both table names"));
    }
    Ok(CatalogRequest::ForeignKeys {
        pk_table: argument(pk_table, metadata_id, false),
        fk_table: argument(fk_table, metadata_id, false),
    })
}

pub const SQL_INDEX_UNIQUE: u16 = 0;
pub const SQL_INDEX_ALL: u16 = 1;

pub fn statistics(table: Option<String>, unique: u16, reserved: u16, metadata_id: bool) -> OdbcResult<CatalogRequest> {
    let table = argument(table, metadata_id, false).ok_or_else(|| OdbcError::null_pointer("table name"))?;
    if unique != SQL_INDEX_UNIQUE && unique != SQL_INDEX_ALL {
        return Err(OdbcError::new(SqlState(*b"HY100"), format!("uniqueness option type out of range: {unique}")));
    }
    if reserved > 1 {
        return Err(OdbcError::new(SqlState(*b"HY101"), format!("accuracy option type out of range: {reserved}")));
    }
    Ok(CatalogRequest::Statistics { table, unique_only: unique == SQL_INDEX_UNIQUE })
}

pub const SQL_BEST_ROWID: i16 = 1;
pub const SQL_ROWVER: i16 = 2;

/// SQLSpecialColumns. SQL_ROWVER has an empty result: nothing changes a row version
/// automatically in this database.
pub fn special_columns(
    identifier_type: i16,
    table: Option<String>,
    scope: i16,
    nullable: i16,
    metadata_id: bool,
) -> OdbcResult<Query> {
    let table = argument(table, metadata_id, false).ok_or_else(|| OdbcError::null_pointer("table name"))?;
    if !(0..=2).contains(&scope) {
        return Err(OdbcError::new(SqlState(*b"HY098"), format!("scope type out of range: {scope}")));
    }
    if !(0..=1).contains(&nullable) {
        return Err(OdbcError::new(SqlState(*b"HY099"), format!("nullable type out of range: {nullable}")));
    }
    match identifier_type {
        SQL_BEST_ROWID => Ok(Query::Server(CatalogRequest::SpecialColumns { table })),
        SQL_ROWVER => Ok(Query::Empty(Function::SpecialColumns)),
        other => Err(OdbcError::new(SqlState(*b"HY097"), format!("column type out of range: {other}"))),
    }
}

pub fn type_info(data_type: i16) -> OdbcResult<CatalogRequest> {
    if data_type != 0 && !crate::convert::is_known_sql_type(data_type) {
        return Err(OdbcError::new(SqlState::INVALID_SQL_TYPE, format!("invalid SQL data type {data_type}")));
    }
    Ok(CatalogRequest::TypeInfo { data_type: crate::convert::odbc3_sql_type(data_type) })
}

/// SQLTablePrivileges: the table name is a pattern (SQLite has no catalogs or schemas to
/// filter by).
pub fn table_privileges(table: Option<String>, metadata_id: bool) -> OdbcResult<Query> {
    required_if_identifier(&table, metadata_id, "table name")?;
    Ok(Query::Server(CatalogRequest::TablePrivileges { table: argument(table, metadata_id, true) }))
}

/// SQLColumnPrivileges: one table (not a pattern), the column name a pattern.
pub fn column_privileges(table: Option<String>, column: Option<String>, metadata_id: bool) -> OdbcResult<Query> {
    required_if_identifier(&column, metadata_id, "column name")?;
    let table = argument(table, metadata_id, false).ok_or_else(|| OdbcError::null_pointer("table name"))?;
    Ok(Query::Server(CatalogRequest::ColumnPrivileges { table, column: argument(column, metadata_id, true) }))
}

/// SQLProcedures and SQLProcedureColumns: asked of a server that speaks protocol version
/// 3 (a PostgreSQL backend answers from pg_proc, SQLite has none); an older server is
/// never sent them, and the result is then empty (`ffi/catalog.rs`). The arguments are
/// checked as ODBC says either way.
pub fn procedures(
    schema: &Option<String>,
    procedure: &Option<String>,
    column: Option<&Option<String>>,
    metadata_id: bool,
) -> OdbcResult<Query> {
    required_if_identifier(procedure, metadata_id, "procedure name")?;
    let schema = schema.clone();
    let procedure = procedure.clone();
    match column {
        None => Ok(Query::Server(CatalogRequest::Procedures { schema, procedure })),
        Some(c) => {
            required_if_identifier(c, metadata_id, "column name")?;
            Ok(Query::Server(CatalogRequest::ProcedureColumns { schema, procedure, column: c.clone() }))
        }
    }
}

/// The ODBC 3 result columns of a function whose result is built here.
pub fn empty_layout(function: Function) -> Vec<twofactor_protocol::ColumnDesc> {
    use twofactor_protocol::sql_type::{INTEGER as I, SMALLINT as S, VARCHAR as V};
    let spec: &[(&str, i16, bool)] = match function {
        Function::Procedures => &[
            ("PROCEDURE_CAT", V, true),
            ("PROCEDURE_SCHEM", V, true),
            ("PROCEDURE_NAME", V, false),
            ("NUM_INPUT_PARAMS", I, true),
            ("NUM_OUTPUT_PARAMS", I, true),
            ("NUM_RESULT_SETS", I, true),
            ("REMARKS", V, true),
            ("PROCEDURE_TYPE", S, true),
        ],
        Function::ProcedureColumns => &[
            ("PROCEDURE_CAT", V, true),
            ("PROCEDURE_SCHEM", V, true),
            ("PROCEDURE_NAME", V, false),
            ("COLUMN_NAME", V, false),
            ("COLUMN_TYPE", S, false),
            ("DATA_TYPE", S, false),
            ("TYPE_NAME", V, false),
            ("COLUMN_SIZE", I, true),
            ("BUFFER_LENGTH", I, true),
            ("DECIMAL_DIGITS", S, true),
            ("NUM_PREC_RADIX", S, true),
            ("NULLABLE", S, false),
            ("REMARKS", V, true),
            ("COLUMN_DEF", V, true),
            ("SQL_DATA_TYPE", S, false),
            ("SQL_DATETIME_SUB", S, true),
            ("CHAR_OCTET_LENGTH", I, true),
            ("ORDINAL_POSITION", I, false),
            ("IS_NULLABLE", V, true),
        ],
        _ => &[
            ("SCOPE", S, true),
            ("COLUMN_NAME", V, false),
            ("DATA_TYPE", S, false),
            ("TYPE_NAME", V, false),
            ("COLUMN_SIZE", I, true),
            ("BUFFER_LENGTH", I, true),
            ("DECIMAL_DIGITS", S, true),
            ("PSEUDO_COLUMN", S, true),
        ],
    };
    spec.iter().map(|&(name, sql_type, nullable)| layout_column(name, sql_type, nullable)).collect()
}

fn layout_column(name: &str, sql_type: i16, nullable: bool) -> twofactor_protocol::ColumnDesc {
    use twofactor_protocol::{sql_type as st, ColumnDesc, Nullability};
    let (type_name, column_size) = match sql_type {
        st::VARCHAR => ("VARCHAR", 128),
        st::SMALLINT => ("SMALLINT", 5),
        _ => ("INTEGER", 10),
    };
    ColumnDesc {
        name: name.into(),
        sql_type,
        type_name: type_name.into(),
        column_size,
        decimal_digits: 0,
        nullable: if nullable { Nullability::Nullable } else { Nullability::NoNulls },
        table_name: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odbc2_applications_get_the_odbc2_column_names() {
        assert_eq!(odbc2_name(Function::Tables, "TABLE_CAT"), Some("TABLE_QUALIFIER"));
        assert_eq!(odbc2_name(Function::Tables, "TABLE_SCHEM"), Some("TABLE_OWNER"));
        assert_eq!(odbc2_name(Function::Columns, "COLUMN_SIZE"), Some("PRECISION"));
        assert_eq!(odbc2_name(Function::Columns, "BUFFER_LENGTH"), Some("LENGTH"));
        assert_eq!(odbc2_name(Function::Columns, "DECIMAL_DIGITS"), Some("SCALE"));
        assert_eq!(odbc2_name(Function::Columns, "NUM_PREC_RADIX"), Some("RADIX"));
        assert_eq!(odbc2_name(Function::Columns, "ORDINAL_POSITION"), None, "only an index column is renamed");
        assert_eq!(odbc2_name(Function::Statistics, "ORDINAL_POSITION"), Some("SEQ_IN_INDEX"));
        assert_eq!(odbc2_name(Function::ForeignKeys, "FKTABLE_SCHEM"), Some("FKTABLE_OWNER"));
        assert_eq!(odbc2_name(Function::TypeInfo, "FIXED_PREC_SCALE"), Some("MONEY"));
        assert_eq!(odbc2_name(Function::Tables, "TABLE_NAME"), None);
    }

    #[test]
    fn procedures_are_empty_results_in_the_odbc3_layouts() {
        let asked = procedures(&None, &Some("f%".into()), None, false).unwrap();
        assert_eq!(asked, Query::Server(CatalogRequest::Procedures { schema: None, procedure: Some("f%".into()) }));
        let Query::Server(columns) = procedures(&None, &None, Some(&None), false).unwrap() else { panic!() };
        assert_eq!(Function::of(&columns), Function::ProcedureColumns);
        assert_eq!(procedures(&None, &None, None, true).unwrap_err().state, SqlState::INVALID_NULL_POINTER);
        let p = empty_layout(Function::Procedures);
        assert_eq!(p.len(), 8);
        assert_eq!((p[2].name.as_str(), p[7].name.as_str()), ("PROCEDURE_NAME", "PROCEDURE_TYPE"));
        let c = empty_layout(Function::ProcedureColumns);
        assert_eq!(c.len(), 19);
        assert_eq!((c[4].name.as_str(), c[18].name.as_str()), ("COLUMN_TYPE", "IS_NULLABLE"));
        assert_eq!(odbc2_name(Function::ProcedureColumns, "COLUMN_SIZE"), Some("PRECISION"));
        assert_eq!(odbc2_name(Function::Procedures, "PROCEDURE_CAT"), Some("PROCEDURE_QUALIFIER"));
    }

    #[test]
    fn privileges_take_a_table_pattern_or_one_table() {
        assert_eq!(
            table_privileges(Some("t%".into()), false).unwrap(),
            Query::Server(CatalogRequest::TablePrivileges { table: Some("t%".into()) })
        );
        assert_eq!(
            column_privileges(Some("\"t\"".into()), Some("c%".into()), true).unwrap(),
            Query::Server(CatalogRequest::ColumnPrivileges { table: "t".into(), column: Some("c\\%".into()) })
        );
        assert_eq!(column_privileges(None, None, false).unwrap_err().state, SqlState::INVALID_NULL_POINTER);
    }

    #[test]
    fn patterns_pass_through_unless_metadata_id_makes_them_identifiers() {
        let r = tables(None, None, Some("t_%".into()), Some("TABLE".into()), false).unwrap();
        assert_eq!(
            r,
            CatalogRequest::Tables {
                catalog: None,
                schema: None,
                table: Some("t_%".into()),
                table_types: Some("TABLE".into())
            }
        );
        let r = columns(None, None, Some("\"my_t\"".into()), Some("a%".into()), true).unwrap();
        assert_eq!(
            r,
            CatalogRequest::Columns {
                catalog: None,
                schema: None,
                table: Some("my\\_t".into()),
                column: Some("a\\%".into())
            }
        );
        assert_eq!(
            columns(None, None, None, Some("c".into()), true).unwrap_err().state,
            SqlState::INVALID_NULL_POINTER
        );
    }

    #[test]
    fn table_arguments_that_odbc_requires_are_checked() {
        assert_eq!(primary_keys(None, None, None, false).unwrap_err().state, SqlState::INVALID_NULL_POINTER);
        assert_eq!(foreign_keys(None, None, false).unwrap_err().state, SqlState::INVALID_NULL_POINTER);
        assert_eq!(statistics(Some("t".into()), 7, 0, false).unwrap_err().state.as_str(), "HY100");
        assert_eq!(special_columns(3, Some("t".into()), 0, 0, false).unwrap_err().state.as_str(), "HY097");
        assert_eq!(
            special_columns(SQL_ROWVER, Some("t".into()), 0, 0, false).unwrap(),
            Query::Empty(Function::SpecialColumns)
        );
        assert_eq!(type_info(93).unwrap(), CatalogRequest::TypeInfo { data_type: 93 });
        assert_eq!(type_info(11).unwrap(), CatalogRequest::TypeInfo { data_type: 93 });
        assert_eq!(type_info(555).unwrap_err().state, SqlState::INVALID_SQL_TYPE);
    }
}
