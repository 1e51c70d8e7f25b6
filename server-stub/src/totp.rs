//! RFC 6238 time-based one-time passwords. `totp-rs` computes the code of one time step;
//! the window, the constant-time comparison and replay protection are ours, because the
//! replay ledger lives in the user store.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Secret length: the HMAC's output size, as RFC 4226 recommends (160 bits for SHA-1).
    pub fn secret_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    fn lib(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Ok(Algorithm::Sha1),
            "SHA256" => Ok(Algorithm::Sha256),
            "SHA512" => Ok(Algorithm::Sha512),
            _ => Err(format!("unknown TOTP algorithm `{s}`")),
        }
    }
}

/// How codes are derived from a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period_secs: u64,
}

impl TotpParams {
    pub fn step_at(&self, unix_time: i64) -> i64 {
        unix_time.div_euclid(self.period_secs as i64)
    }

    /// The code for one time step, zero-padded to `digits`.
    pub fn code_at_step(&self, secret: &[u8], step: i64) -> String {
        let time = (step.max(0) as u64).saturating_mul(self.period_secs);
        let totp = totp_rs::Builder::new()
            .with_algorithm(self.algorithm.lib())
            .with_digits(self.digits as u8)
            .with_step_duration(self.period_secs)
            .with_secret(secret.to_vec())
            .build_noncompliant();
        totp.generate(time).to_string()
    }

    pub fn code_at_time(&self, secret: &[u8], unix_time: i64) -> String {
        self.code_at_step(secret, self.step_at(unix_time))
    }

    /// The step in `[now - skew, now + skew]` whose code is `code`, if any. Every step of
    /// the window is computed and compared in constant time, so the time taken does not
    /// say which step (if any) matched.
    pub fn matching_step(&self, secret: &[u8], code: &str, now: i64, skew: u32) -> Option<i64> {
        let current = self.step_at(now);
        self.matching_step_in(secret, code, current - skew as i64, current + skew as i64)
    }

    /// The step in `[lo, hi]` whose code is `code`, if any; every step is computed and
    /// compared in constant time.
    pub fn matching_step_in(&self, secret: &[u8], code: &str, lo: i64, hi: i64) -> Option<i64> {
        let mut found: Option<i64> = None;
        for step in lo..=hi {
            let expected = self.code_at_step(secret, step);
            let equal: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
            if equal && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

pub fn generate_secret(algorithm: Algorithm) -> Vec<u8> {
    let mut secret = vec![0u8; algorithm.secret_len()];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// Base-32 without padding, as authenticator apps expect.
pub fn to_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let clean: String =
        text.chars().filter(|c| !c.is_whitespace() && *c != '=').collect::<String>().to_ascii_uppercase();
    data_encoding::BASE32_NOPAD.decode(clean.as_bytes()).ok()
}

/// The Key Uri Format that authenticator apps scan.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8], params: &TotpParams) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
        percent_encode(issuer),
        percent_encode(account),
        to_base32(secret),
        percent_encode(issuer),
        params.algorithm.name(),
        params.digits,
        params.period_secs
    )
}

/// What an `otpauth://totp/...` URI holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUri {
    pub label: String,
    pub secret: Vec<u8>,
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period_secs: u64,
}

/// Parses the Key Uri Format (`otpauth://totp/LABEL?secret=...&algorithm=...&digits=...
/// &period=...`); defaults SHA1, 6 digits, 30 s. HOTP URIs are refused.
pub fn parse_otpauth_uri(uri: &str) -> Result<ParsedUri, String> {
    let rest = uri.trim().strip_prefix("otpauth://").ok_or("not an otpauth:// URI")?;
    let (kind, rest) = rest.split_once('/').ok_or("no type in the URI")?;
    if !kind.eq_ignore_ascii_case("totp") {
        return Err(format!("`{kind}` URIs are not supported, only totp"));
    }
    let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut out = ParsedUri {
        label: percent_decode(label)?,
        secret: Vec::new(),
        algorithm: Algorithm::Sha1,
        digits: 6,
        period_secs: 30,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v)?;
        match k.to_ascii_lowercase().as_str() {
            "secret" => {
                out.secret = from_base32(&v).ok_or("the secret is not base-32")?;
            }
            "algorithm" => out.algorithm = v.parse()?,
            "digits" => out.digits = v.parse().map_err(|_| format!("digits `{v}`"))?,
            "period" => out.period_secs = v.parse().map_err(|_| format!("period `{v}`"))?,
            _ => {}
        }
    }
    if out.secret.len() < 10 {
        return Err("the URI has no secret, or one shorter than 80 bits".into());
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a truncated %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad %-escape `%{hex}`"))?);
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URI is not UTF-8".to_string())
}

