//! `DMConnAttr`, unixODBC's key for connection attributes set before the connect, read
//! by the driver itself. unixODBC applies it only from a DSN's odbc.ini entry or from a
//! connection string without `DSN=`; from a connection string that names a DSN it hands
//! it to the driver unapplied (and iODBC has no such key), so `DMConnAttr=[1002]=code`
//! would otherwise be lost. The syntax is unixODBC's (DriverManager/__attribute.c).

use twofactor_protocol::Secret;

use super::attributes::{check_token, is_string_attr, AttrIn, SQL_ATTR_TWO_FACTOR};
use super::connection_string::shown_key;
use super::{lock, Connection};
use crate::diag::OdbcResult;

/// One entry of a `DMConnAttr` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmAttribute {
    pub attribute: i32,
    pub value: DmValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmValue {
    /// An unquoted value or a named constant (`SQL_AUTOCOMMIT_OFF`). The text is kept as
    /// written so that a code keeps its leading zeros.
    Integer { value: i64, text: String },
    /// A value in double quotes, without them.
    Text(String),
}

/// Connection attributes unixODBC lets `DMConnAttr` name, with their named values.
/// (name, attribute number, the names of its values).
type NamedAttribute = (&'static str, i32, &'static [(&'static str, i64)]);

const DM_NAMED_ATTRIBUTES: &[NamedAttribute] = &[
    ("SQL_ATTR_ACCESS_MODE", 101, &[("SQL_MODE_READ_WRITE", 0), ("SQL_MODE_READ_ONLY", 1)]),
    ("SQL_ATTR_AUTOCOMMIT", 102, &[("SQL_AUTOCOMMIT_OFF", 0), ("SQL_AUTOCOMMIT_ON", 1)]),
    ("SQL_ATTR_LOGIN_TIMEOUT", 103, &[]),
    ("SQL_ATTR_CONNECTION_TIMEOUT", 113, &[]),
    ("SQL_ATTR_METADATA_ID", 10014, &[("SQL_FALSE", 0), ("SQL_TRUE", 1)]),
    ("SQL_ATTR_PACKET_SIZE", 112, &[]),
    (
        "SQL_ATTR_TXN_ISOLATION",
        108,
        &[
            ("SQL_TXN_READ_UNCOMMITTED", 1),
            ("SQL_TXN_READ_COMMITTED", 2),
            ("SQL_TXN_REPEATABLE_READ", 4),
            ("SQL_TXN_SERIALIZABLE", 8),
        ],
    ),
];

/// Leading digits as C's `atoi` reads them (unixODBC's rule for unquoted values).
fn leading_integer(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|v| sign * v)
}

/// Parses a `DMConnAttr` value with unixODBC's syntax: `KEY=VALUE` entries separated by
/// `;`, a value may be wrapped in `{}` (no escapes: it ends at the first `}`); KEY is an
/// attribute name (`SQL_ATTR_AUTOCOMMIT`) or a number in brackets (`[1002]`), optionally
/// prefixed by `*` (unixODBC's "override", the same to the driver); a value in double
/// quotes is a string, any other is an integer. Entries the driver cannot read are
/// returned in the second list, by key only (a value may be a code), for the log.
pub fn parse_dm_attributes(text: &str) -> (Vec<DmAttribute>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(';').trim();
        let after = &rest[eq + 1..];
        let (value, next) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(close) => (&braced[..close], braced[close + 1..].trim_start_matches(';')),
                None => (braced, ""),
            },
            None => match after.find(';') {
                Some(semi) => (&after[..semi], &after[semi + 1..]),
                None => (after, ""),
            },
        };
        rest = next;
        let key = key.strip_prefix('*').unwrap_or(key).trim();
        let named = DM_NAMED_ATTRIBUTES.iter().find(|(name, _, _)| name.eq_ignore_ascii_case(key));
        let attribute = match named {
            Some(&(_, number, _)) => Some(number),
            None => key.strip_prefix('[').and_then(|k| k.strip_suffix(']')).and_then(|n| n.trim().parse().ok()),
        };
        let value = value.trim();
        let parsed = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => Some(DmValue::Text(quoted.to_string())),
            None => named
                .and_then(|(_, _, values)| values.iter().find(|(n, _)| n.eq_ignore_ascii_case(value)))
                .map(|&(_, v)| v)
                .or_else(|| leading_integer(value))
                .map(|v| DmValue::Integer { value: v, text: value.to_string() }),
        };
        match (attribute, parsed) {
            (Some(attribute), Some(value)) => out.push(DmAttribute { attribute, value }),
            _ => skipped.push(shown_key(key)),
        }
    }
    (out, skipped)
}

