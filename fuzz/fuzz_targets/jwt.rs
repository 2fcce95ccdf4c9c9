//! JWTs from outside: client assertions (RFC 7523) and tokens presented as
//! monban's own (access tokens, ID-token hints). Nothing panics, and no
//! input the fuzzer makes — it holds no private key — verifies as a token
//! monban signed.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::jwt(data));
