//! C buffer → protocol value, for parameters. The value is shaped by the parameter's SQL
//! type (text bound for an INTEGER parameter is sent as an integer), so the server sees
//! what the application declared.

use std::fmt::Write;

use twofactor_protocol::{sql_type, Date, Time, Timestamp, ValueRef};

use super::format;
use super::to_c::{integral, out_of_range, parse_number, restricted, to_f64, Num};
use super::{is_binary_sql, odbc3_sql_type, CType};
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// Reused buffers for values that need decoding (UTF-16 text, numeric structs), so a
/// parameter array costs no allocation per row once the buffers have grown.
#[derive(Debug, Default)]
pub struct ParamScratch {
    text: String,
}

/// SQL_C_CHAR is UTF-8 in this driver; other bytes are refused, never re-encoded.
fn not_utf8(e: &std::str::Utf8Error) -> OdbcError {
    OdbcError::new(
        SqlState::INVALID_CHARACTER_VALUE,
        format!(
            "SQL_C_CHAR value is not valid UTF-8 (at byte {}); bind bytes as SQL_C_BINARY or with a binary SQL type",
            e.valid_up_to() + 1
        ),
    )
}

fn datetime_overflow() -> OdbcError {
    OdbcError::new(SqlState::DATETIME_OVERFLOW, "datetime field overflow")
}

fn invalid_datetime() -> OdbcError {
    OdbcError::new(SqlState::INVALID_DATETIME_FORMAT, "invalid datetime format")
}

/// The value of one parameter. `data` holds exactly the value's bytes: the octet length
/// for character and binary data, the C type's size for fixed-size types. NULL and
/// data-at-execution are the caller's business (they live in the indicator).
pub fn param_value<'a>(
    ctype: CType,
    sql: i16,
    data: &'a [u8],
    scratch: &'a mut ParamScratch,
) -> OdbcResult<ValueRef<'a>> {
    let sql = odbc3_sql_type(sql);
    let ctype = match ctype {
        CType::Default => CType::default_for(sql),
        other => other,
    };
    if let Some(size) = ctype.fixed_size() {
        if data.len() < size {
            return Err(OdbcError::buffer_length("parameter value", data.len() as i64));
        }
    }
    let ne16 = |i: usize| u16::from_ne_bytes([data[i], data[i + 1]]);
    match ctype {
        // Bytes stay bytes: PHP and DBD::ODBC bind a BLOB as SQL_C_CHAR with the binary
        // SQL type SQLDescribeParam gave, so the buffer goes out exactly as it is.
        CType::Char if is_binary_sql(sql) => Ok(ValueRef::Bytes(data)),
        CType::Char => text_value(std::str::from_utf8(data).map_err(|e| not_utf8(&e))?, sql),
        CType::WChar => {
            scratch.text.clear();
            // SQLWCHAR as the driver manager has it: UTF-16, or UTF-32 under iODBC.
            crate::ffi::text::wide_encoding().decode_into(data, &mut scratch.text)?;
            text_value(scratch.text.as_str(), sql)
        }
        CType::Binary => Ok(ValueRef::Bytes(data)),
        CType::Bit => int_value(i64::from(data[0]), sql),
        CType::STinyInt => int_value(i64::from(data[0] as i8), sql),
        CType::UTinyInt => int_value(i64::from(data[0]), sql),
        CType::SShort => int_value(i64::from(i16::from_ne_bytes([data[0], data[1]])), sql),
        CType::UShort => int_value(i64::from(ne16(0)), sql),
        CType::SLong => int_value(i64::from(i32::from_ne_bytes(data[..4].try_into().unwrap_or_default())), sql),
        CType::ULong => int_value(i64::from(u32::from_ne_bytes(data[..4].try_into().unwrap_or_default())), sql),
        CType::SBigInt => int_value(i64::from_ne_bytes(data[..8].try_into().unwrap_or_default()), sql),
        CType::UBigInt => {
            let v = u64::from_ne_bytes(data[..8].try_into().unwrap_or_default());
            int_value(i64::try_from(v).map_err(|_| out_of_range())?, sql)
        }
        CType::Float => double_value(f64::from(f32::from_ne_bytes(data[..4].try_into().unwrap_or_default())), sql),
        CType::Double => double_value(f64::from_ne_bytes(data[..8].try_into().unwrap_or_default()), sql),
        CType::Numeric => {
            let scale = data[1] as i8;
            let positive = data[2] != 0;
            let mag = u128::from_le_bytes(data[3..19].try_into().unwrap_or_default());
            scratch.text.clear();
            write_scaled(&mut scratch.text, mag, positive, scale);
            Ok(ValueRef::Decimal(scratch.text.as_str()))
        }
        CType::Date => {
            let d = read_date(data)?;
            datetime_value(Timestamp { date: d, time: Time { hour: 0, minute: 0, second: 0, nanos: 0 } }, 'd', sql)
        }
        CType::Time => {
            let t = read_time(data, 0)?;
            datetime_value(Timestamp { date: format::today(), time: t }, 't', sql)
        }
        CType::Timestamp => {
            let d = read_date(data)?;
            let nanos = u32::from_ne_bytes(data[12..16].try_into().unwrap_or_default());
            let t = read_time(&data[6..12], nanos)?;
            datetime_value(Timestamp { date: d, time: t }, 's', sql)
        }
        CType::Guid => {
            let d1 = u32::from_ne_bytes(data[0..4].try_into().unwrap_or_default());
            let d2 = ne16(4);
            let d3 = ne16(6);
            scratch.text.clear();
            let _ = write!(scratch.text, "{d1:08X}-{d2:04X}-{d3:04X}-{:02X}{:02X}-", data[8], data[9]);
            for b in &data[10..16] {
                let _ = write!(scratch.text, "{b:02X}");
            }
            Ok(ValueRef::Text(scratch.text.as_str()))
        }
        CType::Default => unreachable!("resolved above"),
    }
}

