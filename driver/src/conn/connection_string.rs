//! ODBC connection strings: `KEY=value;KEY={brace;quoted}}value}`, and the masking that
//! keeps passwords and codes out of every log line.

use crate::diag::{OdbcError, OdbcResult, SqlState};

/// Keys whose values never reach a log. `DMConnAttr` can carry `[1002]=code`; a helper
/// command line may carry a key or seed in its arguments.
const SECRET_KEYS: &[&str] = &["pwd", "password", "twofactorcode", "dmconnattr", "twofactorcodecommand"];

pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key.trim()))
}

fn malformed(what: String) -> OdbcError {
    OdbcError::new(SqlState::GENERAL_ERROR, format!("malformed connection string: {what}"))
}

/// A key for an error message: short, and never a value.
pub(super) fn shown_key(key: &str) -> String {
    key.chars().take(40).collect()
}

/// Splits a connection string into its `(key, value)` pairs in order. Values in braces
/// may hold `;`, `=` and `}` (written `}}`). Empty segments (`;;`) are skipped. Keys keep
/// their spelling; callers compare them case-insensitively.
pub fn parse(s: &str) -> OdbcResult<Vec<(String, String)>> {
    let b = s.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b';') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b';' {
            i += 1;
        }
        let key = s[key_start..i].trim();
        if i >= b.len() || b[i] == b';' {
            return Err(malformed(format!("expected '=' after key '{}' at offset {key_start}", shown_key(key))));
        }
        if key.is_empty() {
            return Err(malformed(format!("empty key before '=' at offset {i}")));
        }
        i += 1; // '='
        while i < b.len() && b[i].is_ascii_whitespace() && b[i] != b'\n' {
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'{' {
            let mut value = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < b.len() {
                if b[j] == b'}' {
                    if b.get(j + 1) == Some(&b'}') {
                        value.push('}');
                        j += 2;
                        continue;
                    }
                    closed = true;
                    j += 1;
                    break;
                }
                let ch_len = s[j..].chars().next().map_or(1, char::len_utf8);
                value.push_str(&s[j..j + ch_len]);
                j += ch_len;
            }
            if !closed {
                return Err(malformed(format!("unterminated '{{' in the value of '{}'", shown_key(key))));
            }
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && b[j] != b';' {
                return Err(malformed(format!("unexpected text after the brace-quoted value of '{}'", shown_key(key))));
            }
            i = j;
            value
        } else {
            let start = i;
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            s[start..i].trim_end().to_string()
        };
        pairs.push((key.to_string(), value));
    }
    Ok(pairs)
}

/// A value as it must be written back into a connection string.
pub fn quote_value(value: &str) -> String {
    let needs_braces = value.contains([';', '{', '}', '='])
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace);
    if needs_braces {
        format!("{{{}}}", value.replace('}', "}}"))
    } else {
        value.to_string()
    }
}

/// Builds `K=V;K=V` from pairs, quoting values that need it.
pub fn build<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs.into_iter().map(|(k, v)| format!("{k}={}", quote_value(v))).collect::<Vec<_>>().join(";")
}

