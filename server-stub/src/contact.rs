//! Phone numbers and e-mail addresses: checked at enrolment, masked in hints.

/// Normalises a phone number to E.164 (`+` and 8 to 15 digits). Spaces, dashes, dots and
/// parentheses are allowed as separators; anything else, or no leading `+` (a country
/// code is required), is refused.
pub fn normalize_phone(input: &str) -> Result<String, String> {
    let t = input.trim();
    let Some(rest) = t.strip_prefix('+') else {
        return Err(format!(
            "`{input}` is not an international number: write it as +<country code><number>, e.g. +15551234567"
        ));
    };
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(format!("`{input}` is not a phone number: `{c}` is not a digit")),
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(format!(
            "`{input}` is not a valid E.164 number (a country code not starting with 0, 8 to 15 digits in all)"
        ));
    }
    if digits.starts_with('1') && digits.len() != 11 {
        return Err(format!("`{input}`: a North American (+1) number has 10 digits after the country code"));
    }
    Ok(format!("+{digits}"))
}

/// The local part of a carrier gateway address: the national number for North America
/// (`+15551234567` → `5551234567`, as the US carriers' gateways expect), all digits
/// otherwise.
pub fn gateway_local_part(e164: &str) -> String {
    let digits = e164.trim_start_matches('+');
    match digits.strip_prefix('1') {
        Some(national) if digits.len() == 11 => national.to_owned(),
        _ => digits.to_owned(),
    }
}

/// `+1 ***-***-4567`, or `+*******4567` outside North America.
pub fn mask_phone(e164: &str) -> String {
    let digits = e164.trim_start_matches('+');
    let last4 = &digits[digits.len().saturating_sub(4)..];
    if digits.len() == 11 && digits.starts_with('1') {
        format!("+1 ***-***-{last4}")
    } else {
        format!("+{}{last4}", "*".repeat(digits.len().saturating_sub(4)))
    }
}

/// Checks an e-mail address (one `@`, a plain local part, a domain name with a dot) and
/// returns it trimmed, with the domain in lower case.
pub fn normalize_email(input: &str) -> Result<String, String> {
    let t = input.trim();
    let bad = || format!("`{input}` is not an e-mail address like name@example.com");
    let (local, domain) = t.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || local.contains('@')
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
    {
        return Err(bad());
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    if domain.len() > 253
        || labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.len() > 63
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    {
        return Err(bad());
    }
    let out = format!("{local}@{domain}");
    out.parse::<lettre::Address>().map_err(|_| bad())?;
    Ok(out)
}

/// `a***@example.com`.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// A carrier gateway: a host name (`txt.att.net`).
pub fn check_gateway(gateway: &str) -> Result<String, String> {
    let g = gateway.trim().to_ascii_lowercase();
    normalize_email(&format!("x@{g}"))
        .map(|_| g)
        .map_err(|_| format!("`{gateway}` is not a gateway host name like txt.att.net"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised_or_refused() {
        assert_eq!(normalize_phone("+15551234567").unwrap(), "+15551234567");
        assert_eq!(normalize_phone(" +1 (555) 123-4567 ").unwrap(), "+15551234567");
        assert_eq!(normalize_phone("+44 20 7946 0958").unwrap(), "+442079460958");
        for bad in [
            "5551234567",
            "+1555123456",
            "+1 555 123 45678",
            "+0123456789",
            "+12345",
            "+1234567890123456",
            "+1555123456x",
            "",
            "+",
        ] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_are_masked_and_gateway_parts_national() {
        assert_eq!(mask_phone("+15551234567"), "+1 ***-***-4567");
        assert_eq!(mask_phone("+442079460958"), "+********0958");
        assert_eq!(gateway_local_part("+15551234567"), "5551234567");
        assert_eq!(gateway_local_part("+442079460958"), "442079460958");
    }

    #[test]
    fn addresses_are_checked_and_masked() {
        assert_eq!(normalize_email("Ann.Lee@Example.COM").unwrap(), "Ann.Lee@example.com");
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a nn@example.com",
            "ann@exa mple.com",
            "ann@-example.com",
            "ann..lee@example.com",
            "ann@example..com",
            "ann\n@example.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(mask_email("alice@example.com"), "a***@example.com");
        assert_eq!(check_gateway("TXT.att.net").unwrap(), "txt.att.net");
        assert!(check_gateway("not a host").is_err());
    }
}
