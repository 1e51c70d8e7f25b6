//! The printable activation letter: one page (A4 or US Letter) that carries a user's TOTP
//! key as a QR code and as base-32 text, with what to do with it, for sites that hand the
//! key over on paper, in person (docs/activation-letter.md).
//!
//! Written with `pdf-writer` in the standard Helvetica and Courier fonts (every PDF reader
//! and printer has them, so nothing is embedded) and the QR code as vector rectangles, so
//! it prints sharp at any size. The PDF is made in memory; the caller decides where the
//! bytes go.

mod metrics;
mod qr;
mod sheet;

use pdf_writer::{Finish, Name, Pdf, Rect, Ref, TextStr};

use crate::totp::TotpParams;
use metrics::Font;
use sheet::Sheet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    A4,
    Letter,
}

impl Paper {
    /// Width and height in points (1/72 inch).
    pub fn size(self) -> (f32, f32) {
        match self {
            Paper::A4 => (595.28, 841.89),
            Paper::Letter => (612.0, 792.0),
        }
    }
}

/// What one letter says.
pub struct Letter<'a> {
    pub issuer: &'a str,
    pub account: &'a str,
    /// The `otpauth://totp/...` URI the QR code holds.
    pub uri: &'a str,
    /// The same secret, base-32 without padding, for typing in by hand.
    pub secret_base32: &'a str,
    pub params: TotpParams,
    /// The date printed as "issued" (the caller's clock, UTC).
    pub issued: &'a str,
    pub paper: Paper,
}

/// 2 cm margins; the text is as wide as on the narrower paper (A4), so both look alike.
const MARGIN: f32 = 56.7;
const TEXT_WIDTH: f32 = 595.28 - 2.0 * MARGIN;
/// The QR code's side with its quiet zone: 6 cm. A version 6-8 code (the URIs we make)
/// then has modules of 1 mm or more, which phone cameras read from arm's length.
const QR_SIZE: f32 = 170.0;
const BODY: f32 = 10.0;

/// Base-32 characters per group and groups per line of the printed key.
const GROUP: usize = 4;
const GROUPS_PER_LINE: usize = 4;

/// The key as it is printed: groups of four separated by spaces, four groups a line.
pub fn secret_lines(secret_base32: &str) -> Vec<String> {
    let groups: Vec<&str> =
        secret_base32.as_bytes().chunks(GROUP).map(|g| std::str::from_utf8(g).unwrap_or("?")).collect();
    groups.chunks(GROUPS_PER_LINE).map(|line| line.join(" ")).collect()
}

/// The letter as a complete PDF file.
pub fn render(letter: &Letter<'_>) -> Result<Vec<u8>, String> {
    let (page_width, page_height) = letter.paper.size();
    let mut sheet = Sheet::new(page_height, MARGIN, TEXT_WIDTH);
    // Centre the text block on the wider Letter paper too.
    sheet.left = (page_width - TEXT_WIDTH) / 2.0;
    lay_out(&mut sheet, letter)?;
    if sheet.y < MARGIN * 0.5 {
        return Err("the activation letter does not fit on one page (issuer or account name too long?)".into());
    }

    let catalog = Ref::new(1);
    let page_tree = Ref::new(2);
    let page_id = Ref::new(3);
    let content_id = Ref::new(4);
    let info_id = Ref::new(5);
    let font_ids: Vec<(Font, Ref)> = Font::ALL.iter().enumerate().map(|(i, f)| (*f, Ref::new(6 + i as i32))).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(page_tree);
    pdf.pages(page_tree).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, page_width, page_height));
    page.parent(page_tree);
    page.contents(content_id);
    {
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        for (font, id) in &font_ids {
            fonts.pair(Name(font.resource_name()), *id);
        }
    }
    page.finish();
    for (font, id) in &font_ids {
        pdf.type1_font(*id).base_font(Name(font.base_font())).encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    // The document information names no secret: viewers show it in their title bar.
    pdf.document_info(info_id).title(TextStr("Activation letter")).producer(TextStr("twofactor-server letter"));
    pdf.stream(content_id, &sheet.content.finish());
    Ok(pdf.finish())
}

