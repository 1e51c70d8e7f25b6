//! The page's HTML, rendered on the server. Every value that comes from outside the code
//! (account names, issuer, messages) goes through [`escape`]; no script anywhere, so the
//! CSP can forbid all of it. Each form carries the enrolment's CSRF token.

use std::fmt::Write;

/// HTML text and attribute values: the five characters that can end or open markup.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already escaped markup).
fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n\
         <link rel=\"stylesheet\" href=\"/enrol/style.css\">\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// The alert a failed step shows above its form; `role=alert` so screen readers say it.
fn error_box(error: Option<&str>) -> String {
    match error {
        Some(e) => format!("<p class=\"error\" role=\"alert\" id=\"error\">{}</p>\n", escape(e)),
        None => String::new(),
    }
}

/// Expired, used, revoked, forged: one page for all, naming no user.
pub(super) fn invalid_link() -> String {
    layout(
        "Enrolment link not valid",
        "<h1>This enrolment link is not valid</h1>\n\
         <p>The link may have expired, been used already or been withdrawn.\n\
         Ask your administrator for a new one.</p>\n",
    )
}

/// A short page with a heading and one paragraph (throttled, session ended, errors).
pub(super) fn message(title: &str, text: &str) -> String {
    layout(title, &format!("<h1>{}</h1>\n<p>{}</p>\n", escape(title), escape(text)))
}

pub(super) struct Account<'a> {
    pub issuer: &'a str,
    pub user: &'a str,
}

fn account_line(a: &Account<'_>) -> String {
    format!(
        "<p class=\"account\">Account <strong>{}</strong> at <strong>{}</strong></p>\n",
        escape(a.user),
        escape(a.issuer)
    )
}

/// Step 1: the password, so a link alone is not enough.
pub(super) fn password_form(a: &Account<'_>, action: &str, csrf: &str, error: Option<&str>) -> String {
    let body = format!(
        "<h1>Set up your authenticator app</h1>\n{}\
         <p>Step 1 of 3: confirm it is you with your password.</p>\n{}\
         <form method=\"post\" action=\"{}\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
         <input type=\"hidden\" name=\"step\" value=\"password\">\n\
         <label for=\"password\">Password</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required{}>\n\
         <button type=\"submit\">Continue</button>\n</form>\n",
        account_line(a),
        error_box(error),
        escape(action),
        escape(csrf),
        if error.is_some() { " aria-describedby=\"error\" autofocus" } else { " autofocus" },
    );
    layout("Enrolment: password", &body)
}

/// What step 2 shows: the QR code and the same secret for typing in.
pub(super) struct NewKey<'a> {
    pub qr_data_uri: &'a str,
    /// The base-32 secret in groups of four.
    pub secret_groups: &'a str,
    pub algorithm: &'a str,
    pub digits: u32,
    pub period_secs: u64,
}

/// Step 2: scan (or type) the key, then prove it with the app's first code.
pub(super) fn key_form(a: &Account<'_>, key: &NewKey<'_>, action: &str, csrf: &str, error: Option<&str>) -> String {
    let body = format!(
        "<h1>Scan this code with your authenticator app</h1>\n{}\
         <p>Step 2 of 3: scan the QR code, or type the key in by hand. Nobody else should see this page.</p>\n\
         <figure>\n<img src=\"{}\" width=\"264\" height=\"264\" id=\"qr\" \
         alt=\"QR code of the new key for {}; the same key is written out below\">\n</figure>\n\
         <dl>\n<dt>Key</dt><dd><code id=\"secret\">{}</code></dd>\n\
         <dt>Type</dt><dd>time-based, {}, {} digits, every {} seconds</dd>\n</dl>\n\
         {}<form method=\"post\" action=\"{}\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\n\
         <input type=\"hidden\" name=\"step\" value=\"confirm\">\n\
         <label for=\"code\">Step 3 of 3: the code your app shows now</label>\n\
         <input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
         pattern=\"[0-9 ]*\" maxlength=\"10\" required{}>\n\
         <button type=\"submit\">Confirm</button>\n</form>\n\
         <p class=\"note\">Until you confirm, your previous key (if any) keeps working.</p>\n",
        account_line(a),
        escape(key.qr_data_uri),
        escape(a.user),
        escape(key.secret_groups),
        escape(key.algorithm),
        key.digits,
        key.period_secs,
        error_box(error),
        escape(action),
        escape(csrf),
        if error.is_some() { " aria-describedby=\"error\" autofocus" } else { "" },
    );
    layout("Enrolment: your new key", &body)
}

/// The end: the key is active; the backup codes, shown this once.
pub(super) fn done(a: &Account<'_>, codes: &[String], download: &str) -> String {
    let mut list = String::new();
    for c in codes {
        let _ = writeln!(list, "<li><code>{}</code></li>", escape(c));
    }
    let body = format!(
        "<h1>Your authenticator app is set up</h1>\n{}\
         <p>Your new key is active now; any previous key no longer works.</p>\n\
         <h2>Backup codes</h2>\n\
         <p>Each code logs you in once if you lose your phone. They are shown only now: \
         download or write them down, and keep them somewhere safe.</p>\n\
         <ol class=\"codes\" id=\"codes\">\n{list}</ol>\n\
         <p><a class=\"button\" href=\"{}\" id=\"download\">Download the codes as text</a></p>\n",
        account_line(a),
        escape(download),
    );
    layout("Enrolment: done", &body)
}

/// The downloaded file's text.
pub(super) fn codes_text(a: &Account<'_>, codes: &[String]) -> String {
    let mut out = format!("Backup codes for {} at {}\nEach code works once.\n\n", a.user, a.issuer);
    for c in codes {
        out.push_str(c);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
        let a = Account { issuer: "Acme <b>", user: "bob\"><script>" };
        let page = password_form(&a, "/enrol/t", "tok\"en", Some("<i>no</i>"));
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"), "{page}");
        assert!(page.contains("bob&quot;&gt;&lt;script&gt;") && page.contains("value=\"tok&quot;en\""));
    }

    #[test]
    fn the_invalid_page_names_nobody() {
        let page = invalid_link();
        assert!(page.contains("not valid") && !page.contains("Account"));
    }
}
