//! `Authorization: Basic` (RFC 6749 §2.3.1): any header value parses into
//! a client id and secret, or is refused as `invalid_client`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::basic_header(data));
