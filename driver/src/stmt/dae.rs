//! Data-at-execution parameters: the values an application sends with SQLPutData after
//! SQLExecute/SQLExecDirect answered SQL_NEED_DATA (pyodbc does so for long strings and
//! bytes). The pieces are kept as raw bytes and decoded only once the parameter is
//! complete, so a piece may end inside a UTF-8 sequence or a UTF-16 surrogate pair.

use std::collections::HashMap;

use twofactor_protocol::ValueRef;

use crate::convert::{self, CType, ParamScratch};
use crate::diag::{OdbcError, OdbcResult, SqlState};

/// How the statement runs once every parameter has its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaeExec {
    Direct(String),
    Prepared,
}

/// One parameter (of one row of a parameter array) whose data comes at execution time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaeParam {
    /// 0-based row of the parameter set.
    pub row: usize,
    /// 0-based parameter.
    pub param: usize,
    /// What SQLParamData hands back: the bound ParameterValuePtr (of that row).
    pub token: usize,
    /// The C type of the pieces (SQL_C_DEFAULT already resolved).
    pub ctype: CType,
    /// The parameter's SQL type.
    pub sql: i16,
}

/// One call of SQLPutData, read from the application's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Null,
    Bytes(&'a [u8]),
}

#[derive(Debug, Default)]
struct Supplied {
    bytes: Vec<u8>,
    null: bool,
    pieces: usize,
}

/// A statement between SQL_NEED_DATA and the SQLParamData that executes it.
#[derive(Debug)]
pub struct DataAtExec {
    pub exec: DaeExec,
    params: Vec<DaeParam>,
    supplied: Vec<Supplied>,
    by_position: HashMap<(usize, usize), usize>,
    /// The parameter SQLPutData fills: the one the last SQLParamData named.
    current: Option<usize>,
}

fn sequence_error() -> OdbcError {
    OdbcError::sequence("SQLPutData before SQLParamData named a data-at-execution parameter")
}

impl DataAtExec {
    /// `params` in the order the application is asked for them (row by row, then by
    /// parameter number); never empty.
    pub fn new(exec: DaeExec, params: Vec<DaeParam>) -> Self {
        let by_position = params.iter().enumerate().map(|(i, p)| ((p.row, p.param), i)).collect();
        let supplied = params.iter().map(|_| Supplied::default()).collect();
        DataAtExec { exec, params, supplied, by_position, current: None }
    }

    /// SQLParamData: moves to the next parameter and returns its token, or `None` when
    /// every parameter has its data and the statement is to run.
    pub fn next_param(&mut self) -> Option<usize> {
        let next = self.current.map_or(0, |i| i + 1);
        if next >= self.params.len() {
            self.current = Some(self.params.len());
            return None;
        }
        self.current = Some(next);
        Some(self.params[next].token)
    }

    /// The C type of the parameter SQLPutData fills (it decides how a piece is read).
    pub fn current_ctype(&self) -> OdbcResult<CType> {
        self.current.and_then(|i| self.params.get(i)).map(|p| p.ctype).ok_or_else(sequence_error)
    }

    /// SQLPutData.
    pub fn put(&mut self, piece: Piece<'_>) -> OdbcResult<()> {
        let i = self.current.filter(|&i| i < self.params.len()).ok_or_else(sequence_error)?;
        let ctype = self.params[i].ctype;
        let s = &mut self.supplied[i];
        if s.null || (s.pieces > 0 && piece == Piece::Null) {
            return Err(OdbcError::new(SqlState(*b"HY020"), "attempt to concatenate a null value"));
        }
        if s.pieces > 0 && ctype.fixed_size().is_some() {
            return Err(OdbcError::new(SqlState(*b"HY019"), "non-character and non-binary data sent in pieces"));
        }
        match piece {
            Piece::Null => s.null = true,
            Piece::Bytes(b) => {
                s.bytes
                    .try_reserve(b.len())
                    .map_err(|_| OdbcError::new(SqlState::MEMORY_ALLOCATION, "memory allocation error"))?;
                s.bytes.extend_from_slice(b);
            }
        }
        s.pieces += 1;
        Ok(())
    }

