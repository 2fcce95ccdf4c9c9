//! JWTs from outside: client assertions (RFC 7523) and tokens presented as
//! monban's own (access tokens, ID-token hints). Nothing panics, and no
//! input the fuzzer makes — it holds no private key — verifies as a token
//! monban signed.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use monban::jwt::{Expected, Kind};
use monban::keys::KeySet;
use monban::key_encryption::KeyEncryption;
use monban::types::{KeyState, SigningAlg};

const ISSUER: &str = "https://id.example.com";

static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    monban::crypto::install();
    let rows: Vec<_> = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA]
        .into_iter()
        .map(|alg| monban::keys::generate(alg, KeyState::Active, 0).expect("key"))
        .collect();
    KeySet::from_rows(&rows, &KeyEncryption::default()).expect("key set")
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = monban::client_assertion::claimed_client(token);
    let _ = jsonwebtoken::decode_header(token);
    for kind in [Kind::Access, Kind::Id] {
        let expected = Expected {
            kind,
            issuer: ISSUER,
            audience: None,
        };
        let verified: Option<serde_json::Value> = monban::jwt::verify(&KEYS, &expected, token);
        assert!(verified.is_none(), "a forged {kind:?} token verified");
    }
    assert!(monban::tokens::verify_access_jwt(&KEYS, ISSUER, token, 0).is_none());
    assert!(monban::id_token::read_hint(&KEYS, ISSUER, token).is_none());
});
