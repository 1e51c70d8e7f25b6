//! The HTTP edges of the page: every response's security headers, the bounded body read,
//! form fields and the enrolment cookie.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

pub(super) type Reply = Response<Full<Bytes>>;

/// The page's policy: nothing but its own style sheet, `data:` images (the QR code) and
/// forms posted to itself; never framed.
pub(super) const CSP: &str =
    "default-src 'none'; img-src data: 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// The largest request body read (a form with a password or a code is far smaller).
pub(super) const MAX_BODY_BYTES: usize = 8 * 1024;

/// The cookie that finds a browser's enrolment. `__Host-`: the browser accepts it only
/// with `Secure`, `Path=/` and no `Domain`, so no other host or plain-HTTP page can set it.
pub(super) const COOKIE: &str = "__Host-tf-enrol";

fn with_headers(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The token is in the URL: no page may pass it on as a Referer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    r
}

/// An HTML page; never cached (every page but the style sheet is about one enrolment,
/// and some show the secret or the backup codes).
pub(super) fn html(status: StatusCode, page: String) -> Reply {
    let mut r = with_headers(status, "text/html; charset=utf-8", Bytes::from(page));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn css(text: &'static str) -> Reply {
    let mut r = with_headers(StatusCode::OK, "text/css; charset=utf-8", Bytes::from_static(text.as_bytes()));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}

/// The backup codes as a file to save, not a page to show.
pub(super) fn attachment(name: &'static str, text: String) -> Reply {
    let mut r = with_headers(StatusCode::OK, "text/plain; charset=utf-8", Bytes::from(text));
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// Adds the enrolment cookie (HttpOnly, Secure, SameSite=Strict) living `max_age` seconds.
pub(super) fn set_cookie(r: &mut Reply, session_id: &str, max_age: u64) {
    let cookie = format!("{COOKIE}={session_id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The enrolment cookie's value, if the request has one.
pub(super) fn cookie(req: &Request<Incoming>) -> Option<String> {
    req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == COOKIE && !v.is_empty() && v.len() <= 64).then(|| v.to_owned())
        })
    })
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum BodyError {
    TooLarge,
    Unreadable,
}

/// The body, refused before reading when its declared length is over the limit and cut
/// off when a chunked one grows past it.
pub(super) async fn read_body(req: Request<Incoming>) -> Result<Bytes, BodyError> {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// An `application/x-www-form-urlencoded` body's fields; None when it is not one (each
/// field name at most once: a repeated one is refused rather than guessed at).
pub(super) fn form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if fields.iter().any(|(have, _)| have == k.as_ref()) {
            return None;
        }
        fields.push((k.into_owned(), v.into_owned()));
    }
    Some(fields)
}

pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode_and_a_repeated_field_is_refused() {
        let f = form(b"csrf=a%2Bb&step=password&password=p%26w+x").unwrap();
        assert_eq!(field(&f, "csrf"), Some("a+b"));
        assert_eq!(field(&f, "password"), Some("p&w x"));
        assert_eq!(field(&f, "code"), None);
        assert!(form(b"csrf=a&csrf=b").is_none());
    }

    #[test]
    fn every_page_carries_the_policy_and_no_store() {
        let r = html(StatusCode::OK, "x".into());
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[header::REFERRER_POLICY], "no-referrer");
    }
}