    /// The whole value of the parameter `param` of row `row`, decoded for its SQL type.
    /// A character or binary parameter the application sent no piece for is empty; a
    /// fixed-size one has no value to invent and is an error.
    pub fn value<'a>(&'a self, row: usize, param: usize, scratch: &'a mut ParamScratch) -> OdbcResult<ValueRef<'a>> {
        let &i = self.by_position.get(&(row, param)).ok_or_else(|| {
            OdbcError::new(
                SqlState::GENERAL_ERROR,
                format!("parameter {} became data-at-execution after SQL_NEED_DATA", param + 1),
            )
        })?;
        let (p, s) = (&self.params[i], &self.supplied[i]);
        if s.null {
            return Ok(ValueRef::Null);
        }
        if s.pieces == 0 && p.ctype.fixed_size().is_some() {
            return Err(OdbcError::new(
                SqlState::WRONG_PARAM_COUNT,
                format!("no data was sent for data-at-execution parameter {}", param + 1),
            ));
        }
        convert::param_value(p.ctype, p.sql, &s.bytes, scratch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twofactor_protocol::{sql_type, Value};

    fn param(row: usize, n: usize, token: usize, ctype: CType, sql: i16) -> DaeParam {
        DaeParam { row, param: n, token, ctype, sql }
    }

    fn owned(d: &DataAtExec, row: usize, n: usize) -> OdbcResult<Value> {
        let mut scratch = ParamScratch::default();
        d.value(row, n, &mut scratch).map(|v| v.to_owned())
    }

    #[test]
    fn param_data_names_each_parameter_in_order_then_says_run() {
        let mut d = DataAtExec::new(
            DaeExec::Prepared,
            vec![param(0, 0, 11, CType::Char, sql_type::VARCHAR), param(0, 2, 33, CType::Binary, sql_type::VARBINARY)],
        );
        assert_eq!(d.next_param(), Some(11));
        assert_eq!(d.next_param(), Some(33));
        assert_eq!(d.next_param(), None);
    }

    #[test]
    fn put_data_before_param_data_is_a_sequence_error() {
        let mut d = DataAtExec::new(DaeExec::Prepared, vec![param(0, 0, 1, CType::Char, sql_type::VARCHAR)]);
        assert_eq!(d.put(Piece::Bytes(b"x")).unwrap_err().state, SqlState::FUNCTION_SEQUENCE_ERROR);
        d.next_param();
        d.next_param();
        assert_eq!(
            d.put(Piece::Bytes(b"x")).unwrap_err().state,
            SqlState::FUNCTION_SEQUENCE_ERROR,
            "after the last one"
        );
    }

    #[test]
    fn text_and_binary_pieces_concatenate_even_inside_a_utf8_sequence() {
        let mut d = DataAtExec::new(
            DaeExec::Prepared,
            vec![param(0, 0, 1, CType::Char, sql_type::VARCHAR), param(0, 1, 2, CType::Binary, sql_type::VARBINARY)],
        );
        d.next_param();
        let e = "é".as_bytes();
        d.put(Piece::Bytes(b"ab")).unwrap();
        d.put(Piece::Bytes(&e[..1])).unwrap();
        d.put(Piece::Bytes(&e[1..])).unwrap();
        d.next_param();
        d.put(Piece::Bytes(&[0, 1])).unwrap();
        d.put(Piece::Bytes(&[])).unwrap();
        d.put(Piece::Bytes(&[255])).unwrap();
        assert_eq!(owned(&d, 0, 0).unwrap(), Value::Text("abé".into()));
        assert_eq!(owned(&d, 0, 1).unwrap(), Value::Bytes(vec![0, 1, 255]));
    }

    #[test]
    fn narrow_pieces_are_utf8_or_refused_and_for_a_binary_parameter_stay_bytes() {
        let mut d = DataAtExec::new(
            DaeExec::Prepared,
            vec![param(0, 0, 1, CType::Char, sql_type::VARCHAR), param(0, 1, 2, CType::Char, sql_type::LONGVARBINARY)],
        );
        d.next_param();
        d.put(Piece::Bytes(&[0x61, 0xFE])).unwrap();
        d.next_param();
        d.put(Piece::Bytes(&[0x00, 0x01])).unwrap();
        d.put(Piece::Bytes(&[0xFE, 0xFF])).unwrap();
        assert_eq!(owned(&d, 0, 0).unwrap_err().state, SqlState::INVALID_CHARACTER_VALUE);
        assert_eq!(owned(&d, 0, 1).unwrap(), Value::Bytes(vec![0x00, 0x01, 0xFE, 0xFF]));
    }

    #[test]
    fn wide_pieces_split_inside_a_surrogate_pair_still_decode() {
        let mut d = DataAtExec::new(DaeExec::Prepared, vec![param(0, 0, 1, CType::WChar, sql_type::WVARCHAR)]);
        d.next_param();
        let wide: Vec<u8> = "a😀b".encode_utf16().flat_map(u16::to_ne_bytes).collect();
        // 'a' and the high surrogate, then the low surrogate and 'b'; then one odd split.
        d.put(Piece::Bytes(&wide[..4])).unwrap();
        d.put(Piece::Bytes(&wide[4..7])).unwrap();
        d.put(Piece::Bytes(&wide[7..])).unwrap();
        assert_eq!(owned(&d, 0, 0).unwrap(), Value::Text("a😀b".into()));
    }

    #[test]
    fn a_null_piece_makes_the_value_null_and_nothing_may_follow_it() {
        let mut d = DataAtExec::new(DaeExec::Prepared, vec![param(0, 0, 1, CType::Char, sql_type::VARCHAR)]);
        d.next_param();
        d.put(Piece::Null).unwrap();
        assert_eq!(d.put(Piece::Bytes(b"x")).unwrap_err().state.as_str(), "HY020");
        assert_eq!(owned(&d, 0, 0).unwrap(), Value::Null);
        let mut d = DataAtExec::new(DaeExec::Prepared, vec![param(0, 0, 1, CType::Char, sql_type::VARCHAR)]);
        d.next_param();
        d.put(Piece::Bytes(b"x")).unwrap();
        assert_eq!(d.put(Piece::Null).unwrap_err().state.as_str(), "HY020");
    }

    #[test]
    fn a_fixed_size_parameter_takes_one_piece_and_must_get_it() {
        let mut d = DataAtExec::new(
            DaeExec::Prepared,
            vec![param(0, 0, 1, CType::SLong, sql_type::INTEGER), param(0, 1, 2, CType::SLong, sql_type::INTEGER)],
        );
        d.next_param();
        d.put(Piece::Bytes(&42i32.to_ne_bytes())).unwrap();
        assert_eq!(d.put(Piece::Bytes(&1i32.to_ne_bytes())).unwrap_err().state.as_str(), "HY019");
        d.next_param();
        assert_eq!(owned(&d, 0, 0).unwrap(), Value::Int(42));
        assert_eq!(owned(&d, 0, 1).unwrap_err().state, SqlState::WRONG_PARAM_COUNT);
    }

    #[test]
    fn rows_of_a_parameter_array_keep_their_own_values() {
        let mut d = DataAtExec::new(
            DaeExec::Prepared,
            vec![param(0, 0, 100, CType::Char, sql_type::VARCHAR), param(1, 0, 108, CType::Char, sql_type::VARCHAR)],
        );
        assert_eq!(d.next_param(), Some(100));
        d.put(Piece::Bytes(b"first")).unwrap();
        assert_eq!(d.next_param(), Some(108));
        d.put(Piece::Bytes(b"second")).unwrap();
        assert_eq!(owned(&d, 1, 0).unwrap(), Value::Text("second".into()));
        assert_eq!(owned(&d, 0, 0).unwrap(), Value::Text("first".into()));
        assert_eq!(owned(&d, 0, 1).unwrap_err().state, SqlState::GENERAL_ERROR);
    }
}
