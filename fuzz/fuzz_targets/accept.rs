//! `Accept` (RFC 9110 §12.5.1, for RFC 9701's signed introspection) and
//! `Accept-Language` / `ui_locales`: nothing panics; the signed answer is
//! chosen only when its media type is named.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban::endpoints::introspect::{JWT_MEDIA_TYPE, accepts_jwt_in};
use monban::ui::Lang;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    if accepts_jwt_in([first, second].into_iter()) {
        assert!(text.to_ascii_lowercase().contains(JWT_MEDIA_TYPE));
    }
    let _ = Lang::negotiate(Some(first), Some(second));
    let _ = Lang::negotiate(None, Some(text));
});
