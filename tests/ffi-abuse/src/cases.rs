//! The generated cases. Every case is one export called in one state of the handles,
//! with the valid baseline arguments except for the few a case replaces. Generation is
//! deterministic, so a case number names the same case on every run (`--case N`).

use crate::signatures::{Fixed, Function, Int, Kind, Param, Sel, Width};
use crate::values::{self, BadHandle};

/// What exists before the call under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Nothing,
    Env,
    DbcFresh,
    DbcConnected,
    /// Connected as a user whose second factor the server is waiting for.
    DbcPending,
    StmtFresh,
    StmtPrepared,
    StmtExecuted,
    StmtFetched,
    /// SQLExecute returned SQL_NEED_DATA for a data-at-execution parameter.
    StmtNeedData,
    Ard,
    Apd,
    Ird,
    Ipd,
    ExplicitDesc,
}

impl State {
    pub fn needs_server(self) -> bool {
        !matches!(self, State::Nothing | State::Env | State::DbcFresh)
    }
    /// The kind of the handle the state ends with.
    pub fn kind(self) -> Option<Kind> {
        Some(match self {
            State::Nothing => return None,
            State::Env => Kind::Env,
            State::DbcFresh | State::DbcConnected | State::DbcPending => Kind::Dbc,
            State::StmtFresh | State::StmtPrepared | State::StmtExecuted | State::StmtFetched | State::StmtNeedData => {
                Kind::Stmt
            }
            State::Ard | State::Apd | State::Ird | State::Ipd | State::ExplicitDesc => Kind::Desc,
        })
    }
}

const STMT_STATES: &[State] =
    &[State::StmtFresh, State::StmtPrepared, State::StmtExecuted, State::StmtFetched, State::StmtNeedData];
const DESC_STATES: &[State] = &[State::Ard, State::Apd, State::Ird, State::Ipd, State::ExplicitDesc];

/// The value of one argument, turned into a word in the child once handles exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    Word(i64),
    Handle(BadHandle),
    Null,
    IntegerAsPointer,
    /// An input string's length in units, computed from the baseline text.
    ExactLength,
    Text(TextShape),
    /// An output (or input data) buffer of this many bytes, ending at a guard page.
    Buffer(usize),
    /// A pointer to "123456", narrow or wide, as a Set*Attr value.
    Digits(Width),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextShape {
    Empty,
    /// Not valid UTF-8 (narrow) or a lone surrogate (wide).
    InvalidEncoding,
    /// Wide text at an odd address.
    Unaligned,
    /// 64 KiB of text.
    Long,
}

/// A call made before the one under test, to reach a state that only a setter reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    SetStmtAttr {
        attr: i32,
        value: i64,
    },
    /// SQLSetDescField on the state's statement's descriptor (10010..10013 as in
    /// SQL_ATTR_APP_ROW_DESC ..).
    SetDescField {
        desc: i32,
        record: i16,
        field: i16,
        value: i64,
    },
    /// SQLBindParameter(1, input, c_type, sql_type, 10, 0, 64-byte buffer, 64, &indicator).
    BindParameter {
        c_type: i16,
        sql_type: i16,
        indicator: i64,
    },
}

#[derive(Clone, Debug)]
pub struct Case {
    pub function: usize,
    pub state: State,
    pub before: Option<Before>,
    pub args: Vec<(usize, Arg)>,
    /// The call must return SQL_INVALID_HANDLE (the case passes a bad handle).
    pub expect_invalid_handle: bool,
}

impl Case {
    pub fn arg(&self, index: usize) -> Option<Arg> {
        self.args.iter().rev().find(|(i, _)| *i == index).map(|(_, a)| *a)
    }

    pub fn describe(&self, functions: &[Function]) -> String {
        let f = &functions[self.function];
        let mut text = format!("{} [{:?}]", f.name, self.state);
        if let Some(before) = self.before {
            text.push_str(&format!(" after {before:?}"));
        }
        for (index, arg) in &self.args {
            text.push_str(&format!(" {}={}", f.params[*index].0, describe_arg(*arg)));
        }
        text
    }
}

fn describe_arg(arg: Arg) -> String {
    match arg {
        Arg::Word(n) => n.to_string(),
        Arg::Handle(bad) => format!("{bad:?}"),
        Arg::Null => "NULL".into(),
        Arg::IntegerAsPointer => format!("(void*){}", values::INTEGER_AS_POINTER),
        Arg::ExactLength => "exact".into(),
        Arg::Text(shape) => format!("{shape:?}"),
        Arg::Buffer(n) => format!("buffer({n})"),
        Arg::Digits(w) => format!("\"123456\"({w:?})"),
    }
}

