//! The QR code of an `otpauth://` URI as a PNG `data:` URI, made in memory: the image
//! never touches disk and needs no second request.

use std::io::Cursor;

pub(super) fn png_data_uri(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    let img = code.render::<image::Luma<u8>>().min_dimensions(264, 264).build();
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| format!("QR image: {e}"))?;
    Ok(format!("data:image/png;base64,{}", data_encoding::BASE64.encode(&png)))
}

/// `ABCDEFGHIJKL` as `ABCD EFGH IJKL`: easier to read out and type.
pub(super) fn groups_of_four(secret: &str) -> String {
    secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_data_uri_and_groups_of_four() {
        let uri = png_data_uri("otpauth://totp/X:a?secret=AAAA").unwrap();
        let png = data_encoding::BASE64.decode(uri.strip_prefix("data:image/png;base64,").unwrap().as_bytes()).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(groups_of_four("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }
}
