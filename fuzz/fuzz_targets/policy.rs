//! The forward-auth policy file (TOML) and the gateway's route headers:
//! parsing never panics, and path normalisation is idempotent — the normal
//! form of a path, read again, is itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::policy(data));