/// The states a function is called in.
fn states(f: &Function) -> Vec<State> {
    match f.params.first().map(|p| p.1) {
        Some(Param::Handle(Kind::Env)) => vec![State::Env],
        Some(Param::Handle(Kind::Dbc)) => vec![State::DbcFresh, State::DbcConnected, State::DbcPending],
        Some(Param::Handle(Kind::Stmt)) => STMT_STATES.to_vec(),
        Some(Param::Handle(Kind::Desc)) => DESC_STATES.to_vec(),
        Some(Param::HandleType) if f.name == "SQLAllocHandle" => {
            vec![State::Nothing, State::Env, State::DbcFresh, State::DbcConnected]
        }
        Some(Param::HandleType) => {
            vec![State::Env, State::DbcFresh, State::DbcConnected, State::StmtExecuted, State::Ard]
        }
        Some(Param::Other(_)) => vec![State::Env, State::DbcFresh, State::DbcConnected, State::StmtExecuted],
        _ => vec![State::Nothing],
    }
}

/// The one state in which selectors are swept against every buffer shape.
fn sweep_state(f: &Function) -> State {
    match f.handle_kind() {
        Some(Kind::Dbc) => State::DbcConnected,
        Some(Kind::Stmt) if f.name == "SQLGetData" => State::StmtFetched,
        Some(Kind::Stmt) => State::StmtExecuted,
        Some(Kind::Desc) => State::Ard,
        _ => states(f)[0],
    }
}

/// Replacements for one argument (each case replaces one, or one and its length).
fn mutations(f: &Function, index: usize) -> Vec<Vec<(usize, Arg)>> {
    let params = &f.params;
    let next = index + 1;
    let one = |arg: Arg| vec![(index, arg)];
    let with_next = |arg: Arg, next_arg: Arg| vec![(index, arg), (next, next_arg)];
    match params[index].1 {
        Param::Handle(kind) | Param::Other(kind) => {
            values::bad_handles(kind).into_iter().map(|b| one(Arg::Handle(b))).collect()
        }
        Param::TypedHandle => values::bad_handles(Kind::Stmt).into_iter().map(|b| one(Arg::Handle(b))).collect(),
        Param::HandleType => [0, 5, 6, -1, 99, i16::MIN as i64, i16::MAX as i64].map(|n| one(Arg::Word(n))).to_vec(),
        Param::NewHandle | Param::OutLen(_) | Param::Out(_) | Param::Indicator => vec![one(Arg::Null)],
        Param::InText(width, _) => {
            let Param::InLen(int) = params[next].1 else { unreachable!("{}: text without length", f.name) };
            let mut cases = vec![
                one(Arg::Text(TextShape::Empty)),
                one(Arg::Text(TextShape::InvalidEncoding)),
                one(Arg::Text(TextShape::Long)),
                with_next(Arg::Text(TextShape::InvalidEncoding), Arg::ExactLength),
                with_next(Arg::Null, Arg::Word(-3)),
                with_next(Arg::Null, Arg::Word(0)),
                with_next(Arg::Null, Arg::Word(5)),
                with_next(Arg::Null, Arg::Word(i16::MAX as i64)),
            ];
            if width == Width::Wide {
                cases.push(one(Arg::Text(TextShape::Unaligned)));
            }
            cases.push(vec![(next, Arg::ExactLength)]);
            cases.extend(values::input_lengths(int).into_iter().map(|n| vec![(next, Arg::Word(n))]));
            cases
        }
        Param::OutText(_) | Param::OutValue | Param::Target => {
            let mut cases = vec![one(Arg::Null)];
            if let Some((_, Param::Capacity(_))) = params.get(next) {
                cases.push(with_next(Arg::Null, Arg::Word(0)));
                cases.push(with_next(Arg::Null, Arg::Word(-1)));
                // A string buffer of length 0 is never written; a value of fixed size
                // (an integer attribute) is, whatever the length says.
                if matches!(params[index].1, Param::OutText(_)) {
                    cases.push(with_next(Arg::IntegerAsPointer, Arg::Word(0)));
                }
                cases.extend((0..=5).map(|n| with_next(Arg::Buffer(n), Arg::Word(n as i64))));
            }
            cases
        }
        Param::Capacity(int) => values::capacities(int).into_iter().map(|n| one(Arg::Word(n))).collect(),
        Param::Sel(sel) => values::selector_values(sel).into_iter().skip(1).map(|n| one(Arg::Word(n))).collect(),
        Param::Number(int) => values::numbers(int).into_iter().map(|n| one(Arg::Word(n))).collect(),
        Param::SetValue => set_values(params.get(next).map(|p| p.1) == Some(Param::SetLen))
            .into_iter()
            .map(|(value, len)| match len {
                Some(len) => with_next(value, Arg::Word(len)),
                None => one(value),
            })
            .collect(),
        Param::SetLen => values::SET_LENGTHS.iter().map(|n| one(Arg::Word(*n))).collect(),
        Param::Data => {
            let mut cases: Vec<_> = [0, 3, -3, -1].map(|n| with_next(Arg::Null, Arg::Word(n))).to_vec();
            cases.extend((0..=5).map(|n| with_next(Arg::Buffer(n), Arg::Word(n as i64))));
            cases
        }
        Param::DataLen => [-1, -2, -3, -4, -5, -100, 0, i16::MAX as i64, i32::MAX as i64, 1 << 40, isize::MAX as i64]
            .map(|n| one(Arg::Word(n)))
            .to_vec(),
        Param::InLen(_) | Param::Window => vec![],
    }
}

