//! Client metadata JSON, as dynamic registration (RFC 7591) and the admin
//! API take it: any body is refused with a reason, or gives settings that
//! pass every client rule — valid redirect URIs, no operator scope from
//! registration, no URL aimed inside.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::client_metadata(data));