fn read_date(data: &[u8]) -> OdbcResult<Date> {
    let year = i16::from_ne_bytes([data[0], data[1]]);
    let month = u16::from_ne_bytes([data[2], data[3]]);
    let day = u16::from_ne_bytes([data[4], data[5]]);
    let d = Date { year, month: u8::try_from(month).unwrap_or(0), day: u8::try_from(day).unwrap_or(0) };
    format::valid_date(d).then_some(d).ok_or_else(datetime_overflow)
}

fn read_time(data: &[u8], nanos: u32) -> OdbcResult<Time> {
    let f = |i: usize| u8::try_from(u16::from_ne_bytes([data[i], data[i + 1]])).unwrap_or(99);
    let t = Time { hour: f(0), minute: f(2), second: f(4), nanos };
    format::valid_time(t).then_some(t).ok_or_else(datetime_overflow)
}

/// A date/time value for a parameter of `sql`; `kind` says which C struct it came from.
fn datetime_value(ts: Timestamp, kind: char, sql: i16) -> OdbcResult<ValueRef<'static>> {
    let midnight = Time { hour: 0, minute: 0, second: 0, nanos: 0 };
    Ok(match sql {
        sql_type::TYPE_DATE if kind == 't' => return Err(restricted(CType::Time)),
        sql_type::TYPE_DATE => {
            if ts.time != midnight {
                return Err(datetime_overflow());
            }
            ValueRef::Date(ts.date)
        }
        sql_type::TYPE_TIME if kind == 'd' => return Err(restricted(CType::Date)),
        sql_type::TYPE_TIME => ValueRef::Time(ts.time),
        sql_type::TYPE_TIMESTAMP => ValueRef::Timestamp(ts),
        s if super::is_character_sql(s) || s == sql_type::UNKNOWN => match kind {
            'd' => ValueRef::Date(ts.date),
            't' => ValueRef::Time(ts.time),
            _ => ValueRef::Timestamp(ts),
        },
        _ => return Err(restricted(CType::Timestamp)),
    })
}

fn int_value(v: i64, sql: i16) -> OdbcResult<ValueRef<'static>> {
    match sql {
        sql_type::BIT => match v {
            0 | 1 => Ok(ValueRef::Bool(v == 1)),
            _ => Err(out_of_range()),
        },
        sql_type::TYPE_DATE | sql_type::TYPE_TIME | sql_type::TYPE_TIMESTAMP => Err(restricted(CType::SBigInt)),
        _ => Ok(ValueRef::Int(v)),
    }
}

