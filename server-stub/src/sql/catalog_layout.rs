//! What both backends' catalog answers share: the ODBC 3 column layouts of each catalog
//! result set, the small value helpers, and ODBC search patterns.

use twofactor_protocol::{sql_type as st, ColumnDesc, Nullability, Value};

pub type Table = (Vec<ColumnDesc>, Vec<Vec<Value>>);

pub fn col(name: &str, sql_type: i16, nullable: bool) -> ColumnDesc {
    let (size, type_name) = match sql_type {
        st::SMALLINT => (5, "SMALLINT"),
        st::INTEGER => (10, "INTEGER"),
        st::CHAR => (1, "CHAR"),
        _ => (128, "VARCHAR"),
    };
    ColumnDesc {
        name: name.to_owned(),
        sql_type,
        type_name: type_name.to_owned(),
        column_size: size,
        decimal_digits: 0,
        nullable: if nullable { Nullability::Nullable } else { Nullability::NoNulls },
        table_name: String::new(),
    }
}

pub fn cols(spec: &[(&str, i16, bool)]) -> Vec<ColumnDesc> {
    spec.iter().map(|&(n, t, null)| col(n, t, null)).collect()
}

pub const V: i16 = st::VARCHAR;
pub const S: i16 = st::SMALLINT;
pub const I: i16 = st::INTEGER;

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}
pub fn small(v: i64) -> Value {
    Value::Int(v)
}
pub fn opt_int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Int)
}

/// ODBC search patterns: `%` any run, `_` one character, `\` escapes. SQLite names are
/// case-insensitive, so the match is too.
pub fn like(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('_', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                !s.is_empty() && rest[0].eq_ignore_ascii_case(&s[0]) && go(&rest[1..], &s[1..])
            }
            Some((c, rest)) => !s.is_empty() && c.eq_ignore_ascii_case(&s[0]) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    go(&p, &s)
}

pub fn matches(pattern: Option<&str>, name: &str) -> bool {
    match pattern {
        None | Some("") => true,
        Some(p) => like(p, name),
    }
}

/// SQL_DATA_TYPE and SQL_DATETIME_SUB: date/time types report SQL_DATETIME (9) and a code.
pub fn verbose_type(sql_type: i16) -> (i64, Option<i64>) {
    match sql_type {
        st::TYPE_DATE => (9, Some(1)),
        st::TYPE_TIME => (9, Some(2)),
        st::TYPE_TIMESTAMP => (9, Some(3)),
        t => (t as i64, None),
    }
}

pub fn radix(sql_type: i16) -> Option<i64> {
    match sql_type {
        st::INTEGER
        | st::BIGINT
        | st::SMALLINT
        | st::TINYINT
        | st::DECIMAL
        | st::NUMERIC
        | st::REAL
        | st::DOUBLE
        | st::FLOAT => Some(10),
        _ => None,
    }
}

pub fn is_char(sql_type: i16) -> bool {
    matches!(sql_type, st::CHAR | st::VARCHAR | st::LONGVARCHAR | st::BINARY | st::VARBINARY | st::LONGVARBINARY)
}

// The ODBC 3 layouts, one function per catalog function.

pub fn tables() -> Vec<ColumnDesc> {
    cols(&[
        ("TABLE_CAT", V, true),
        ("TABLE_SCHEM", V, true),
        ("TABLE_NAME", V, true),
        ("TABLE_TYPE", V, true),
        ("REMARKS", V, true),
    ])
}

pub fn columns() -> Vec<ColumnDesc> {
    cols(&[
        ("TABLE_CAT", V, true),
        ("TABLE_SCHEM", V, true),
        ("TABLE_NAME", V, false),
        ("COLUMN_NAME", V, false),
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
    ])
}

pub fn primary_keys() -> Vec<ColumnDesc> {
    cols(&[
        ("TABLE_CAT", V, true),
        ("TABLE_SCHEM", V, true),
        ("TABLE_NAME", V, false),
        ("COLUMN_NAME", V, false),
        ("KEY_SEQ", S, false),
        ("PK_NAME", V, true),
    ])
}

