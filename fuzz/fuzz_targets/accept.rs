//! `Accept` (RFC 9110 §12.5.1, for RFC 9701's signed introspection) and
//! `Accept-Language` / `ui_locales`: nothing panics; the signed answer is
//! chosen only when its media type is named.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::accept(data));
