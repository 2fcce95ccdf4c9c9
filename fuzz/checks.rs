//! The checks behind the fuzz targets: each takes any bytes and panics
//! only when a property of monban's parsers breaks. `fuzz_targets/*.rs`
//! feed them libFuzzer's inputs; monban's test suite replays the committed
//! corpus (`fuzz/corpus/TARGET/`) through the same functions on stable
//! Rust, so an input that once broke a parser keeps being tried.
//!
//! Shared by path with `tests/api/fuzz_corpus.rs`: only monban and its own
//! dependencies may be used here.

use std::sync::LazyLock;

use monban::admin::clients::ClientMetadata;
use monban::authorization::redirect_uri_matches;
use monban::client_auth::parse_basic;
use monban::clients::{check_redirect_uri, is_operator_scope};
use monban::endpoints::introspect::{JWT_MEDIA_TYPE, accepts_jwt_in};
use monban::endpoints::register::{Allowance, settings_of};
use monban::error::ErrorCode;
use monban::form::Params;
use monban::jwt::{Expected, Kind};
use monban::key_encryption::KeyEncryption;
use monban::keys::KeySet;
use monban::outbound::{Outbound, is_public};
use monban::policy::Policy;
use monban::policy::route::{normal_path, parse_host, parse_method, path_segments};
use monban::store::clients::ServiceLimit;
use monban::types::{ApplicationType, KeyState, SigningAlg};
use monban::ui::Lang;

/// The outbound guard as a default configuration builds it.
static OUTBOUND: LazyLock<Outbound> =
    LazyLock::new(|| Outbound::new(Vec::new()).expect("outbound"));

/// `Accept` (RFC 9110 §12.5.1, for RFC 9701's signed introspection) and
/// `Accept-Language` / `ui_locales`: nothing panics; the signed answer is
/// chosen only when its media type is named.
pub fn accept(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    if accepts_jwt_in([first, second].into_iter()) {
        assert!(text.to_ascii_lowercase().contains(JWT_MEDIA_TYPE));
    }
    let _ = Lang::negotiate(Some(first), Some(second));
    let _ = Lang::negotiate(None, Some(text));
}

/// `monban apply` identity files (TOML): any text parses or is refused
/// with a reason; nothing panics.
pub fn apply_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = monban::apply::IdentityFile::parse(text);
    }
}

/// `Authorization: Basic` (RFC 6749 §2.3.1): any header value parses into
/// a client id and secret, or is refused as `invalid_client`.
pub fn basic_header(data: &[u8]) {
    match parse_basic(data) {
        Ok((client_id, _secret)) => assert!(!client_id.is_empty()),
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidClient),
    }
}

/// Client metadata JSON, as dynamic registration (RFC 7591) and the admin
/// API take it: any body is refused with a reason, or gives settings that
/// pass every client rule — valid redirect URIs, no operator scope from
/// registration, no URL aimed inside.
pub fn client_metadata(data: &[u8]) {
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
            assert!(
                !settings.first_party,
                "registered clients are third parties"
            );
            assert!(!settings.scopes.iter().any(is_operator_scope));
            for uri in settings
                .redirect_uris
                .iter()
                .chain(&settings.post_logout_redirect_uris)
            {
                assert!(check_redirect_uri(uri).is_ok(), "{uri}");
            }
            for uri in [&settings.jwks_uri, &settings.backchannel_logout_uri]
                .into_iter()
                .flatten()
            {
                assert!(OUTBOUND.check(uri).is_ok(), "{uri}");
            }
        }
    }
    if let Ok(metadata) = serde_json::from_slice::<ClientMetadata>(data)
        && let Ok(settings) = metadata.settings()
    {
        assert!(settings.validate().is_ok());
    }
}

/// Form bodies (RFC 6749 §3.1): any bytes parse or are refused; a parsed
/// body answers `one` for a name exactly when the name is not repeated.
pub fn form(data: &[u8]) {
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
}

/// The issuer the JWT check verifies for.
const ISSUER: &str = "https://id.example.com";