impl Connection {
    /// Applies the `DMConnAttr` key the driver reads itself (unixODBC applies it only
    /// from a DSN's odbc.ini entry, or from a connection string without `DSN=`; iODBC
    /// never). An attribute the application or the driver manager already set on this
    /// handle is left alone, with one refinement for 1002: when the driver manager passed
    /// the code as an integer (unquoted value) and lost its leading zeros, the digits as
    /// written here are used. A code that is not a code is an error (HY024); other
    /// attributes that cannot be applied are logged and skipped, as unixODBC does.
    pub(super) fn apply_dm_attributes(&self, text: &str) -> OdbcResult<()> {
        let (entries, skipped) = parse_dm_attributes(text);
        for key in skipped {
            log::debug!("DMConnAttr: ignoring {key:?}, not an attribute this driver can read");
        }
        for DmAttribute { attribute, value } in entries {
            if attribute == SQL_ATTR_TWO_FACTOR {
                let written = match value {
                    DmValue::Integer { text, .. } | DmValue::Text(text) => check_token(&text)?,
                };
                let mut a = lock(&self.attributes);
                let same_number = |c: &Secret<String>| {
                    c.expose().parse::<u64>().ok().is_some_and(|n| written.parse::<u64>().ok() == Some(n))
                };
                match &a.code_before_connect {
                    Some(code) if !same_number(code) => log::debug!("DMConnAttr: attribute 1002 was already set"),
                    _ => a.code_before_connect = Some(Secret::new(written)),
                }
                continue;
            }
            if lock(&self.attributes).set_before_connect.contains(&attribute) {
                log::debug!("DMConnAttr: attribute {attribute} was already set by the application or driver manager");
                continue;
            }
            let input = match value {
                DmValue::Text(t) if is_string_attr(attribute) => AttrIn::Text(t),
                DmValue::Integer { value, .. } if !is_string_attr(attribute) => match usize::try_from(value) {
                    Ok(v) => AttrIn::Integer(v),
                    Err(_) => {
                        log::info!("DMConnAttr: attribute {attribute} = {value} is out of range; not applied");
                        continue;
                    }
                },
                _ => {
                    log::info!("DMConnAttr: attribute {attribute} has a value of the wrong kind; not applied");
                    continue;
                }
            };
            let result = self.set_attr(attribute, input, &mut |w| log::debug!("DMConnAttr: {}", w.message));
            // Applied from the keys of this connect only: a later connect on this handle
            // reads its own keys again.
            lock(&self.attributes).set_before_connect.remove(&attribute);
            if let Err(e) = result {
                log::info!("DMConnAttr: attribute {attribute} not applied: {}", e.message);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::attributes::SQL_ATTR_AUTOCOMMIT;
    use crate::diag::SqlState;

    use crate::conn::unconnected as conn;

    #[test]
    fn dm_attributes_are_read_with_unixodbc_syntax() {
        let (attrs, skipped) =
            parse_dm_attributes("[1002]=012345;SQL_ATTR_AUTOCOMMIT=SQL_AUTOCOMMIT_OFF;*[113]={7};[1002]=\"0099\"");
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(
            attrs,
            vec![
                DmAttribute { attribute: 1002, value: DmValue::Integer { value: 12345, text: "012345".into() } },
                DmAttribute { attribute: 102, value: DmValue::Integer { value: 0, text: "SQL_AUTOCOMMIT_OFF".into() } },
                DmAttribute { attribute: 113, value: DmValue::Integer { value: 7, text: "7".into() } },
                DmAttribute { attribute: 1002, value: DmValue::Text("0099".into()) },
            ]
        );
    }

    #[test]
    fn unreadable_dm_attributes_are_skipped_by_key_without_their_values() {
        let (attrs, skipped) = parse_dm_attributes("SQL_ATTR_NOPE=1;[x]=2;[5]=abc;[4]=1");
        assert_eq!(attrs, vec![DmAttribute { attribute: 4, value: DmValue::Integer { value: 1, text: "1".into() } }]);
        assert_eq!(skipped, vec!["SQL_ATTR_NOPE", "[x]", "[5]"]);
        assert!(parse_dm_attributes("").0.is_empty());
        assert!(parse_dm_attributes("no equals sign").0.is_empty());
    }

    #[test]
    fn dm_attributes_apply_what_was_not_set_before_and_keep_leading_zeros() {
        let c = conn();
        // The driver manager set autocommit on and passed the code as the integer 12345.
        c.set_attr(SQL_ATTR_AUTOCOMMIT, AttrIn::Integer(1), &mut |_| {}).unwrap();
        c.set_attr(SQL_ATTR_TWO_FACTOR, AttrIn::Token("12345".into()), &mut |_| {}).unwrap();
        c.apply_dm_attributes("[1002]=012345;SQL_ATTR_AUTOCOMMIT=SQL_AUTOCOMMIT_OFF;[113]=9;[4242]=1").unwrap();
        let a = lock(&c.attributes);
        assert_eq!(a.code_before_connect.as_ref().unwrap().expose(), "012345", "the digits as written");
        assert!(a.autocommit, "the driver manager's setting stays");
        assert_eq!(a.connection_timeout, 9, "what nobody set is applied");
        assert!(!a.set_before_connect.contains(&113), "a DMConnAttr value is not a setting of the handle");
    }

    #[test]
    fn a_dm_code_never_replaces_a_different_code_and_a_bad_one_is_hy024() {
        let c = conn();
        c.set_attr(SQL_ATTR_TWO_FACTOR, AttrIn::Token("111111".into()), &mut |_| {}).unwrap();
        c.apply_dm_attributes("[1002]=222222").unwrap();
        assert_eq!(lock(&c.attributes).code_before_connect.as_ref().unwrap().expose(), "111111");
        assert_eq!(
            conn().apply_dm_attributes("[1002]=\"12 34\"").unwrap_err().state,
            SqlState::INVALID_ATTRIBUTE_VALUE
        );
    }
}
