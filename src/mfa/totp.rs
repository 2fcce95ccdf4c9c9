//! Authenticator-app codes (RFC 6238 with totp-rs): HMAC-SHA-1, six digits,
//! 30-second steps, one step either side for clocks that differ. Which step
//! a code was for is returned, so the caller accepts each step once
//! (RFC 6238 §5.2).

use rand::Rng;
use totp_rs::{Algorithm, Builder, Totp};

/// 160 bits, as RFC 4226 §4 recommends.
const SECRET_LEN: usize = 20;
pub const STEP: i64 = 30;

/// A fresh shared secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Option<Totp> {
    // The label's parts may not hold a colon (Key URI format).
    let clean = |s: &str| s.replace(':', "");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP as u64)
        .with_secret(secret.to_vec())
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .ok()
}

/// The `otpauth://totp/…` URI an authenticator app reads (as text, or in
/// the QR code).
pub fn uri(secret: &[u8], issuer: &str, account: &str) -> Option<String> {
    totp(secret, issuer, account)?.to_url().ok()
}

/// The secret as authenticator apps accept it typed in (base32).
pub fn secret_text(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

/// The step `code` belongs to, if it is the code of the step of `now` or
/// of the one before or after.
pub fn check(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "monban", "user")?;
    let step = totp.check(&code, u64::try_from(now).ok()?)?;
    i64::try_from(step).ok()
}

/// The URI as a QR code, an SVG element to put in the page (no image, no
/// script: the page's CSP allows neither from elsewhere).
pub fn qr_svg(uri: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // An inline <svg> has no XML declaration.
    let start = image.find("<svg")?;
    Some(
        image
            .get(start..)?
            .replacen("<svg ", "<svg role=\"img\" class=\"qr\" ", 1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_the_step_and_its_neighbours_pass() {
        // RFC 6238 Appendix B: the SHA-1 seed, T = 59 s → 94287082 (8 digits;
        // six are its last six).
        let seed = b"12345678901234567890";
        assert_eq!(check(seed, "287082", 59), Some(1));
        assert_eq!(check(seed, "287 082", 59 + 30), Some(1));
        assert_eq!(check(seed, "287082", 59 + 60), None);
        assert_eq!(check(seed, "28708", 59), None);
        assert_eq!(check(seed, "28708a", 59), None);
        let uri = uri(seed, "auth.example.com", "alice").unwrap_or_default();
        assert!(
            uri.starts_with("otpauth://totp/auth.example.com:alice?"),
            "{uri}"
        );
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        let svg = qr_svg(&uri).unwrap_or_default();
        assert!(svg.starts_with("<svg role=\"img\"") && svg.ends_with("</svg>"));
    }
}