/// (value, length) pairs for Set*Attr (with a length argument) and Set*Option.
fn set_values(has_len: bool) -> Vec<(Arg, Option<i64>)> {
    let mut out: Vec<(Arg, Option<i64>)> = values::SET_INTEGERS.iter().map(|n| (Arg::Word(*n), None)).collect();
    if !has_len {
        out.extend([(Arg::Digits(Width::Narrow), None), (Arg::Digits(Width::Wide), None), (Arg::Null, None)]);
        return out;
    }
    out.extend(values::NOT_A_STRING_LENGTHS.iter().map(|n| (Arg::IntegerAsPointer, Some(*n))));
    out.extend([-3, 6, 3, 0].map(|n| (Arg::Digits(Width::Narrow), Some(n))));
    out.extend([-3, 12, 11, 1].map(|n| (Arg::Digits(Width::Wide), Some(n))));
    out.extend((0..=5).map(|n| (Arg::Buffer(n), Some(n as i64))));
    out.extend([-3, 0, 6].map(|n| (Arg::Null, Some(n))));
    out
}

/// Whether replacing argument `index` with `arg` is a bad handle the function must refuse.
fn is_bad_main_handle(f: &Function, index: usize, arg: Arg) -> bool {
    let Arg::Handle(_) = arg else { return false };
    match f.params[index].1 {
        Param::Handle(_) => true,
        // SQLAllocHandle's input is the parent, which SQL_HANDLE_ENV does not have.
        Param::TypedHandle => f.name != "SQLAllocHandle",
        // SQLCopyDesc's target; SQLError's and SQLTransact's may be null.
        Param::Other(_) => f.name == "SQLCopyDesc",
        _ => false,
    }
}

/// SQLSetConnectOption's options whose value is a pointer to a NUL-terminated string
/// (SQL_OPT_TRACEFILE, SQL_TRANSLATE_DLL, SQL_CURRENT_QUALIFIER, the two-factor code):
/// without a length argument an integer there is the application's error, not the
/// driver's to catch.
const STRING_OPTIONS: &[i64] = &[105, 106, 109, 1002];

fn integer_for_string_option(f: &Function, args: &[(usize, Arg)]) -> bool {
    if !f.name.starts_with("SQLSetConnectOption") {
        return false;
    }
    let find = |index: usize| args.iter().rev().find(|(i, _)| *i == index).map(|(_, a)| *a);
    let option = match find(1) {
        Some(Arg::Word(n)) => n,
        _ => values::selector_values(Sel::ConnOption)[0],
    };
    STRING_OPTIONS.contains(&option) && !matches!(find(2), Some(Arg::Digits(_) | Arg::Null))
}

fn push(
    cases: &mut Vec<Case>,
    function: usize,
    state: State,
    before: Option<Before>,
    args: Vec<(usize, Arg)>,
    f: &Function,
) {
    if integer_for_string_option(f, &args) {
        return;
    }
    let expect_invalid_handle = args.iter().any(|(i, a)| is_bad_main_handle(f, *i, *a))
        // A stale handle of a kind the state never had is a null one, still invalid.
        && state != State::Nothing;
    cases.push(Case { function, state, before, args, expect_invalid_handle });
}

/// Every case, in a fixed order.
pub fn generate(functions: &[Function]) -> Vec<Case> {
    let mut cases = Vec::new();
    for (fi, f) in functions.iter().enumerate() {
        let sweep = sweep_state(f);
        for state in states(f) {
            push(&mut cases, fi, state, None, vec![], f);
            for index in 0..f.params.len() {
                for args in mutations(f, index) {
                    push(&mut cases, fi, state, None, args, f);
                }
            }
        }
        selector_sweeps(&mut cases, fi, f, sweep);
    }
    set_then_use(&mut cases, functions);
    cases
}

