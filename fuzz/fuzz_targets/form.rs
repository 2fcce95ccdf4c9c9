//! Form bodies (RFC 6749 §3.1): any bytes parse or are refused; a parsed
//! body answers `one` for a name exactly when the name is not repeated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::form(data));