pub fn foreign_keys() -> Vec<ColumnDesc> {
    cols(&[
        ("PKTABLE_CAT", V, true),
        ("PKTABLE_SCHEM", V, true),
        ("PKTABLE_NAME", V, false),
        ("PKCOLUMN_NAME", V, false),
        ("FKTABLE_CAT", V, true),
        ("FKTABLE_SCHEM", V, true),
        ("FKTABLE_NAME", V, false),
        ("FKCOLUMN_NAME", V, false),
        ("KEY_SEQ", S, false),
        ("UPDATE_RULE", S, true),
        ("DELETE_RULE", S, true),
        ("FK_NAME", V, true),
        ("PK_NAME", V, true),
        ("DEFERRABILITY", S, true),
    ])
}

pub fn statistics() -> Vec<ColumnDesc> {
    cols(&[
        ("TABLE_CAT", V, true),
        ("TABLE_SCHEM", V, true),
        ("TABLE_NAME", V, false),
        ("NON_UNIQUE", S, true),
        ("INDEX_QUALIFIER", V, true),
        ("INDEX_NAME", V, true),
        ("TYPE", S, false),
        ("ORDINAL_POSITION", S, true),
        ("COLUMN_NAME", V, true),
        ("ASC_OR_DESC", st::CHAR, true),
        ("CARDINALITY", I, true),
        ("PAGES", I, true),
        ("FILTER_CONDITION", V, true),
    ])
}

pub fn special_columns() -> Vec<ColumnDesc> {
    cols(&[
        ("SCOPE", S, true),
        ("COLUMN_NAME", V, false),
        ("DATA_TYPE", S, false),
        ("TYPE_NAME", V, false),
        ("COLUMN_SIZE", I, true),
        ("BUFFER_LENGTH", I, true),
        ("DECIMAL_DIGITS", S, true),
        ("PSEUDO_COLUMN", S, true),
    ])
}

pub fn table_privileges() -> Vec<ColumnDesc> {
    cols(&[
        ("TABLE_CAT", V, true),
        ("TABLE_SCHEM", V, true),
        ("TABLE_NAME", V, false),
        ("GRANTOR", V, true),
        ("GRANTEE", V, false),
        ("PRIVILEGE", V, false),
        ("IS_GRANTABLE", V, true),
    ])
}

pub fn column_privileges() -> Vec<ColumnDesc> {
    cols(&[
        ("TABLE_CAT", V, true),
        ("TABLE_SCHEM", V, true),
        ("TABLE_NAME", V, false),
        ("COLUMN_NAME", V, false),
        ("GRANTOR", V, true),
        ("GRANTEE", V, false),
        ("PRIVILEGE", V, false),
        ("IS_GRANTABLE", V, true),
    ])
}

pub fn type_info() -> Vec<ColumnDesc> {
    cols(&[
        ("TYPE_NAME", V, false),
        ("DATA_TYPE", S, false),
        ("COLUMN_SIZE", I, true),
        ("LITERAL_PREFIX", V, true),
        ("LITERAL_SUFFIX", V, true),
        ("CREATE_PARAMS", V, true),
        ("NULLABLE", S, false),
        ("CASE_SENSITIVE", S, false),
        ("SEARCHABLE", S, false),
        ("UNSIGNED_ATTRIBUTE", S, true),
        ("FIXED_PREC_SCALE", S, false),
        ("AUTO_UNIQUE_VALUE", S, true),
        ("LOCAL_TYPE_NAME", V, true),
        ("MINIMUM_SCALE", S, true),
        ("MAXIMUM_SCALE", S, true),
        ("SQL_DATA_TYPE", S, false),
        ("SQL_DATETIME_SUB", S, true),
        ("NUM_PREC_RADIX", I, true),
        ("INTERVAL_PRECISION", S, true),
    ])
}

pub fn procedures() -> Vec<ColumnDesc> {
    cols(&[
        ("PROCEDURE_CAT", V, true),
        ("PROCEDURE_SCHEM", V, true),
        ("PROCEDURE_NAME", V, false),
        ("NUM_INPUT_PARAMS", I, true),
        ("NUM_OUTPUT_PARAMS", I, true),
        ("NUM_RESULT_SETS", I, true),
        ("REMARKS", V, true),
        ("PROCEDURE_TYPE", S, true),
    ])
}

pub fn procedure_columns() -> Vec<ColumnDesc> {
    cols(&[
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
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_odbc_rules() {
        assert!(like("%", "anything"));
        assert!(like("T_", "t1"));
        assert!(!like("T_", "t12"));
        assert!(like("my\\_table", "MY_TABLE"));
        assert!(!like("my\\_table", "myxtable"));
        assert!(like("%ord%", "orders"));
    }
}
