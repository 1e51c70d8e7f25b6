//! In the forked child: the handles a case's state needs (connecting to the real server
//! where it must), the arguments of the call resolved to words, and the teardown.

use std::collections::HashMap;

use crate::cases::{fixed_size, Arg, Before, Case, State, TextShape};
use crate::library::{Export, Library};
use crate::memory::{guarded, guarded_copy, large_input};
use crate::signatures::{Function, Kind, Param, Text, Width};
use crate::values::{self, BadHandle};

#[derive(Default)]
pub struct Options {
    pub driver: String,
    /// Connection string (without Driver=) of a user who needs no second factor.
    pub connect: String,
    /// The same for a user whose second factor is then pending; `{n}` in it becomes the
    /// case number modulo `pending_users`, so the wrong codes some cases submit are
    /// spread over users and none reaches the server's lockout.
    pub connect_pending: String,
    pub pending_users: usize,
    pub dsn: String,
    pub uid: String,
    pub pwd: String,
}

/// The driver and every export the table names, resolved once in the parent.
pub struct Driver {
    exports: HashMap<&'static str, Export>,
    _library: Library,
}

impl Driver {
    pub fn load(path: &str, functions: &[Function]) -> Result<Driver, String> {
        let library = Library::open(path)?;
        let mut exports = HashMap::new();
        for f in functions {
            exports.insert(f.name, library.export(f.name, f.params.len())?);
        }
        Ok(Driver { exports, _library: library })
    }

    pub fn export(&self, name: &str) -> Export {
        self.exports[name]
    }

    /// A setup call with well-formed arguments.
    fn call(&self, name: &str, args: &[usize]) -> i16 {
        let mut words = [0usize; 13];
        words[..args.len()].copy_from_slice(args);
        unsafe { self.export(name).call(&words) }
    }
}

pub const SQL_NTS: usize = -3isize as usize;
/// The result set every statement state works on: four columns of four types.
const SQL: &str = "SELECT 1 AS a, 'abc' AS b, 2.5 AS c, x'00ff' AS d WHERE ? IS NOT NULL";

fn succeeded(rc: i16) -> bool {
    rc == 0 || rc == 1
}

/// The handles of a state; zero where the state has none.
#[derive(Default)]
pub struct Handles {
    env: usize,
    dbc: usize,
    stmt: usize,
    desc: usize,
    explicit_desc: usize,
    main: usize,
}

impl Handles {
    fn of(&self, kind: Kind) -> usize {
        match kind {
            Kind::Env => self.env,
            Kind::Dbc => self.dbc,
            Kind::Stmt => self.stmt,
            Kind::Desc => self.desc,
        }
    }
}

fn alloc(driver: &Driver, kind: Kind, parent: usize) -> Result<usize, String> {
    let out = guarded(8, 0).cast::<usize>();
    let rc = driver.call("SQLAllocHandle", &[kind as usize, parent, out as usize]);
    if !succeeded(rc) {
        return Err(format!("SQLAllocHandle({kind:?}) returned {rc}"));
    }
    Ok(unsafe { out.read() })
}

