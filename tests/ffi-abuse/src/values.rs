//! The values cases hand to each kind of argument: for selectors the known values of
//! the ODBC headers and unknown ones around them; for handles, lengths, buffers and
//! pointers the bad values the suite is about.

use crate::signatures::{Int, Kind, Sel};

/// Numbers no selector, length or count should trip over.
pub const ODD_I16: &[i64] = &[0, -1, 9999, i16::MIN as i64, i16::MAX as i64];
pub const ODD_I32: &[i64] = &[0, -1, 9999, i32::MIN as i64, i32::MAX as i64, 1 << 16];
pub const ODD_U16: &[i64] = &[0, 9999, u16::MAX as i64, i16::MAX as i64];

/// The values of a selector; the first is the one valid baselines use.
pub fn selector_values(sel: Sel) -> Vec<i64> {
    let (known, unknown): (&[i64], &[i64]) = match sel {
        Sel::EnvAttr => (&[200, 201, 202, 10001], ODD_I32),
        // 1002 is the two-factor attribute; 1001..1010 its neighbours.
        Sel::ConnAttr => (
            &[
                102, 101, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 4, 1207,
                1209, 10001, 10014, 1001, 1002, 1003, 1004, 1005, 1006, 1010, -1, -2,
            ],
            ODD_I32,
        ),
        Sel::StmtAttr => (
            &[
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                28, -1, -2, 10010, 10011, 10012, 10013, 10014, 1002,
            ],
            ODD_I32,
        ),
        Sel::ConnOption => (&[102, 101, 103, 108, 109, 110, 112, 1002, 1003], ODD_U16),
        Sel::StmtOption => (&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 22, 27], ODD_U16),
        Sel::Info => return (0..=200).chain([1750, 10000, 10001, 10002, 10003, 10004, 10021, 20000, 65535]).collect(),
        Sel::FunctionId => return (0..=80).chain([999, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 65535]).collect(),
        // SQL_DESC_COUNT first: the fields a descriptor has, then the column attributes.
        Sel::DescField => {
            return [1001]
                .into_iter()
                .chain((0..=40).chain(1002..=1013).chain([1099, 9999, -1, i16::MIN as i64, i16::MAX as i64]))
                .collect()
        }
        Sel::ColAttrField => return (1..=40).chain(1001..=1013).chain([0, 1099, 9999, 65535]).collect(),
        Sel::DiagField => (&[6, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, -1247, -1248, -1249], ODD_I16),
        Sel::Record => (&[1, 2, 3], &[0, -1, 9999, i16::MIN as i64, i16::MAX as i64]),
        Sel::Column => (&[1, 2, 3, 4], &[0, 5, 9999, u16::MAX as i64, i16::MAX as i64]),
        Sel::CType => (
            &[
                1, -8, 4, 5, 7, 8, 2, -2, -7, -6, -15, -16, -17, -18, -25, -27, -26, -28, 91, 92, 93, 9, 10, 11, 99,
                -11, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 3, -4, -22,
            ],
            ODD_I16,
        ),
        Sel::SqlType => (
            &[12, 1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, 9, 10, 11, 91, 92, 93],
            &[0, 999, 100, i16::MIN as i64, i16::MAX as i64],
        ),
        Sel::IoType => (&[1, 2, 4, 3, 5, 6], ODD_I16),
        Sel::FreeOption => (&[0, 1, 2, 3], ODD_U16),
        Sel::Orientation => (&[1, 2, 3, 4, 5, 6, 8], ODD_I16),
        Sel::Completion => (&[0, 1], ODD_I16),
        Sel::DriverCompletion => (&[0, 1, 2, 3], ODD_U16),
        Sel::IdentifierType => (&[1, 2], ODD_U16),
        Sel::Scope => (&[0, 1, 2], ODD_U16),
        Sel::Nullable => (&[1, 0], ODD_U16),
        Sel::Unique => (&[1, 0], ODD_U16),
        Sel::Accuracy => (&[0, 1], ODD_U16),
        // SQL_POSITION, SQL_REFRESH, SQL_UPDATE, SQL_DELETE, SQL_ADD.
        Sel::SetPosOperation => (&[0, 1, 2, 3, 4], ODD_U16),
        // SQL_LOCK_NO_CHANGE, SQL_LOCK_EXCLUSIVE, SQL_LOCK_UNLOCK.
        Sel::LockType => (&[0, 1, 2], ODD_U16),
    };
    known.iter().chain(unknown).copied().collect()
}

/// Lengths of input strings besides SQL_NTS: exact, empty, odd, every negative code
/// and the extremes of the argument's type.
pub fn input_lengths(int: Int) -> Vec<i64> {
    let mut lengths = vec![0, 1, 3, 5, -1, -2, -4, -5, -6, -100, i16::MIN as i64, i16::MAX as i64];
    if int != Int::I16 {
        lengths.extend([i32::MIN as i64, i32::MAX as i64, 1 << 20]);
    }
    lengths
}

/// Capacities of output buffers, with the honest buffer of 512 units behind them.
pub fn capacities(int: Int) -> Vec<i64> {
    let mut caps = vec![0, 1, 2, 3, 4, 5, 6, 7, -1, -3, -4, -5, i16::MIN as i64, i16::MAX as i64];
    match int {
        Int::I16 => {}
        Int::I32 => caps.extend([i32::MIN as i64, i32::MAX as i64]),
        Int::Isize => caps.extend([i32::MAX as i64, isize::MAX as i64, isize::MIN as i64, 1 << 40]),
    }
    caps
}

/// Free integers (sizes, offsets, digits).
pub fn numbers(int: Int) -> Vec<i64> {
    let mut numbers = vec![1, -1, 255, 65535, i16::MIN as i64, i16::MAX as i64];
    if int == Int::Isize {
        numbers.extend([i32::MAX as i64, 1 << 31, 1 << 40, isize::MAX as i64, isize::MIN as i64]);
    }
    numbers
}

/// Lengths that say "the value is an integer or pointer, read nothing behind it".
pub const NOT_A_STRING_LENGTHS: &[i64] = &[0, -4, -5, -6, -7, -8];

/// The length arguments of Set*Attr, beside a valid value.
pub const SET_LENGTHS: &[i64] = &[-1, -2, -3, -4, -5, -6, -7, -8, -9, -100, 0, 1, 3, i32::MIN as i64, i32::MAX as i64];

/// Integer values of Set*Attr / Set*Option.
pub const SET_INTEGERS: &[i64] = &[0, 1, 2, 5, 100, -1, 1 << 31, 1 << 40, i64::MAX];

/// An integer that is not a mapped address, passed where a pointer is expected.
pub const INTEGER_AS_POINTER: usize = 123456;

/// Ways a handle argument is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadHandle {
    Null,
    /// A handle of the right kind that has been freed.
    Stale,
    /// A live handle of another kind.
    WrongKind(Kind),
    /// The valid handle with one bit flipped, or moved by 2^32.
    Flipped,
    Shifted,
    /// Small and huge numbers, and a pointer to zeroed memory.
    Number(usize),
    ZeroedMemory,
}

pub fn bad_handles(kind: Kind) -> Vec<BadHandle> {
    let mut bad = vec![
        BadHandle::Null,
        BadHandle::Stale,
        BadHandle::Flipped,
        BadHandle::Shifted,
        BadHandle::Number(1),
        BadHandle::Number(0xdead_beef),
        BadHandle::Number(usize::MAX),
        BadHandle::ZeroedMemory,
    ];
    bad.extend(crate::signatures::KINDS.iter().filter(|k| **k != kind).map(|k| BadHandle::WrongKind(*k)));
    bad
}
