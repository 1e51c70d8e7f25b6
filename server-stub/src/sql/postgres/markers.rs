//! ODBC's `?` parameter markers as PostgreSQL's `$1..$n`.
//!
//! ODBC applications write `?`; PostgreSQL only knows numbered markers. The rule is
//! psqlODBC's: every `?` outside string literals, quoted identifiers, dollar-quoted bodies
//! and comments is a marker, numbered left to right. PostgreSQL's jsonb operators `?`,
//! `?|` and `?&` are therefore markers too; write `jsonb_exists(doc, 'k')`,
//! `jsonb_exists_any(doc, array[...])` or `jsonb_exists_all(...)` instead, or write the
//! whole statement with `$n` markers: a statement that already has a `$n` marker is
//! left exactly as it is (the two styles are never mixed).
//!
//! This reads hostile input: it never panics and is one pass over the bytes (a dollar
//! quote's end is found with a linear substring search).

use std::borrow::Cow;

/// `sql` with its `?` markers numbered, and how many there were. Unchanged (borrowed)
/// when there are none or when the statement uses `$n` markers itself.
pub fn translate(sql: &str) -> (Cow<'_, str>, usize) {
    let scan = scan(sql);
    if scan.has_dollar_markers || scan.question_marks.is_empty() {
        return (Cow::Borrowed(sql), if scan.has_dollar_markers { 0 } else { scan.question_marks.len() });
    }
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 3 * scan.question_marks.len());
    let mut from = 0;
    for (n, &at) in scan.question_marks.iter().enumerate() {
        out.push_str(&sql[from..at]);
        // `x?` or `?1` would lex as the identifier `x$1` or the marker `$11`: keep the
        // marker a token of its own.
        if at > 0 && is_ident_byte(b[at - 1]) {
            out.push(' ');
        }
        out.push('$');
        out.push_str(&(n + 1).to_string());
        if b.get(at + 1).is_some_and(|&c| is_ident_byte(c)) {
            out.push(' ');
        }
        from = at + 1;
    }
    out.push_str(&sql[from..]);
    (Cow::Owned(out), scan.question_marks.len())
}

/// What a scan of a statement found outside literals, identifiers and comments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Byte offsets of the `?` markers.
    pub question_marks: Vec<usize>,
    /// Whether a `$n` marker is there.
    pub has_dollar_markers: bool,
    /// Whether a statement follows a `;` (a script of several statements).
    pub several_statements: bool,
}

/// Whether `sql` is a script of several statements (which PostgreSQL's extended protocol
/// refuses to prepare): something other than blanks and comments after a `;`.
pub fn is_script(sql: &str) -> bool {
    scan(sql).several_statements
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_byte(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// The index just past a quoted run that began at `start` (the opening quote), where a
/// doubled quote stays inside; with `backslash`, `\x` stays inside too (E'...').
fn skip_quoted(b: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if backslash => i += 2,
            c if c == quote => {
                if b.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// The index just past a `/* ... */` comment (they nest) that began at `start`.
fn skip_block_comment(b: &[u8], start: usize) -> usize {
    let (mut depth, mut i) = (0usize, start);
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// At a `$` that is not part of an identifier: the length of its `$tag$` opener, if it
/// is one (the tag is empty or an identifier without `$`).
fn dollar_tag_len(b: &[u8], at: usize) -> Option<usize> {
    let rest = &b[at + 1..];
    if rest.first().is_some_and(|&c| !is_ident_start(c) && c != b'$') {
        return None;
    }
    let tag = rest.iter().position(|&c| !(is_ident_start(c) || c.is_ascii_digit()))?;
    (rest[tag] == b'$').then_some(tag + 2)
}

/// Finds the markers of `sql`. Literals follow PostgreSQL's lexer with
/// `standard_conforming_strings = on` (its default since 9.1): a backslash escapes only in
/// `E'...'`. An unterminated literal or comment runs to the end (PostgreSQL then refuses
/// the statement).
pub fn scan(sql: &str) -> Scan {
    let b = sql.as_bytes();
    let mut found = Scan::default();
    let (mut i, mut after_semicolon) = (0, false);
    while i < b.len() {
        let c = b[i];
        let comment = matches!((c, b.get(i + 1)), (b'-', Some(b'-')) | (b'/', Some(b'*')));
        if after_semicolon && !c.is_ascii_whitespace() && !comment && c != b';' {
            found.several_statements = true;
        }
        after_semicolon |= c == b';';
        i = match c {
            b'\'' => skip_quoted(b, i, b'\'', false),
            b'"' => skip_quoted(b, i, b'"', false),
            b'-' if b.get(i + 1) == Some(&b'-') => b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p),
            b'/' if b.get(i + 1) == Some(&b'*') => skip_block_comment(b, i),
            b'?' => {
                found.question_marks.push(i);
                i + 1
            }
            b'$' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                found.has_dollar_markers = true;
                i + 1
            }
            b'$' => match dollar_tag_len(b, i) {
                Some(n) => {
                    // Both ends of the tag are `$`, so these are char boundaries.
                    let (tag, body) = (&sql[i..i + n], i + n);
                    sql[body..].find(tag).map_or(b.len(), |p| body + p + n)
                }
                None => i + 1,
            },
            c if is_ident_start(c) => {
                let end = b[i..].iter().position(|&c| !is_ident_byte(c)).map_or(b.len(), |p| i + p);
                let word = &b[i..end];
                match (word, b.get(end), b.get(end + 1)) {
                    // E'...' escapes with backslashes.
                    ([b'e' | b'E'], Some(b'\''), _) => skip_quoted(b, end, b'\'', true),
                    // U&'...' and U&"..." double their quotes like the plain forms.
                    ([b'u' | b'U'], Some(b'&'), Some(&q @ (b'\'' | b'"'))) => skip_quoted(b, end + 1, q, false),
                    _ => end,
                }
            }
            // A digit run (so `1e5` is not read as an identifier `e5`).
            c if c.is_ascii_digit() => b[i..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'.' || c == b'_'))
                .map_or(b.len(), |p| i + p),
            _ => i + 1,
        };
    }
    found
}

#[cfg(test)]
#[path = "markers_tests.rs"]
mod tests;