fn text_words(s: &str) -> Vec<u8> {
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

fn stmt_ok(what: &str, rc: i16) -> Result<(), String> {
    if succeeded(rc) || (what == "SQLExecute (data at execution)" && rc == 99) {
        Ok(())
    } else {
        Err(format!("{what} returned {rc}"))
    }
}

/// Rows of the arrays parameter 1 is bound to: SQL_ATTR_PARAMSET_SIZE up to this (the
/// set-then-use cases set 2, 5 and 100) is an honest size, so the driver may read every
/// row it was told of; a larger size (which the driver must refuse) is not.
const PARAM_ROWS: usize = 100;

/// Binds parameter 1 as the 3 characters "abc", or as data at execution, in every row of
/// a column-wise array of PARAM_ROWS.
fn bind_first_parameter(driver: &Driver, stmt: usize, at_execution: bool) -> Result<(), String> {
    let value = guarded_copy(&b"abc\0".repeat(PARAM_ROWS));
    let indicator = guarded(8 * PARAM_ROWS, 0).cast::<isize>();
    for row in 0..PARAM_ROWS {
        unsafe { indicator.add(row).write(if at_execution { -2 } else { 3 }) };
    }
    let rc = driver.call("SQLBindParameter", &[stmt, 1, 1, 1, 12, 10, 0, value as usize, 4, indicator as usize]);
    stmt_ok("SQLBindParameter", rc)
}

pub fn set_up(driver: &Driver, options: &Options, state: State, case_number: usize) -> Result<Handles, String> {
    let mut h = Handles::default();
    if state == State::Nothing {
        return Ok(h);
    }
    h.env = alloc(driver, Kind::Env, 0)?;
    driver.call("SQLSetEnvAttr", &[h.env, 200, 3, 0]);
    h.main = h.env;
    if state == State::Env {
        return Ok(h);
    }
    h.dbc = alloc(driver, Kind::Dbc, h.env)?;
    h.main = h.dbc;
    if state == State::DbcFresh {
        return Ok(h);
    }
    let connect = if state == State::DbcPending {
        options.connect_pending.replace("{n}", &(case_number % options.pending_users.max(1)).to_string())
    } else {
        options.connect.clone()
    };
    let text = guarded_copy(&text_words(&connect));
    let rc = driver.call("SQLDriverConnect", &[h.dbc, 0, text as usize, SQL_NTS, 0, 0, 0, 0]);
    if !succeeded(rc) {
        return Err(format!("SQLDriverConnect returned {rc}: is the server running?"));
    }
    if matches!(state, State::DbcConnected | State::DbcPending) {
        return Ok(h);
    }
    h.stmt = alloc(driver, Kind::Stmt, h.dbc)?;
    h.explicit_desc = alloc(driver, Kind::Desc, h.dbc)?;
    h.main = h.stmt;
    let sql = guarded_copy(&text_words(SQL));
    match state {
        State::StmtPrepared | State::StmtExecuted | State::StmtFetched | State::StmtNeedData => {
            stmt_ok("SQLPrepare", driver.call("SQLPrepare", &[h.stmt, sql as usize, SQL_NTS]))?;
            bind_first_parameter(driver, h.stmt, state == State::StmtNeedData)?;
        }
        _ => {}
    }
    match state {
        State::StmtExecuted | State::StmtFetched => {
            stmt_ok("SQLExecute", driver.call("SQLExecute", &[h.stmt]))?;
        }
        State::StmtNeedData => {
            let rc = driver.call("SQLExecute", &[h.stmt]);
            stmt_ok("SQLExecute (data at execution)", rc)?;
        }
        _ => {}
    }
    if state == State::StmtFetched {
        stmt_ok("SQLFetch", driver.call("SQLFetch", &[h.stmt]))?;
    }
    let desc_attr = match state {
        State::Ard => 10010,
        State::Apd => 10011,
        State::Ird => 10012,
        State::Ipd => 10013,
        _ => 0,
    };
    if desc_attr != 0 {
        let out = guarded(8, 0).cast::<usize>();
        let rc = driver.call("SQLGetStmtAttr", &[h.stmt, desc_attr, out as usize, 8, 0]);
        stmt_ok("SQLGetStmtAttr(descriptor)", rc)?;
        h.desc = unsafe { out.read() };
        h.main = h.desc;
    }
    if state == State::ExplicitDesc {
        h.desc = h.explicit_desc;
        h.main = h.desc;
    }
    Ok(h)
}

pub fn apply_before(driver: &Driver, h: &Handles, before: Before) {
    match before {
        Before::SetStmtAttr { attr, value } => {
            driver.call("SQLSetStmtAttr", &[h.stmt, attr as isize as usize, value as usize, 0]);
        }
        Before::SetDescField { desc, record, field, value } => {
            let out = guarded(8, 0).cast::<usize>();
            driver.call("SQLGetStmtAttr", &[h.stmt, desc as usize, out as usize, 8, 0]);
            let d = unsafe { out.read() };
            driver.call("SQLSetDescField", &[d, record as isize as usize, field as isize as usize, value as usize, 0]);
        }
        Before::BindParameter { c_type, sql_type, indicator } => {
            let value = guarded(64, b'7');
            let ind = guarded(8, 0).cast::<isize>();
            unsafe { ind.write(indicator as isize) };
            let args = [
                h.stmt,
                1,
                1,
                c_type as isize as usize,
                sql_type as isize as usize,
                10,
                0,
                value as usize,
                64,
                ind as usize,
            ];
            driver.call("SQLBindParameter", &args);
        }
    }
}

/// Frees what the state made (what the call already freed gets SQL_INVALID_HANDLE).
pub fn tear_down(driver: &Driver, h: &Handles) {
    if h.stmt != 0 {
        driver.call("SQLFreeHandle", &[Kind::Stmt as usize, h.stmt]);
        driver.call("SQLFreeHandle", &[Kind::Desc as usize, h.explicit_desc]);
    }
    if h.dbc != 0 {
        driver.call("SQLDisconnect", &[h.dbc]);
        driver.call("SQLFreeHandle", &[Kind::Dbc as usize, h.dbc]);
    }
    if h.env != 0 {
        driver.call("SQLFreeHandle", &[Kind::Env as usize, h.env]);
    }
}

fn baseline_text(options: &Options, role: Text) -> String {
    match role {
        Text::Sql => SQL.replace(" WHERE ? IS NOT NULL", ""),
        Text::ConnectionString => options.connect.clone(),
        Text::Dsn => options.dsn.clone(),
        Text::Uid => options.uid.clone(),
        Text::Pwd => options.pwd.clone(),
        Text::CursorName => "abuse_cursor".into(),
        Text::Pattern => "%".into(),
    }
}

/// Units of `text` in the width, NUL-terminated, as bytes; and the number of units.
fn encode(text: &str, width: Width, shape: Option<TextShape>) -> (Vec<u8>, usize) {
    let units: Vec<u16> = match (width, shape) {
        (Width::Narrow, Some(TextShape::InvalidEncoding)) => {
            return (vec![b'a', 0xff, 0xfe, b'b', 0], 4);
        }
        (Width::Wide, Some(TextShape::InvalidEncoding)) => vec![u16::from(b'a'), 0xd800, u16::from(b'b')],
        (_, Some(TextShape::Empty)) => vec![],
        (_, Some(TextShape::Long)) => vec![u16::from(b'a'); 65536],
        _ => text.encode_utf16().collect(),
    };
    match width {
        Width::Narrow => {
            let bytes = if shape == Some(TextShape::Long) { vec![b'a'; 65536] } else { text_or_empty(text, shape) };
            let n = bytes.len();
            let mut out = bytes;
            out.push(0);
            (out, n)
        }
        Width::Wide => {
            let n = units.len();
            let mut out: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
            out.extend([0, 0]);
            (out, n)
        }
    }
}

fn text_or_empty(text: &str, shape: Option<TextShape>) -> Vec<u8> {
    if shape == Some(TextShape::Empty) {
        vec![]
    } else {
        text.as_bytes().to_vec()
    }
}

fn bad_handle(driver: &Driver, h: &Handles, kind: Kind, bad: BadHandle) -> usize {
    let valid = h.of(kind);
    match bad {
        BadHandle::Null => 0,
        BadHandle::Stale => {
            let parent = match kind {
                Kind::Env => Some(0),
                Kind::Dbc => (h.env != 0).then_some(h.env),
                Kind::Stmt | Kind::Desc => (h.stmt != 0).then_some(h.dbc),
            };
            match parent.and_then(|p| alloc(driver, kind, p).ok()) {
                Some(handle) => {
                    driver.call("SQLFreeHandle", &[kind as usize, handle]);
                    handle
                }
                None => 0,
            }
        }
        // Another live handle; when the state has none of that kind (or the argument's
        // own kind is the one asked for), any other live one; null in a state with one.
        BadHandle::WrongKind(other) => {
            [h.of(other), h.env, h.dbc, h.stmt, h.desc].into_iter().find(|x| *x != 0 && *x != valid).unwrap_or(0)
        }
        BadHandle::Flipped => valid ^ 1,
        BadHandle::Shifted => valid.wrapping_add(1 << 32),
        BadHandle::Number(n) => n,
        BadHandle::ZeroedMemory => guarded(4096, 0) as usize,
    }
}

/// The words of the call under test.
pub fn resolve(driver: &Driver, options: &Options, f: &Function, case: &Case, h: &Handles) -> [usize; 13] {
    let mut words = [0usize; 13];
    let mut last_text_units = 0usize;
    let main_kind = case.state.kind();
    for (i, (name, param)) in f.params.iter().enumerate() {
        let arg = case.arg(i);
        let word = |n: i64| n as usize;
        words[i] = match (param, arg) {
            (_, Some(Arg::Word(n))) => word(n),
            (_, Some(Arg::Null)) => 0,
            (_, Some(Arg::IntegerAsPointer)) => values::INTEGER_AS_POINTER,
            (Param::Handle(kind) | Param::Other(kind), Some(Arg::Handle(bad))) => bad_handle(driver, h, *kind, bad),
            (Param::TypedHandle, Some(Arg::Handle(bad))) => bad_handle(driver, h, main_kind.unwrap_or(Kind::Env), bad),
            (Param::Handle(kind), _) => h.of(*kind),
            (Param::Other(Kind::Desc), _) => h.explicit_desc,
            (Param::Other(kind), _) => h.of(*kind),
            (Param::TypedHandle, _) => h.main,
            (Param::HandleType, _) => match (f.name, main_kind) {
                ("SQLAllocHandle", None) => Kind::Env as usize,
                ("SQLAllocHandle", Some(Kind::Env)) => Kind::Dbc as usize,
                ("SQLAllocHandle", Some(_)) => Kind::Stmt as usize,
                (_, kind) => kind.unwrap_or(Kind::Env) as usize,
            },
            (Param::InText(width, role), shape) => {
                let shape = if let Some(Arg::Text(s)) = shape { Some(s) } else { None };
                let (bytes, units) = encode(&baseline_text(options, *role), *width, shape);
                last_text_units = units;
                large_input(&bytes, usize::from(shape == Some(TextShape::Unaligned))) as usize
            }
            (Param::InLen(_), Some(Arg::ExactLength)) => last_text_units,
            (Param::InLen(_), _) => SQL_NTS,
            (Param::OutText(width), Some(Arg::Buffer(n))) => guarded(n * unit(*width), 0xa5) as usize,
            (Param::OutText(width), _) => guarded(512 * unit(*width), 0xa5) as usize,
            // A value's size may be fixed by its selector (ODBC then ignores the buffer
            // length), so small value buffers get 8 bytes of room a string must not use.
            (Param::OutValue, Some(Arg::Buffer(n))) => guarded(n + 8, 0xa5) as usize,
            (Param::OutValue, _) => guarded(512, 0xa5) as usize,
            (Param::Target, Some(Arg::Buffer(n))) => guarded(n + 32, b'7') as usize,
            (Param::Target, _) => guarded(256, b'7') as usize,
            (Param::Capacity(_), _) if matches!(f.params[i - 1].1, Param::Target) => 256,
            (Param::Capacity(_), _) => 512,
            (Param::OutLen(_), _) | (Param::NewHandle, _) => guarded(8, 0xa5) as usize,
            (Param::Out(fixed), _) => guarded(fixed_size(*fixed), 0xa5) as usize,
            (Param::Sel(sel), _) => word(values::selector_values(*sel)[0]),
            (Param::Number(_), _) => usize::from(*name == "column_size" || *name == "length") * 10,
            (Param::SetValue, Some(Arg::Digits(width))) => large_input(&encode("123456", width, None).0, 0) as usize,
            (Param::SetValue, Some(Arg::Buffer(n))) => guarded_copy(&vec![b'1'; n]) as usize,
            (Param::SetValue, _) => 1,
            // SQL_IS_UINTEGER: the baseline value is an integer.
            (Param::SetLen, _) => word(-5),
            (Param::Data, Some(Arg::Buffer(n))) => guarded_copy(&vec![b'x'; n]) as usize,
            (Param::Data, _) => large_input(b"abc\0", 0) as usize,
            (Param::DataLen, _) => 3,
            (Param::Indicator, _) => {
                let p = guarded(8, 0).cast::<isize>();
                unsafe { p.write(3) };
                p as usize
            }
            (Param::Window, _) => 0,
        };
    }
    words
}

fn unit(width: Width) -> usize {
    match width {
        Width::Narrow => 1,
        Width::Wide => 2,
    }
}
