//! The user name in a DN (RFC 4514) and in a search filter (RFC 4515). Both escape with
//! ldap3's functions; this file holds where `{user}` goes and the cases that must hold,
//! because a name such as `*` or `x)(uid=*` must find nobody, never everybody.

use ldap3::{dn_escape, ldap_escape};

/// The template's `{user}` replaced by the name as an RDN value: `,` `+` `"` `\` `<` `>`
/// `;` `=` NUL, a leading space or `#` and a trailing space are written `\XX`.
pub fn user_dn(template: &str, user: &str) -> String {
    template.replace("{user}", &dn_escape(user))
}

/// The filter's `{user}` replaced by the name as an assertion value: `*` `(` `)` `\` NUL
/// are written `\XX`, so the name matches itself only, never as a wildcard.
pub fn user_filter(template: &str, user: &str) -> String {
    template.replace("{user}", &ldap_escape(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_metacharacters_are_hex_escaped() {
        assert_eq!(user_filter("(uid={user})", "alice"), "(uid=alice)");
        assert_eq!(user_filter("(uid={user})", "*"), "(uid=\\2a)");
        assert_eq!(user_filter("(uid={user})", "x)(uid=*"), "(uid=x\\29\\28uid=\\2a)");
        assert_eq!(user_filter("(uid={user})", "a\\b"), "(uid=a\\5cb)");
        assert_eq!(user_filter("(uid={user})", "a\0b"), "(uid=a\\00b)");
    }

    #[test]
    fn dn_metacharacters_are_hex_escaped() {
        let t = "uid={user},ou=people,dc=example,dc=org";
        assert_eq!(user_dn(t, "alice"), "uid=alice,ou=people,dc=example,dc=org");
        assert_eq!(user_dn(t, "a,ou=admins"), "uid=a\\2cou\\3dadmins,ou=people,dc=example,dc=org");
        assert_eq!(user_dn(t, "a\\b"), "uid=a\\5cb,ou=people,dc=example,dc=org");
        assert_eq!(user_dn(t, "#a "), "uid=\\23a\\20,ou=people,dc=example,dc=org");
        assert_eq!(user_dn(t, "a\0"), "uid=a\\00,ou=people,dc=example,dc=org");
    }
}
