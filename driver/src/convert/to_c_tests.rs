use super::*;
use crate::convert::SQL_NULL_DATA;

fn conv(value: ValueRef<'_>, ctype: CType, buf: &mut [u8]) -> OdbcResult<Piece> {
    to_c(value, sql_type::VARCHAR, Target::new(ctype), buf, 0)
}

fn state(r: OdbcResult<Piece>) -> SqlState {
    r.unwrap_err().state
}

fn warning(p: &Piece) -> Option<SqlState> {
    p.warning.as_ref().map(|w| w.state)
}

#[test]
fn integers_out_of_the_target_range_fail_with_22003() {
    let mut b = [0u8; 8];
    assert_eq!(state(conv(ValueRef::Int(128), CType::STinyInt, &mut b)), SqlState::NUMERIC_OUT_OF_RANGE);
    assert_eq!(state(conv(ValueRef::Int(-1), CType::UShort, &mut b)), SqlState::NUMERIC_OUT_OF_RANGE);
    assert_eq!(
        state(conv(ValueRef::Int(i64::from(i32::MAX) + 1), CType::SLong, &mut b)),
        SqlState::NUMERIC_OUT_OF_RANGE
    );
    assert_eq!(state(conv(ValueRef::Double(1e20), CType::SBigInt, &mut b)), SqlState::NUMERIC_OUT_OF_RANGE);
    assert_eq!(
        state(conv(ValueRef::Decimal("99999999999999999999"), CType::SBigInt, &mut b)),
        SqlState::NUMERIC_OUT_OF_RANGE
    );
    assert_eq!(state(conv(ValueRef::Int(2), CType::Bit, &mut b)), SqlState::NUMERIC_OUT_OF_RANGE);
    let p = conv(ValueRef::Int(-5), CType::SLong, &mut b).unwrap();
    assert_eq!((p.indicator, i32::from_ne_bytes(b[..4].try_into().unwrap())), (4, -5));
    conv(ValueRef::Int(u32::MAX.into()), CType::ULong, &mut b).unwrap();
    assert_eq!(u32::from_ne_bytes(b[..4].try_into().unwrap()), u32::MAX);
}

#[test]
fn text_that_is_not_a_number_fails_with_22018() {
    let mut b = [0u8; 8];
    assert_eq!(state(conv(ValueRef::Text("12abc"), CType::SLong, &mut b)), SqlState::INVALID_CHARACTER_VALUE);
    assert_eq!(state(conv(ValueRef::Text("inf"), CType::Double, &mut b)), SqlState::INVALID_CHARACTER_VALUE);
    conv(ValueRef::Text(" 42 "), CType::SLong, &mut b).unwrap();
    assert_eq!(i32::from_ne_bytes(b[..4].try_into().unwrap()), 42);
    conv(ValueRef::Text("1.5e3"), CType::Double, &mut b).unwrap();
    assert_eq!(f64::from_ne_bytes(b), 1500.0);
}

#[test]
fn dropping_a_fraction_converting_to_an_integer_is_01s07() {
    let mut b = [0u8; 8];
    let p = conv(ValueRef::Double(3.75), CType::SLong, &mut b).unwrap();
    assert_eq!(warning(&p), Some(SqlState::FRACTIONAL_TRUNCATION));
    assert_eq!(i32::from_ne_bytes(b[..4].try_into().unwrap()), 3);
    let p = conv(ValueRef::Decimal("-12.50"), CType::SShort, &mut b).unwrap();
    assert_eq!(warning(&p), Some(SqlState::FRACTIONAL_TRUNCATION));
    assert_eq!(i16::from_ne_bytes(b[..2].try_into().unwrap()), -12);
    let p = conv(ValueRef::Decimal("7.000"), CType::SShort, &mut b).unwrap();
    assert_eq!(warning(&p), None);
}

#[test]
fn dates_and_binary_cannot_become_numbers_07006() {
    let mut b = [0u8; 16];
    let d = Date { year: 2024, month: 1, day: 2 };
    assert_eq!(state(conv(ValueRef::Date(d), CType::SLong, &mut b)), SqlState::RESTRICTED_DATA_TYPE);
    assert_eq!(state(conv(ValueRef::Bytes(b"x"), CType::Double, &mut b)), SqlState::RESTRICTED_DATA_TYPE);
    assert_eq!(state(conv(ValueRef::Int(1), CType::Timestamp, &mut b)), SqlState::RESTRICTED_DATA_TYPE);
}