/// Every value of every selector, against every shape of the value buffer; and every
/// pair of selectors of functions that have two (column x C type, record x field).
fn selector_sweeps(cases: &mut Vec<Case>, fi: usize, f: &Function, state: State) {
    let selectors: Vec<(usize, Sel)> = f
        .params
        .iter()
        .enumerate()
        .filter_map(|(i, p)| if let Param::Sel(s) = p.1 { Some((i, s)) } else { None })
        .collect();
    let buffer = f
        .params
        .iter()
        .position(|p| matches!(p.1, Param::OutValue | Param::OutText(_) | Param::Target | Param::SetValue));
    for &(si, sel) in &selectors {
        for value in values::selector_values(sel) {
            let chosen = (si, Arg::Word(value));
            let shapes = buffer.map(|b| mutations(f, b)).unwrap_or_default();
            for shape in shapes {
                let mut args = vec![chosen];
                args.extend(shape);
                push(cases, fi, state, None, args, f);
            }
            for &(sj, other) in selectors.iter().filter(|(sj, _)| *sj > si) {
                for value2 in values::selector_values(other).into_iter().skip(1) {
                    push(cases, fi, state, None, vec![chosen, (sj, Arg::Word(value2))], f);
                }
            }
        }
    }
    // The two-factor attribute also before connecting (the driver keeps the code) and on
    // a connection that waits for it.
    if f.name.starts_with("SQLSetConnectAttr") || f.name.starts_with("SQLGetConnectAttr") {
        if let Some(b) = buffer {
            for state in [State::DbcFresh, State::DbcPending] {
                for shape in mutations(f, b) {
                    let mut args = vec![(1, Arg::Word(1002))];
                    args.extend(shape);
                    push(cases, fi, state, None, args, f);
                }
            }
        }
    }
}

/// Calls that use what an earlier setter stored: sizes, counts and types set to odd
/// values, then execute, fetch, get data.
fn set_then_use(cases: &mut Vec<Case>, functions: &[Function]) {
    let users = [
        "SQLExecute",
        "SQLExecDirect",
        "SQLFetch",
        "SQLFetchScroll",
        "SQLGetData",
        "SQLMoreResults",
        "SQLRowCount",
        "SQLParamData",
        "SQLNumResultCols",
        "SQLDescribeCol",
        "SQLCloseCursor",
        "SQLBindCol",
    ];
    let user_indices: Vec<usize> = users
        .iter()
        .map(|u| functions.iter().position(|f| f.name == *u).expect("user function in the table"))
        .collect();
    // Statement attributes that hold sizes and counts (not the pointer ones: the driver
    // writes through those later, and a bad pointer there is the application's fault).
    let attrs = [0, 1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 18, 22, 27, -1, -2];
    let mut befores: Vec<Before> = Vec::new();
    for attr in attrs {
        befores.extend(values::SET_INTEGERS.iter().map(|&value| Before::SetStmtAttr { attr, value }));
    }
    for desc in 10010..=10013 {
        for value in [1, 4, 5, 100, 9999, i16::MAX as i64, 65535, 1 << 31, 1 << 40, -1] {
            befores.push(Before::SetDescField { desc, record: 0, field: 1001, value });
        }
        // Record fields of record 1 with odd types, lengths and precisions.
        for (field, value) in [
            (1002, 9999),
            (1002, -1),
            (2, 999),
            (1003, -1),
            (1003, 1 << 40),
            (1005, 9999),
            (1006, -9999),
            (1013, -5),
            (1013, 1 << 40),
            // SQL_DESC_ARRAY_SIZE one past the driver's largest (2^20, which it accepts
            // and would then read 2^20 rows of the one-parameter binding's arrays).
            (20, (1 << 20) + 1),
            (20, 0),
            (25, 1 << 40),
        ] {
            befores.push(Before::SetDescField { desc, record: 1, field, value });
        }
    }
    for state in [State::StmtPrepared, State::StmtExecuted, State::StmtFetched] {
        for &before in &befores {
            for &fi in &user_indices {
                push(cases, fi, state, Some(before), vec![], &functions[fi]);
            }
        }
    }
    // Every C type against every SQL type as a bound input parameter, then execute.
    let execute = functions.iter().position(|f| f.name == "SQLExecute").unwrap();
    for c_type in values::selector_values(Sel::CType) {
        for sql_type in values::selector_values(Sel::SqlType) {
            for indicator in [3, -3, -1, -5, 0, 64] {
                let before = Before::BindParameter { c_type: c_type as i16, sql_type: sql_type as i16, indicator };
                push(cases, execute, State::StmtPrepared, Some(before), vec![], &functions[execute]);
            }
        }
    }
}

/// How many bytes an output of fixed size needs.
pub fn fixed_size(fixed: Fixed) -> usize {
    match fixed {
        Fixed::I16 | Fixed::RowStatus => 2,
        Fixed::I32 => 4,
        Fixed::Isize => 8,
        Fixed::Functions => 500,
        Fixed::State(Width::Narrow) => 6,
        Fixed::State(Width::Wide) => 12,
    }
}

#[allow(dead_code)]
pub fn int_size(int: Int) -> usize {
    match int {
        Int::I16 => 2,
        Int::I32 => 4,
        Int::Isize => 8,
    }
}
