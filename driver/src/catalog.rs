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
        (Columns | SpecialColumns | TypeInfo, "COLUMN_SIZE") => "PRECISION",
        (Columns | SpecialColumns, "BUFFER_LENGTH") => "LENGTH",
        (Columns | SpecialColumns, "DECIMAL_DIGITS") => "SCALE",
        (Columns, "NUM_PREC_RADIX") => "RADIX",
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

/// SQLSpecialColumns. `None` means "an empty result" (SQL_ROWVER: nothing changes a row
/// version automatically in this database).
pub fn special_columns(
    identifier_type: i16,
    table: Option<String>,
    scope: i16,
    nullable: i16,
    metadata_id: bool,
) -> OdbcResult<Option<CatalogRequest>> {
    let table = argument(table, metadata_id, false).ok_or_else(|| OdbcError::null_pointer("table name"))?;
    if !(0..=2).contains(&scope) {
        return Err(OdbcError::new(SqlState(*b"HY098"), format!("scope type out of range: {scope}")));
    }
    if !(0..=1).contains(&nullable) {
        return Err(OdbcError::new(SqlState(*b"HY099"), format!("nullable type out of range: {nullable}")));
    }
    match identifier_type {
        SQL_BEST_ROWID => Ok(Some(CatalogRequest::SpecialColumns { table })),
        SQL_ROWVER => Ok(None),
        other => Err(OdbcError::new(SqlState(*b"HY097"), format!("column type out of range: {other}"))),
    }
}

pub fn type_info(data_type: i16) -> OdbcResult<CatalogRequest> {
    if data_type != 0 && !crate::convert::is_known_sql_type(data_type) {
        return Err(OdbcError::new(SqlState::INVALID_SQL_TYPE, format!("invalid SQL data type {data_type}")));
    }
    Ok(CatalogRequest::TypeInfo { data_type: crate::convert::odbc3_sql_type(data_type) })
}

/// The columns of SQLSpecialColumns, for the locally built empty result.
pub fn special_columns_layout() -> Vec<twofactor_protocol::ColumnDesc> {
    use twofactor_protocol::{sql_type as st, ColumnDesc, Nullability};
    [
        ("SCOPE", st::SMALLINT),
        ("COLUMN_NAME", st::VARCHAR),
        ("DATA_TYPE", st::SMALLINT),
        ("TYPE_NAME", st::VARCHAR),
        ("COLUMN_SIZE", st::INTEGER),
        ("BUFFER_LENGTH", st::INTEGER),
        ("DECIMAL_DIGITS", st::SMALLINT),
        ("PSEUDO_COLUMN", st::SMALLINT),
    ]
    .into_iter()
    .map(|(name, sql_type)| ColumnDesc {
        name: name.into(),
        sql_type,
        type_name: if sql_type == st::VARCHAR { "VARCHAR" } else { "INTEGER" }.into(),
        column_size: if sql_type == st::VARCHAR { 128 } else { 10 },
        decimal_digits: 0,
        nullable: Nullability::Nullable,
        table_name: String::new(),
    })
    .collect()
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
        assert_eq!(special_columns(SQL_ROWVER, Some("t".into()), 0, 0, false).unwrap(), None);
        assert_eq!(type_info(93).unwrap(), CatalogRequest::TypeInfo { data_type: 93 });
        assert_eq!(type_info(11).unwrap(), CatalogRequest::TypeInfo { data_type: 93 });
        assert_eq!(type_info(555).unwrap_err().state, SqlState::INVALID_SQL_TYPE);
    }
}