/// RFC 3986 percent-encoding of all but the unreserved characters: what both otpauth URIs
/// and form bodies (`notify`) accept.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn p(algorithm: Algorithm) -> TotpParams {
        TotpParams { algorithm, digits: 8, period_secs: 30 }
    }

    #[test]
    fn rfc6238_appendix_b_vectors_match() {
        let table: &[(i64, &str, &str, &str)] = &[
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for &(t, sha1, sha256, sha512) in table {
            assert_eq!(p(Algorithm::Sha1).code_at_time(SEED20, t), sha1, "SHA1 at {t}");
            assert_eq!(p(Algorithm::Sha256).code_at_time(SEED32, t), sha256, "SHA256 at {t}");
            assert_eq!(p(Algorithm::Sha512).code_at_time(SEED64, t), sha512, "SHA512 at {t}");
        }
    }

    #[test]
    fn six_digit_codes_are_the_low_digits() {
        let six = TotpParams { algorithm: Algorithm::Sha1, digits: 6, period_secs: 30 };
        assert_eq!(six.code_at_time(SEED20, 59), "287082");
    }

    #[test]
    fn the_skew_window_accepts_exactly_minus_w_to_plus_w() {
        let params = TotpParams { algorithm: Algorithm::Sha1, digits: 6, period_secs: 30 };
        let now = 1_700_000_000;
        let current = params.step_at(now);
        for w in [0u32, 1, 2] {
            let w64 = w as i64;
            for offset in -w64 - 1..=w64 + 1 {
                let code = params.code_at_step(SEED20, current + offset);
                let got = params.matching_step(SEED20, &code, now, w);
                if offset.abs() <= w64 {
                    assert_eq!(got, Some(current + offset), "w={w} offset={offset}");
                } else {
                    // A code of another step may collide by chance one time in a million.
                    assert_ne!(got, Some(current + offset), "w={w} offset={offset}");
                }
            }
        }
    }

    #[test]
    fn malformed_codes_never_match() {
        let params = TotpParams { algorithm: Algorithm::Sha1, digits: 6, period_secs: 30 };
        for code in ["", "12345", "1234567", "abcdef", " 287082"] {
            assert_eq!(params.matching_step(SEED20, code, 59, 1), None);
        }
    }

    #[test]
    fn an_otpauth_uri_parses_back() {
        let secret = generate_secret(Algorithm::Sha256);
        let uri = otpauth_uri("Two Factor", "demo", &secret, &p(Algorithm::Sha256));
        let parsed = parse_otpauth_uri(&uri).unwrap();
        assert_eq!(parsed.secret, secret);
        assert_eq!(parsed.algorithm, Algorithm::Sha256);
        assert_eq!((parsed.digits, parsed.period_secs), (8, 30));
        assert_eq!(parsed.label, "Two Factor:demo");
        let d = parse_otpauth_uri("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!((d.algorithm, d.digits, d.period_secs), (Algorithm::Sha1, 6, 30));
        assert!(parse_otpauth_uri("otpauth://hotp/x?secret=GEZDGNBVGY3TQOJQ").is_err());
        assert!(parse_otpauth_uri("https://x").is_err());
        assert!(parse_otpauth_uri("otpauth://totp/x?secret=!!").is_err());
        assert!(parse_otpauth_uri("otpauth://totp/x").is_err());
    }

    #[test]
    fn base32_round_trips_and_the_uri_names_everything() {
        let secret = generate_secret(Algorithm::Sha1);
        assert_eq!(secret.len(), 20);
        let b32 = to_base32(&secret);
        assert_eq!(from_base32(&b32.to_lowercase()).unwrap(), secret);
        let uri = otpauth_uri("Two Factor", "demo", &secret, &p(Algorithm::Sha256));
        assert!(uri.starts_with("otpauth://totp/Two%20Factor:demo?secret="), "{uri}");
        assert!(uri.ends_with("&issuer=Two%20Factor&algorithm=SHA256&digits=8&period=30"), "{uri}");
    }
}
