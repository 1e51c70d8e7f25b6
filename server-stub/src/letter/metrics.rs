//! What the standard fonts need from us: text encoded as WinAnsi bytes (the standard 14
//! fonts are not embedded, so there is no Unicode mapping to lean on) and advance widths
//! to wrap lines before the right margin.

/// The letter's fonts: names in the page's resource dictionary and their base fonts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    Regular,
    Bold,
    Mono,
    MonoBold,
}

impl Font {
    pub(super) const ALL: [Font; 4] = [Font::Regular, Font::Bold, Font::Mono, Font::MonoBold];

    pub(super) fn resource_name(self) -> &'static [u8] {
        match self {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
            Font::Mono => b"F3",
            Font::MonoBold => b"F4",
        }
    }

    pub(super) fn base_font(self) -> &'static [u8] {
        match self {
            Font::Regular => b"Helvetica",
            Font::Bold => b"Helvetica-Bold",
            Font::Mono => b"Courier",
            Font::MonoBold => b"Courier-Bold",
        }
    }

    /// Width of `text` at `size` points. Courier is 600/1000 em for every glyph; for
    /// Helvetica the regular face's widths, and for bold those plus 8 % (bold is wider by
    /// at most that for the letters we print), so a wrapped line never runs past the margin.
    pub(super) fn width(self, text: &str, size: f32) -> f32 {
        let units: u32 = match self {
            Font::Mono | Font::MonoBold => 600 * text.chars().count() as u32,
            Font::Regular => text.chars().map(helvetica_width).sum(),
            Font::Bold => text.chars().map(helvetica_width).sum::<u32>() * 108 / 100,
        };
        units as f32 * size / 1000.0
    }
}

/// Helvetica's advance widths (1/1000 em) for printable ASCII, from its public AFM file;
/// anything else counts as a wide glyph.
fn helvetica_width(c: char) -> u32 {
    const ASCII: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space../
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
    ];
    match c {
        ' '..='~' => ASCII[c as usize - 0x20] as u32,
        _ => 1000,
    }
}

/// `text` in WinAnsiEncoding: ASCII and Latin-1 as themselves, the few typographic marks
/// we use at their WinAnsi codes, anything else (which these fonts cannot show) as `?`.
/// The QR code carries the exact name; docs/activation-letter.md says so.
pub(super) fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
            '\u{2013}' => 0x96, // en dash
            '\u{2014}' => 0x97, // em dash
            '\u{2022}' => 0x95, // bullet
            '\u{2018}' => 0x91,
            '\u{2019}' => 0x92,
            '\u{201c}' => 0x93,
            '\u{201d}' => 0x94,
            _ => b'?',
        })
        .collect()
}

/// Splits `text` into lines no wider than `max_width` at `size`, at spaces; a word wider
/// than a line is cut where it must be.
pub(super) fn wrap(text: &str, font: Font, size: f32, max_width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if font.width(&candidate, size) <= max_width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        let mut rest = word;
        while font.width(rest, size) > max_width {
            let cut = fitting_prefix(rest, font, size, max_width);
            lines.push(rest[..cut].to_string());
            rest = &rest[cut..];
        }
        line = rest.to_string();
    }
    lines.push(line);
    lines
}

/// The byte length of the longest prefix of `word` no wider than `max_width`: at least
/// one character, so that cutting always makes progress. One pass, widths summed.
fn fitting_prefix(word: &str, font: Font, size: f32, max_width: f32) -> usize {
    let mut width = 0.0;
    for (i, c) in word.char_indices() {
        let mut buf = [0u8; 4];
        width += font.width(c.encode_utf8(&mut buf), size);
        if width > max_width {
            return if i == 0 { c.len_utf8() } else { i };
        }
    }
    word.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_lines_fit_and_keep_every_word() {
        let text = "Install an authenticator app on your phone, then scan the code with it; \
                    averyveryveryverylongaccountnamethatcannotfitononeline@example.com too.";
        let lines = wrap(text, Font::Regular, 11.0, 150.0);
        assert!(lines.len() > 3);
        for l in &lines {
            assert!(Font::Regular.width(l, 11.0) <= 150.0, "{l}");
        }
        assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
    }

    #[test]
    fn latin1_passes_and_the_rest_becomes_a_question_mark() {
        assert_eq!(win_ansi("Zoë – 東"), vec![b'Z', b'o', 0xeb, b' ', 0x96, b' ', b'?']);
    }
}
