//! Client metadata JSON, as dynamic registration (RFC 7591) and the admin
//! API take it: any body is refused with a reason, or gives settings that
//! pass every client rule — valid redirect URIs, no operator scope from
//! registration, no URL aimed inside.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use monban::admin::clients::ClientMetadata;
use monban::clients::{check_redirect_uri, is_operator_scope};
use monban::endpoints::register::{Allowance, settings_of};
use monban::outbound::Outbound;
use monban::store::clients::ServiceLimit;

static OUTBOUND: LazyLock<Outbound> = LazyLock::new(|| Outbound::new(Vec::new()).expect("outbound"));

fuzz_target!(|data: &[u8]| {
    for trusted in [false, true] {
        let allowance = Allowance {
            trusted,
            limit: ServiceLimit {
                scopes: monban::types::Scopes::parse("orders:read").unwrap_or_default(),
                audiences: vec!["https://orders.example.com".into()],
            },
        };
        if let Ok(settings) = settings_of(data, &OUTBOUND, &allowance) {
            assert!(settings.validate().is_ok());
            assert!(!settings.first_party, "registered clients are third parties");
            assert!(!settings.scopes.iter().any(is_operator_scope));
            for uri in settings.redirect_uris.iter().chain(&settings.post_logout_redirect_uris) {
                assert!(check_redirect_uri(uri).is_ok(), "{uri}");
            }
            for uri in [&settings.jwks_uri, &settings.backchannel_logout_uri].into_iter().flatten() {
                assert!(OUTBOUND.check(uri).is_ok(), "{uri}");
            }
        }
    }
    if let Ok(metadata) = serde_json::from_slice::<ClientMetadata>(data)
        && let Ok(settings) = metadata.settings()
    {
        assert!(settings.validate().is_ok());
    }
});