/// Replaces the values of password, code and similar keys anywhere in `text` with `***`.
/// Works on malformed strings too (it scans rather than parses): an unterminated brace
/// masks everything after it.
pub fn mask_secrets(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let at_word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if !(at_word_start && b[i].is_ascii_alphabetic()) {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let key = &text[key_start..i];
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j >= b.len() || b[j] != b'=' || !is_secret_key(key) {
            continue;
        }
        j += 1;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        out.push_str(&text[copied..j]);
        if j < b.len() && b[j] == b'{' {
            let mut k = j + 1;
            let mut end = None;
            while k < b.len() {
                if b[k] == b'}' {
                    if b.get(k + 1) == Some(&b'}') {
                        k += 2;
                        continue;
                    }
                    end = Some(k + 1);
                    break;
                }
                k += 1;
            }
            match end {
                Some(e) => {
                    out.push_str("{***}");
                    copied = e;
                    i = e;
                }
                None => {
                    out.push_str("***");
                    return out;
                }
            }
        } else {
            let mut k = j;
            // Up to the `;` even past spaces: over-masking free text is harmless.
            while k < b.len() && b[k] != b';' && b[k] != b'\n' {
                k += 1;
            }
            out.push_str("***");
            copied = k;
            i = k;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        parse(s).unwrap()
    }

    #[test]
    fn plain_pairs_are_split_and_trimmed_with_keys_kept_as_written() {
        assert_eq!(
            p(" DSN = demo ; UID=alice;PWD=secret; "),
            vec![("DSN".into(), "demo".into()), ("UID".into(), "alice".into()), ("PWD".into(), "secret".into())]
        );
    }

    #[test]
    fn brace_quoted_values_keep_semicolons_equals_and_escaped_braces() {
        assert_eq!(p("PWD={a;b=c}}d};Server=h"), vec![("PWD".into(), "a;b=c}d".into()), ("Server".into(), "h".into())]);
        assert_eq!(p("Driver={TwoFactor ODBC}"), vec![("Driver".into(), "TwoFactor ODBC".into())]);
    }

    #[test]
    fn empty_values_and_empty_segments_are_allowed() {
        assert_eq!(p("PWD=;;UID={}"), vec![("PWD".into(), "".into()), ("UID".into(), "".into())]);
        assert!(p("").is_empty());
        assert!(p(" ;; ").is_empty());
    }

    #[test]
    fn malformed_strings_are_refused_with_the_key_named_but_no_value() {
        for bad in ["PWD={abc", "UID", "=x", "PWD={a}b;UID=c", "DSN=x;UID"] {
            let e = parse(bad).unwrap_err();
            assert!(e.message.contains("malformed connection string"), "{bad}: {}", e.message);
            assert!(!e.message.contains("abc"));
        }
        assert!(parse("PWD={abc").unwrap_err().message.contains("'PWD'"));
    }

    #[test]
    fn values_that_need_braces_round_trip_through_build_and_parse() {
        let pairs = [("PWD", "a;b}c"), ("UID", " x"), ("Server", "host")];
        let s = build(pairs.iter().copied());
        assert_eq!(s, "PWD={a;b}}c};UID={ x};Server=host");
        let back = p(&s);
        assert_eq!(back[0].1, "a;b}c");
        assert_eq!(back[1].1, " x");
    }

    #[test]
    fn passwords_and_codes_are_masked_including_brace_quoted_ones() {
        let s = "DSN=d;UID=alice;PWD={se;cr}}et};TwoFactorCode=123456;Password=p2;TwoFactorCodeEnv=X";
        let m = mask_secrets(s);
        assert_eq!(m, "DSN=d;UID=alice;PWD={***};TwoFactorCode=***;Password=***;TwoFactorCodeEnv=X");
        for secret in ["se;cr", "et", "123456", "p2"] {
            assert!(!m.contains(secret), "{m}");
        }
    }

    #[test]
    fn masking_handles_lowercase_keys_spaces_dm_attributes_and_unterminated_braces() {
        assert_eq!(mask_secrets("pwd = x 1 ;uid=u"), "pwd = ***;uid=u");
        assert_eq!(mask_secrets("DMConnAttr=[1002]=654321"), "DMConnAttr=***");
        assert_eq!(mask_secrets("UID=u;PWD={open;never closed"), "UID=u;PWD=***");
        assert_eq!(mask_secrets("login as user with PWD=abc then"), "login as user with PWD=***");
        assert_eq!(mask_secrets("MYPWD=keep"), "MYPWD=keep");
        assert_eq!(mask_secrets("TwoFactorCodeCommand=pass show otp;UID=u"), "TwoFactorCodeCommand=***;UID=u");
    }
}
