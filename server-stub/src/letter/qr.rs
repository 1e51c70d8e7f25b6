//! The QR code as vector graphics: one filled path of rectangles, a row's run of dark
//! modules being one rectangle. Vectors print sharp at any resolution, and one path
//! filled once leaves no hairline seams between touching modules when rasterised.

use pdf_writer::Content;
use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the code that scanners need (the QR standard asks for four).
const QUIET_ZONE: usize = 4;

/// Draws the QR code of `data` as a square of side `size` points whose top-left corner
/// is at (`left`, `top`) in PDF coordinates (y grows upwards), quiet zone included.
/// Level M (15 % of the code may be damaged): a folded or smudged letter still scans,
/// and the modules stay large enough for a phone camera at arm's length.
pub(super) fn draw(content: &mut Content, data: &str, left: f32, top: f32, size: f32) -> Result<(), String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|e| format!("QR code: {e}"))?;
    let width = code.width();
    let colors = code.to_colors();
    let module = size / (width + 2 * QUIET_ZONE) as f32;
    content.save_state();
    content.set_fill_gray(0.0);
    for (row, cells) in colors.chunks(width).enumerate() {
        let y = top - (row + QUIET_ZONE + 1) as f32 * module;
        let mut col = 0;
        while col < width {
            if cells[col] != Color::Dark {
                col += 1;
                continue;
            }
            let start = col;
            while col < width && cells[col] == Color::Dark {
                col += 1;
            }
            let x = left + (start + QUIET_ZONE) as f32 * module;
            content.rect(x, y, (col - start) as f32 * module, module);
        }
    }
    content.fill_nonzero();
    content.restore_state();
    Ok(())
}
