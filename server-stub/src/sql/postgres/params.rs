//! Protocol parameter values bound to PostgreSQL parameters. Every value but bytes goes in
//! PostgreSQL's text format, so PostgreSQL's own input functions parse it for the type it
//! inferred for the marker (integer, numeric, date, uuid, json, arrays as `{...}`, ...):
//! the server needs no binary encoder per type, and an unfit value gets PostgreSQL's own
//! error (22P02 and kin). Bytes bound to bytea go in binary, unchanged.

use std::error::Error;

use bytes::BytesMut;
use postgres::types::{Format, IsNull, ToSql, Type};
use twofactor_protocol::{ErrorInfo, RowBatch, ValueRef};

use crate::sql::datetime::{format_date, format_time, format_timestamp};

/// One parameter value, ready to bind.
#[derive(Debug)]
pub enum Param {
    Null,
    Text(String),
    Bytes(Vec<u8>),
}

impl Param {
    /// The value for a marker PostgreSQL typed `ty`.
    pub fn new(v: ValueRef<'_>, ty: &Type) -> Result<Param, ErrorInfo> {
        let numeric_target =
            matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8 | Type::NUMERIC | Type::FLOAT4 | Type::FLOAT8);
        Ok(match v {
            ValueRef::Null => Param::Null,
            ValueRef::Bytes(b) if *ty == Type::BYTEA => Param::Bytes(b.to_vec()),
            ValueRef::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => Param::Text(s.to_owned()),
                Err(_) => {
                    return Err(ErrorInfo::new(
                        b"22018",
                        0,
                        format!("bytes that are not UTF-8 cannot be a {} value", ty.name()),
                    ))
                }
            },
            ValueRef::Int(i) => Param::Text(i.to_string()),
            ValueRef::Double(d) if d.is_nan() => Param::Text("NaN".into()),
            ValueRef::Double(d) if d.is_infinite() => {
                Param::Text(if d > 0.0 { "Infinity" } else { "-Infinity" }.into())
            }
            ValueRef::Double(d) => Param::Text(d.to_string()),
            ValueRef::Text(s) | ValueRef::Decimal(s) => Param::Text(s.to_owned()),
            ValueRef::Bool(b) if numeric_target => Param::Text(if b { "1" } else { "0" }.into()),
            ValueRef::Bool(b) => Param::Text(if b { "true" } else { "false" }.into()),
            ValueRef::Date(d) => Param::Text(format_date(d)),
            ValueRef::Time(t) => Param::Text(format_time(t)),
            ValueRef::Timestamp(ts) => Param::Text(format_timestamp(ts)),
        })
    }
}

impl ToSql for Param {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Param::Null => return Ok(IsNull::Yes),
            Param::Text(s) => out.extend_from_slice(s.as_bytes()),
            Param::Bytes(b) => out.extend_from_slice(b),
        }
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        match self {
            Param::Bytes(_) => Format::Binary,
            _ => Format::Text,
        }
    }

    postgres::types::to_sql_checked!();
}

/// Row `row` of `params` for a statement whose markers PostgreSQL typed `types`.
pub fn row(params: &RowBatch, row: usize, types: &[Type]) -> Result<Vec<Param>, ErrorInfo> {
    (0..params.columns()).map(|c| Param::new(params.value(row, c), &types[c])).collect()
}

pub fn refs(values: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// The single parameter row of `params`, or none.
pub fn row_or_none(params: &RowBatch, types: &[Type]) -> Result<Vec<Param>, ErrorInfo> {
    if params.rows() == 0 || params.is_empty() {
        Ok(Vec::new())
    } else {
        row(params, 0, types)
    }
}