fn double_value(v: f64, sql: i16) -> OdbcResult<ValueRef<'static>> {
    match sql {
        sql_type::TYPE_DATE | sql_type::TYPE_TIME | sql_type::TYPE_TIMESTAMP => Err(restricted(CType::Double)),
        sql_type::BIT | sql_type::TINYINT | sql_type::SMALLINT | sql_type::INTEGER | sql_type::BIGINT
            if v.is_finite() && v.fract() == 0.0 =>
        {
            let (i, _) = integral(Num::F(v), i64::MIN.into(), i64::MAX.into())?;
            int_value(i as i64, sql)
        }
        _ => Ok(ValueRef::Double(v)),
    }
}

/// Text for a parameter of `sql`: converted where the SQL type is not character data.
fn text_value(s: &str, sql: i16) -> OdbcResult<ValueRef<'_>> {
    match sql {
        sql_type::BIT | sql_type::TINYINT | sql_type::SMALLINT | sql_type::INTEGER | sql_type::BIGINT => {
            let (v, _) = integral(parse_number(s)?, i64::MIN.into(), i64::MAX.into())?;
            int_value(v as i64, sql)
        }
        sql_type::DECIMAL | sql_type::NUMERIC => match parse_number(s)? {
            Num::I(v) => Ok(ValueRef::Int(v)),
            Num::D(d) => Ok(ValueRef::Decimal(d)),
            Num::F(f) => Ok(ValueRef::Double(f)),
        },
        sql_type::REAL | sql_type::FLOAT | sql_type::DOUBLE => Ok(ValueRef::Double(to_f64(parse_number(s)?)?)),
        sql_type::TYPE_DATE => format::parse_date(s)
            .or_else(|| format::parse_timestamp(s).map(|ts| ts.date))
            .map(ValueRef::Date)
            .ok_or_else(invalid_datetime),
        sql_type::TYPE_TIME => format::parse_time(s)
            .or_else(|| format::parse_timestamp(s).map(|ts| ts.time))
            .map(ValueRef::Time)
            .ok_or_else(invalid_datetime),
        sql_type::TYPE_TIMESTAMP => format::parse_timestamp(s).map(ValueRef::Timestamp).ok_or_else(invalid_datetime),
        _ => Ok(ValueRef::Text(s)),
    }
}

