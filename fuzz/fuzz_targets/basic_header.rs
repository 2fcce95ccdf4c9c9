//! `Authorization: Basic` (RFC 6749 §2.3.1): any header value parses into
//! a client id and secret, or is refused as `invalid_client`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban::client_auth::parse_basic;
use monban::error::ErrorCode;

fuzz_target!(|data: &[u8]| {
    match parse_basic(data) {
        Ok((client_id, _secret)) => assert!(!client_id.is_empty()),
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidClient),
    }
});
