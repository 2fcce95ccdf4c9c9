//! The forward-auth policy file (TOML) and the gateway's route headers:
//! parsing never panics, and path normalisation is idempotent — the normal
//! form of a path, read again, is itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban::policy::Policy;
use monban::policy::route::{normal_path, parse_host, parse_method, path_segments};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Policy::parse(text, std::path::Path::new("/nonexistent"));
    if let Some(segments) = path_segments(text) {
        let normal = normal_path(&segments);
        assert_eq!(path_segments(&normal).as_ref(), Some(&segments), "{text:?} -> {normal:?}");
        assert!(segments.iter().all(|s| !s.is_empty() && s != "." && s != ".."));
    }
    if let Some(host) = parse_host(text) {
        assert_eq!(parse_host(&host).as_deref(), Some(host.as_str()), "{text:?}");
    }
    if let Some(method) = parse_method(text) {
        assert_eq!(parse_method(&method).as_deref(), Some(method.as_str()));
    }
});