/// `mag × 10^-scale` in plain decimal notation.
fn write_scaled(out: &mut String, mag: u128, positive: bool, scale: i8) {
    if !positive && mag != 0 {
        out.push('-');
    }
    let digits = mag.to_string();
    if scale <= 0 {
        out.push_str(&digits);
        if mag != 0 {
            out.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() > scale {
        let (i, f) = digits.split_at(digits.len() - scale);
        out.push_str(i);
        out.push('.');
        out.push_str(f);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::to_c::{to_c, Target};

    fn value(ctype: CType, sql: i16, data: &[u8]) -> OdbcResult<twofactor_protocol::Value> {
        let mut s = ParamScratch::default();
        param_value(ctype, sql, data, &mut s).map(|v| v.to_owned())
    }

    use twofactor_protocol::Value;

    #[test]
    fn narrow_and_wide_text_become_text_for_character_parameters() {
        assert_eq!(value(CType::Char, sql_type::VARCHAR, "héllo".as_bytes()).unwrap(), Value::Text("héllo".into()));
        let wide: Vec<u8> = "h€".encode_utf16().flat_map(u16::to_ne_bytes).collect();
        assert_eq!(value(CType::WChar, sql_type::WVARCHAR, &wide).unwrap(), Value::Text("h€".into()));
    }

    #[test]
    fn narrow_text_that_is_not_utf8_is_refused_with_22018_not_re_encoded() {
        let e = value(CType::Char, sql_type::VARCHAR, &[0x61, 0xFE, 0xFF]).unwrap_err();
        assert_eq!(e.state, SqlState::INVALID_CHARACTER_VALUE);
        assert!(e.message.contains("byte 2"), "{}", e.message);
        let unpaired: Vec<u8> = [0x61u16, 0xD800].iter().flat_map(|u| u.to_ne_bytes()).collect();
        assert_eq!(
            value(CType::WChar, sql_type::WVARCHAR, &unpaired).unwrap_err().state,
            SqlState::INVALID_CHARACTER_VALUE
        );
    }

    #[test]
    fn narrow_data_for_a_binary_parameter_is_sent_as_the_same_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        for sql in [sql_type::BINARY, sql_type::VARBINARY, sql_type::LONGVARBINARY] {
            assert_eq!(value(CType::Char, sql, &all).unwrap(), Value::Bytes(all.clone()));
        }
        assert_eq!(value(CType::Binary, sql_type::VARCHAR, &all).unwrap(), Value::Bytes(all.clone()));
        assert_eq!(value(CType::Default, sql_type::LONGVARBINARY, &all).unwrap(), Value::Bytes(all));
    }

    #[test]
    fn text_for_an_integer_parameter_is_sent_as_an_integer_or_refused_with_22018() {
        assert_eq!(value(CType::Char, sql_type::INTEGER, b" 42 ").unwrap(), Value::Int(42));
        assert_eq!(value(CType::Char, sql_type::INTEGER, b"4x2").unwrap_err().state, SqlState::INVALID_CHARACTER_VALUE);
        assert_eq!(
            value(CType::Char, sql_type::TYPE_DATE, b"2024-13-01").unwrap_err().state,
            SqlState::INVALID_DATETIME_FORMAT
        );
    }

    #[test]
    fn integers_of_every_width_are_read_in_native_order() {
        assert_eq!(value(CType::SLong, sql_type::INTEGER, &(-7i32).to_ne_bytes()).unwrap(), Value::Int(-7));
        assert_eq!(value(CType::UShort, sql_type::INTEGER, &65535u16.to_ne_bytes()).unwrap(), Value::Int(65535));
        assert_eq!(value(CType::SBigInt, sql_type::BIGINT, &i64::MIN.to_ne_bytes()).unwrap(), Value::Int(i64::MIN));
        assert_eq!(
            value(CType::UBigInt, sql_type::BIGINT, &u64::MAX.to_ne_bytes()).unwrap_err().state,
            SqlState::NUMERIC_OUT_OF_RANGE
        );
        assert_eq!(value(CType::SLong, sql_type::BIT, &1i32.to_ne_bytes()).unwrap(), Value::Bool(true));
    }

    #[test]
    fn numeric_structs_round_trip_through_text() {
        let mut buf = [0u8; 19];
        let t = Target { ctype: CType::Numeric, precision: 10, scale: 3 };
        to_c(ValueRef::Decimal("-123.450"), sql_type::DECIMAL, t, &mut buf, 0).unwrap();
        assert_eq!(value(CType::Numeric, sql_type::DECIMAL, &buf).unwrap(), Value::Decimal("-123.450".into()));
        let mut small = [0u8; 19];
        small[1] = 4;
        small[2] = 1;
        small[3] = 5;
        assert_eq!(value(CType::Numeric, sql_type::DECIMAL, &small).unwrap(), Value::Decimal("0.0005".into()));
    }

    #[test]
    fn timestamp_structs_become_timestamps_and_dates_as_the_sql_type_says() {
        let ts = Timestamp {
            date: Date { year: 2024, month: 2, day: 29 },
            time: Time { hour: 13, minute: 4, second: 5, nanos: 7 },
        };
        let raw = crate::convert::to_c::timestamp_struct(ts);
        assert_eq!(value(CType::Timestamp, sql_type::TYPE_TIMESTAMP, &raw).unwrap(), Value::Timestamp(ts));
        assert_eq!(value(CType::Timestamp, sql_type::TYPE_DATE, &raw).unwrap_err().state, SqlState::DATETIME_OVERFLOW);
        let date = crate::convert::to_c::date_struct(ts.date);
        assert_eq!(
            value(CType::Date, sql_type::TYPE_TIMESTAMP, &date).unwrap(),
            Value::Timestamp(Timestamp { date: ts.date, time: Time { hour: 0, minute: 0, second: 0, nanos: 0 } })
        );
        let mut bad = raw;
        bad[2] = 13;
        assert_eq!(
            value(CType::Timestamp, sql_type::TYPE_TIMESTAMP, &bad).unwrap_err().state,
            SqlState::DATETIME_OVERFLOW
        );
    }

    #[test]
    fn a_guid_prints_in_canonical_form() {
        let g = crate::convert::to_c::parse_guid("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        assert_eq!(
            value(CType::Guid, sql_type::CHAR, &g).unwrap(),
            Value::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into())
        );
    }
}
