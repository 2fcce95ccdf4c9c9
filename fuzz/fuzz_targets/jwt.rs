//! JWTs from outside: client assertions (RFC 7523) and tokens presented as
//! monban's own (access tokens, ID-token hints). Nothing panics, and no
//! input the fuzzer makes — it holds no private key — verifies as a token
//! monban signed.
#![no_main]

// The first check makes the signing keys, before the timed inputs: RSA key
// generation in an unoptimised build can outlast libFuzzer's per-input
// timeout on a busy machine.
libfuzzer_sys::fuzz_target!(init: monban_fuzz::jwt(b""), |data: &[u8]| monban_fuzz::jwt(data));