#[test]
fn text_truncation_is_01004_with_the_full_length_in_the_indicator() {
    let mut b = [0xAAu8; 6];
    let p = conv(ValueRef::Text("abcdefghij"), CType::Char, &mut b).unwrap();
    assert_eq!(p.indicator, 10);
    assert_eq!(warning(&p), Some(SqlState::STRING_TRUNCATED));
    assert_eq!(&b, b"abcde\0");
    let mut w = [0u8; 8];
    let p = conv(ValueRef::Text("abcdefghij"), CType::WChar, &mut w).unwrap();
    assert_eq!(p.indicator, 20, "wide lengths are in bytes");
    assert_eq!(warning(&p), Some(SqlState::STRING_TRUNCATED));
    assert_eq!(&w[..2], &u16::from(b'a').to_ne_bytes());
    assert_eq!(&w[6..8], &[0, 0]);
}

/// Reads `value` through SQLGetData-style pieces of `size` bytes; returns the
/// concatenated data and the indicators reported.
fn pieces(value: ValueRef<'_>, ctype: CType, size: usize) -> (Vec<u8>, Vec<isize>) {
    let mut offset = 0;
    let mut data = Vec::new();
    let mut indicators = Vec::new();
    loop {
        let mut b = vec![0u8; size];
        let p = to_c(value, sql_type::VARCHAR, Target::new(ctype), &mut b, offset).unwrap();
        indicators.push(p.indicator);
        let unit = if ctype == CType::WChar { 2 } else { 1 };
        data.extend_from_slice(&b[..p.consumed * unit]);
        offset += p.consumed;
        assert_eq!(p.complete, p.warning.is_none());
        if p.complete {
            return (data, indicators);
        }
    }
}

#[test]
fn a_hundred_character_string_comes_back_in_pieces_of_five_bytes() {
    let s: String = (0..100).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let (data, ind) = pieces(ValueRef::Text(&s), CType::Char, 5);
    assert_eq!(data, s.as_bytes());
    assert_eq!(ind.len(), 25);
    assert_eq!(ind[0], 100);
    assert_eq!(ind[1], 96);
    assert_eq!(*ind.last().unwrap(), 4);
}

#[test]
fn binary_values_come_back_in_pieces_without_terminators() {
    let v: Vec<u8> = (0..=255).collect();
    let (data, ind) = pieces(ValueRef::Bytes(&v), CType::Binary, 5);
    assert_eq!(data, v);
    assert_eq!(ind.len(), 52);
    assert_eq!((ind[0], ind[1]), (256, 251));
}

#[test]
fn wide_text_comes_back_in_utf16_pieces() {
    let s = "žluťoučký kůň 😀 úpěl";
    let (data, _) = pieces(ValueRef::Text(s), CType::WChar, 6);
    let units: Vec<u16> = data.chunks(2).map(|c| u16::from_ne_bytes([c[0], c[1]])).collect();
    assert_eq!(String::from_utf16(&units).unwrap(), s);
}

#[test]
fn binary_shown_as_text_is_upper_case_hex() {
    let mut b = [0u8; 16];
    let blob = ValueRef::Bytes(&[0xDE, 0xAD, 0x01]);
    let p = to_c(blob, sql_type::LONGVARBINARY, Target::new(CType::Char), &mut b, 0).unwrap();
    assert_eq!(p.indicator, 6);
    assert_eq!(&b[..7], b"DEAD01\0");
}

#[test]
fn a_character_column_value_that_is_not_utf8_is_22018_as_text_and_the_bytes_as_binary() {
    // The server sends a stored TEXT that is not UTF-8 as bytes of its character column.
    let stored = ValueRef::Bytes(&[0x61, 0xFF, 0x62]);
    let mut b = [0u8; 16];
    assert_eq!(state(conv(stored, CType::Char, &mut b)), SqlState::INVALID_CHARACTER_VALUE);
    assert_eq!(state(conv(stored, CType::WChar, &mut b)), SqlState::INVALID_CHARACTER_VALUE);
    let p = conv(stored, CType::Binary, &mut b).unwrap();
    assert_eq!((p.indicator, &b[..3]), (3, &[0x61, 0xFF, 0x62][..]));
}

#[test]
fn numbers_as_text_lose_only_fraction_digits_with_01004_and_whole_digits_with_22003() {
    let mut b = [0u8; 5];
    let p = conv(ValueRef::Decimal("12.345"), CType::Char, &mut b).unwrap();
    assert_eq!(warning(&p), Some(SqlState::STRING_TRUNCATED));
    assert_eq!(&b, b"12.3\0");
    assert_eq!(state(conv(ValueRef::Int(123456), CType::Char, &mut b)), SqlState::NUMERIC_OUT_OF_RANGE);
    let mut b = [0u8; 8];
    conv(ValueRef::Double(-0.5), CType::Char, &mut b).unwrap();
    assert_eq!(&b[..5], b"-0.5\0");
    let mut d = [0u8; 8];
    let date = Date { year: 2024, month: 1, day: 2 };
    assert_eq!(state(conv(ValueRef::Date(date), CType::Char, &mut d)), SqlState::NUMERIC_OUT_OF_RANGE);
}

