//! Redirect-URI rules and matching (RFC 6749 §3.1.2, RFC 8252 §7.3, RFC
//! 9700 §4.1.3). Input: registered URIs, one per line, then the requested
//! one. A URI that matches is byte-equal to a registered one, or — for a
//! native app only — a loopback URI equal to one but for its port.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::redirect_uri(data));
