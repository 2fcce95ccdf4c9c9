//! Redirect-URI rules and matching (RFC 6749 §3.1.2, RFC 8252 §7.3, RFC
//! 9700 §4.1.3). Input: registered URIs, one per line, then the requested
//! one. A URI that matches is byte-equal to a registered one, or — for a
//! native app only — a loopback URI equal to one but for its port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monban::authorization::redirect_uri_matches;
use monban::clients::check_redirect_uri;
use monban::types::ApplicationType;

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

fuzz_target!(|data: &[u8]| {
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
            registered.iter().any(|r| without_port(r).as_deref() == Some(stripped.as_str())),
            "{requested:?} matched none of {registered:?} but for the port"
        );
        let url = url::Url::parse(requested).expect("absolute");
        assert!(url.host_str().is_some_and(monban::config::is_loopback_host));
    }
});