fn lay_out(sheet: &mut Sheet, letter: &Letter<'_>) -> Result<(), String> {
    let TotpParams { algorithm, digits, period_secs } = letter.params;
    sheet.line(Font::Bold, 18.0, "Activation letter: two-factor authentication");
    sheet.gap(6.0);
    sheet.field(60.0, 11.0, "Issuer:", letter.issuer);
    sheet.field(60.0, 11.0, "Account:", letter.account);
    sheet.field(60.0, 11.0, "Issued:", &format!("{} (UTC)", letter.issued));
    sheet.gap(4.0);
    sheet.paragraph(
        0.0,
        Font::Bold,
        11.0,
        &format!("Personal and confidential, for {} only. Destroy this letter after enrolling.", letter.account),
    );
    sheet.gap(8.0);
    sheet.rule();
    sheet.gap(14.0);

    // The QR code on the left, the same key as text on the right.
    let qr_top = sheet.y;
    qr::draw(&mut sheet.content, letter.uri, sheet.left - 4.0 * 3.0, qr_top + 12.0, QR_SIZE)?;
    let column = QR_SIZE + 8.0;
    sheet.paragraph(column, Font::Bold, 11.0, "Scan this code with your authenticator app.");
    sheet.gap(6.0);
    sheet.paragraph(column, Font::Regular, BODY, "Cannot scan it? Enter this key by hand (the spaces do not matter):");
    sheet.gap(4.0);
    for line in secret_lines(letter.secret_base32) {
        sheet.line_at(column, Font::MonoBold, 14.0, &line);
    }
    sheet.gap(6.0);
    sheet.field_at(column, 62.0, BODY, "Type:", "time-based (TOTP)");
    sheet.field_at(column, 62.0, BODY, "Algorithm:", algorithm.name());
    sheet.field_at(column, 62.0, BODY, "Digits:", &digits.to_string());
    sheet.field_at(column, 62.0, BODY, "Period:", &format!("{period_secs} seconds"));
    sheet.y = sheet.y.min(qr_top - QR_SIZE + 12.0);
    sheet.gap(10.0);
    sheet.rule();
    sheet.gap(14.0);

    sheet.line(Font::Bold, 12.0, "What to do");
    sheet.gap(2.0);
    sheet.step(
        1,
        BODY,
        "Install an authenticator app on your phone: any app for time-based one-time passwords \
         (TOTP, RFC 6238), such as FreeOTP, Aegis, Google Authenticator or Microsoft Authenticator.",
    );
    sheet.gap(4.0);
    sheet.step(
        2,
        BODY,
        &format!(
            "In the app, add an account and scan the QR code above, or enter the key by hand with the \
             settings beside it. The app then lists \u{201c}{}: {}\u{201d} and shows a new {digits}-digit code \
             every {period_secs} seconds. The key works from today; any key you had before no longer does.",
            letter.issuer, letter.account
        ),
    );
    sheet.gap(4.0);
    sheet.step(
        3,
        BODY,
        "Log in once now, to check: give the code the app shows together with your password. \
         With isql (your administrator tells you the DSN):",
    );
    let indent = BODY * 1.6;
    sheet.paragraph(
        indent + 8.0,
        Font::Mono,
        9.0,
        &format!(
            "isql -v -k \"DSN=YourDSN;UID={};PWD=your-password;TwoFactorCode={}\"",
            letter.account,
            "12345678".get(..digits as usize).unwrap_or("123456")
        ),
    );
    sheet.paragraph(
        indent,
        Font::Regular,
        BODY,
        "In any other connection string add TwoFactorCode=<code>; an application sets connection \
         attribute 1002 (SQL_ATTR_TWO_FACTOR) to the code.",
    );
    sheet.gap(4.0);
    sheet.step(
        4,
        BODY,
        "Destroy this letter after enrolling (shred it). Anyone who sees the QR code or the key can \
         make your codes. If the letter is lost or was seen by someone else, or you lose your phone, \
         ask your administrator for a new key: the old one then stops working at once.",
    );
    sheet.gap(16.0);
    sheet.line(Font::Bold, 13.0, "Destroy this letter after enrolling.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::totp::{otpauth_uri, to_base32, Algorithm};

    fn letter_for(algorithm: Algorithm, account: &str, paper: Paper) -> Vec<u8> {
        let secret = vec![7u8; algorithm.secret_len()];
        let params = TotpParams { algorithm, digits: 8, period_secs: 30 };
        let uri = otpauth_uri("TwoFactor", account, &secret, &params);
        let b32 = to_base32(&secret);
        let letter = Letter {
            issuer: "TwoFactor",
            account,
            uri: &uri,
            secret_base32: &b32,
            params,
            issued: "2026-12-02",
            paper,
        };
        render(&letter).unwrap()
    }

    #[test]
    fn the_key_is_printed_in_groups_of_four() {
        let lines = secret_lines("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567AB");
        assert_eq!(lines, ["ABCD EFGH IJKL MNOP", "QRST UVWX YZ23 4567", "AB"]);
    }

    #[test]
    fn the_longest_key_and_a_long_name_fit_on_either_paper() {
        let long_name = "a.very.long.account.name.for.someone@example.department.university.edu";
        for paper in [Paper::A4, Paper::Letter] {
            let pdf = letter_for(Algorithm::Sha512, long_name, paper);
            assert!(pdf.starts_with(b"%PDF-"));
        }
    }

    #[test]
    fn a_name_too_long_for_the_page_is_refused_not_cut() {
        let absurd = "x".repeat(20_000);
        let secret = [1u8; 20];
        let params = TotpParams { algorithm: Algorithm::Sha1, digits: 6, period_secs: 30 };
        let b32 = to_base32(&secret);
        let letter = Letter {
            issuer: "TwoFactor",
            account: &absurd,
            uri: "otpauth://totp/x",
            secret_base32: &b32,
            params,
            issued: "2026-12-02",
            paper: Paper::A4,
        };
        assert!(render(&letter).is_err());
    }
}
