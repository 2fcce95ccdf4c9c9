//! `monban apply` identity files (TOML): any text parses or is refused
//! with a reason; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = monban::apply::IdentityFile::parse(text);
    }
});