#[test]
fn timestamps_convert_both_ways_between_text_and_structs() {
    let ts = Timestamp {
        date: Date { year: 2024, month: 2, day: 29 },
        time: Time { hour: 13, minute: 45, second: 1, nanos: 250_000_000 },
    };
    let mut b = [0u8; 32];
    conv(ValueRef::Timestamp(ts), CType::Char, &mut b).unwrap();
    assert_eq!(&b[..23], b"2024-02-29 13:45:01.25\0");
    let mut s = [0u8; 16];
    conv(ValueRef::Text("2024-02-29 13:45:01.25"), CType::Timestamp, &mut s).unwrap();
    assert_eq!(s, timestamp_struct(ts));
    let mut d = [0u8; 6];
    let p = conv(ValueRef::Timestamp(ts), CType::Date, &mut d).unwrap();
    assert_eq!(warning(&p), Some(SqlState::FRACTIONAL_TRUNCATION));
    assert_eq!(d, date_struct(ts.date));
    assert_eq!(state(conv(ValueRef::Text("not a date"), CType::Date, &mut d)), SqlState::INVALID_CHARACTER_VALUE);
    let p = conv(ValueRef::Date(ts.date), CType::Timestamp, &mut s).unwrap();
    assert_eq!(p.indicator, 16);
    assert_eq!(&s[6..16], &[0u8; 10]);
}

#[test]
fn numeric_structs_are_scaled_little_endian_magnitudes() {
    let mut b = [0u8; 19];
    let t = Target { ctype: CType::Numeric, precision: 10, scale: 2 };
    to_c(ValueRef::Decimal("-123.456"), sql_type::DECIMAL, t, &mut b, 0)
        .map(|p| assert_eq!(warning(&p), Some(SqlState::FRACTIONAL_TRUNCATION)))
        .unwrap();
    assert_eq!((b[0], b[1], b[2]), (10, 2, 0));
    assert_eq!(u128::from_le_bytes(b[3..19].try_into().unwrap()), 12345);
    to_c(ValueRef::Int(7), sql_type::INTEGER, t, &mut b, 0).unwrap();
    assert_eq!((b[2], u128::from_le_bytes(b[3..19].try_into().unwrap())), (1, 700));
    let narrow = Target { ctype: CType::Numeric, precision: 3, scale: 0 };
    assert_eq!(state(to_c(ValueRef::Int(1234), sql_type::INTEGER, narrow, &mut b, 0)), SqlState::NUMERIC_OUT_OF_RANGE);
}

#[test]
fn null_reports_null_data_and_writes_nothing() {
    let mut b = [7u8; 4];
    let p = conv(ValueRef::Null, CType::SLong, &mut b).unwrap();
    assert_eq!(p.indicator, SQL_NULL_DATA);
    assert_eq!(b, [7; 4]);
}

#[test]
fn c_default_converts_by_the_columns_sql_type() {
    let mut b = [0u8; 8];
    let p = to_c(ValueRef::Int(9), sql_type::INTEGER, Target::new(CType::Default), &mut b, 0).unwrap();
    assert_eq!(p.indicator, 4);
    assert_eq!(i32::from_ne_bytes(b[..4].try_into().unwrap()), 9);
}

#[test]
fn floats_and_doubles_keep_their_value() {
    let mut b = [0u8; 8];
    conv(ValueRef::Double(2.5), CType::Float, &mut b).unwrap();
    assert_eq!(f32::from_ne_bytes(b[..4].try_into().unwrap()), 2.5);
    assert_eq!(state(conv(ValueRef::Double(1e300), CType::Float, &mut b)), SqlState::NUMERIC_OUT_OF_RANGE);
    conv(ValueRef::Decimal("0.125"), CType::Double, &mut b).unwrap();
    assert_eq!(f64::from_ne_bytes(b), 0.125);
}

#[test]
fn a_zero_length_buffer_only_reports_the_length() {
    let mut b = [0u8; 0];
    let p = conv(ValueRef::Text("abc"), CType::Char, &mut b).unwrap();
    assert_eq!((p.indicator, p.consumed), (3, 0));
    assert_eq!(warning(&p), Some(SqlState::STRING_TRUNCATED));
    let p = conv(ValueRef::Int(123456), CType::Char, &mut b).unwrap();
    assert_eq!(p.indicator, 6);
}

#[test]
fn display_sizes_follow_the_odbc_table() {
    assert_eq!(display_size(sql_type::INTEGER, 10, 0), 11);
    assert_eq!(display_size(sql_type::DECIMAL, 10, 2), 12);
    assert_eq!(display_size(sql_type::TYPE_TIMESTAMP, 26, 6), 26);
    assert_eq!(display_size(sql_type::VARBINARY, 16, 0), 32);
}
