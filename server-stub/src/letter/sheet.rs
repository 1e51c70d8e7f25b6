//! A page written top to bottom: a cursor that moves down as lines are set, so the
//! letter's layout reads as the letter does.

use pdf_writer::{Content, Name, Str};

use super::metrics::{win_ansi, wrap, Font};

pub(super) struct Sheet {
    pub(super) content: Content,
    /// The next line's top, in points from the page's bottom edge.
    pub(super) y: f32,
    pub(super) left: f32,
    pub(super) width: f32,
}

impl Sheet {
    pub(super) fn new(page_height: f32, margin: f32, text_width: f32) -> Sheet {
        Sheet { content: Content::new(), y: page_height - margin, left: margin, width: text_width }
    }

    /// Moves the cursor down by `points`.
    pub(super) fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    /// One line at `x` points from the left margin; not wrapped.
    pub(super) fn line_at(&mut self, x: f32, font: Font, size: f32, text: &str) {
        let baseline = self.y - size;
        self.content.begin_text();
        self.content.set_font(Name(font.resource_name()), size);
        self.content.next_line(self.left + x, baseline);
        self.content.show(Str(&win_ansi(text)));
        self.content.end_text();
        self.y -= size * 1.3;
    }

    pub(super) fn line(&mut self, font: Font, size: f32, text: &str) {
        self.line_at(0.0, font, size, text);
    }

    /// `text` wrapped to the text width less `indent`, every line indented by it.
    pub(super) fn paragraph(&mut self, indent: f32, font: Font, size: f32, text: &str) {
        for l in wrap(text, font, size, self.width - indent) {
            self.line_at(indent, font, size, &l);
        }
    }

    /// `label` in bold at the margin, `value` beside it at `value_x`, wrapped there.
    pub(super) fn field(&mut self, value_x: f32, size: f32, label: &str, value: &str) {
        self.field_at(0.0, value_x, size, label, value);
    }

    /// `label` in bold at `x`, `value` beside it at `x + value_x`, wrapped there.
    pub(super) fn field_at(&mut self, x: f32, value_x: f32, size: f32, label: &str, value: &str) {
        let top = self.y;
        self.line_at(x, Font::Bold, size, label);
        self.y = top;
        self.paragraph(x + value_x, Font::Regular, size, value);
    }

    /// A numbered step: the number in bold at the margin, the text wrapped beside it.
    pub(super) fn step(&mut self, number: usize, size: f32, text: &str) {
        let top = self.y;
        self.line_at(0.0, Font::Bold, size, &format!("{number}."));
        self.y = top;
        self.paragraph(size * 1.6, Font::Regular, size, text);
    }

    /// A thin horizontal rule across the text width.
    pub(super) fn rule(&mut self) {
        self.content.set_line_width(0.5);
        self.content.move_to(self.left, self.y);
        self.content.line_to(self.left + self.width, self.y);
        self.content.stroke();
    }
}