/// One signing key per algorithm monban offers, made afresh: no input can
/// have been signed with them.
static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    monban::crypto::install();
    let rows: Vec<_> = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA]
        .into_iter()
        .map(|alg| monban::keys::generate(alg, KeyState::Active, 0).expect("key"))
        .collect();
    KeySet::from_rows(&rows, &KeyEncryption::default()).expect("key set")
});

/// JWTs from outside: client assertions (RFC 7523) and tokens presented as
/// monban's own (access tokens, ID-token hints). Nothing panics, and no
/// input the fuzzer makes — it holds no private key — verifies as a token
/// monban signed.
pub fn jwt(data: &[u8]) {
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
}

/// URLs an outsider registers for monban to call: the outbound guard never
/// panics, and lets no IP literal through that is not public.
pub fn outbound_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if OUTBOUND.check(text).is_ok() {
        let url = url::Url::parse(text).expect("checked URLs parse");
        match url.host() {
            Some(url::Host::Ipv4(ip)) => assert!(is_public(ip.into()), "{text}"),
            Some(url::Host::Ipv6(ip)) => assert!(is_public(ip.into()), "{text}"),
            Some(url::Host::Domain(name)) => {
                assert!(!name.trim_end_matches('.').eq_ignore_ascii_case("localhost"));
            }
            None => panic!("{text}: no host"),
        }
    }
    // Every IPv6 form of an IPv4 address is judged as that address.
    if let Ok(ip) = text.parse::<std::net::Ipv4Addr>() {
        let mapped = ip.to_ipv6_mapped();
        assert_eq!(is_public(mapped.into()), is_public(ip.into()), "{ip}");
    }
}

/// The forward-auth policy file (TOML) and the gateway's route headers:
/// parsing never panics, and path normalisation is idempotent — the normal
/// form of a path, read again, is itself.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Policy::parse(text, std::path::Path::new("/nonexistent"));
    if let Some(segments) = path_segments(text) {
        let normal = normal_path(&segments);
        assert_eq!(
            path_segments(&normal).as_ref(),
            Some(&segments),
            "{text:?} -> {normal:?}"
        );
        assert!(
            segments
                .iter()
                .all(|s| !s.is_empty() && s != "." && s != "..")
        );
    }
    if let Some(host) = parse_host(text) {
        assert_eq!(
            parse_host(&host).as_deref(),
            Some(host.as_str()),
            "{text:?}"
        );
    }
    if let Some(method) = parse_method(text) {
        assert_eq!(parse_method(&method).as_deref(), Some(method.as_str()));
    }
}

/// `uri` without `:port` after an `http://` loopback authority.
fn without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rfind(':') {
        Some(i) if !authority.ends_with(']') => &authority[..i],
        _ => authority,
    };
    Some(format!("http://{host}{tail}"))
}

/// Redirect-URI rules and matching (RFC 6749 §3.1.2, RFC 8252 §7.3, RFC
/// 9700 §4.1.3). Input: registered URIs, one per line, then the requested
/// one. A URI that matches is byte-equal to a registered one, or — for a
/// native app only — a loopback URI equal to one but for its port.
pub fn redirect_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines: Vec<&str> = text.split('\n').collect();
    let Some(requested) = lines.pop() else {
        return;
    };
    let registered: Vec<String> = lines
        .into_iter()
        .filter(|uri| check_redirect_uri(uri).is_ok())
        .map(str::to_owned)
        .collect();
    let _ = check_redirect_uri(requested);
    let exact = registered.iter().any(|r| r == requested);
    assert_eq!(
        redirect_uri_matches(&registered, ApplicationType::Web, requested),
        exact,
        "a web client's URIs match exactly: {requested:?} in {registered:?}"
    );
    if redirect_uri_matches(&registered, ApplicationType::Native, requested) && !exact {
        let stripped = without_port(requested).expect("only loopback http relaxes");
        assert!(
            registered
                .iter()
                .any(|r| without_port(r).as_deref() == Some(stripped.as_str())),
            "{requested:?} matched none of {registered:?} but for the port"
        );
        let url = url::Url::parse(requested).expect("absolute");
        assert!(url.host_str().is_some_and(monban::uri::is_loopback_host));
    }
}
