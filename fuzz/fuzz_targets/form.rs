//! Form bodies (RFC 6749 §3.1): any bytes parse or are refused; a parsed
//! body answers `one` for a name exactly when the name is not repeated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban::form::Params;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = Params::parse(data) else {
        return;
    };
    let names: Vec<&str> = params.pairs().map(|(n, _)| n).collect();
    for name in &names {
        let count = names.iter().filter(|n| *n == name).count();
        match params.one(name) {
            Ok(Some(value)) => {
                assert_eq!(count, 1, "{name} repeated, yet one() answered");
                assert!(!value.is_empty(), "empty values count as absent");
                assert_eq!(params.all(name).next(), Some(value));
            }
            Ok(None) => panic!("{name} is present"),
            Err(_) => assert!(count > 1, "{name} refused though it is there once"),
        }
    }
});
