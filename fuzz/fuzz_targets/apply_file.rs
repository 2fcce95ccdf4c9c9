//! `monban apply` identity files (TOML): any text parses or is refused
//! with a reason; nothing panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| monban_fuzz::apply_file(data));
