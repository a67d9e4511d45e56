//! A QR code (ISO/IEC 18004, through `qrcodegen`) drawn as inline SVG: one `<path>` of unit
//! squares on a white `<rect>`, with a 4-module quiet zone. Presentation attributes only (no
//! `style`, no script), so the page's CSP stays strict; the markup holds nothing but numbers.

use std::fmt::Write;

use qrcodegen::{QrCode, QrCodeEcc};

const QUIET_ZONE: i32 = 4;

/// The SVG of `text`, or `None` if it is too long for a QR code.
pub fn svg(text: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let full = size + 2 * QUIET_ZONE;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                let _ = write!(path, "M{} {}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE);
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {full} {full}\" width=\"{px}\" height=\"{px}\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code for your authenticator app\">\
         <rect width=\"{full}\" height=\"{full}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>",
        px = full * 5
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_modules_as_one_path() {
        let svg = super::svg("otpauth://totp/Gatehouse:a%40example.com?secret=GEZDGNBV&issuer=Gatehouse").unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(!svg.contains("style") && !svg.contains("script"));
        assert_eq!(svg.matches("<path").count(), 1);
    }
}
