//! Rules for the URIs clients and operators register (redirect, JWKS,
//! logout and resource URIs), shared by every check of them.

use std::net::IpAddr;

/// `localhost` or a loopback IP literal (brackets allowed).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A URI holds no whitespace or control characters (RFC 3986 §2). The URL
/// parser drops tabs and newlines and trims the ends, so a URI registered
/// with them would be matched and called as another string than the one
/// stored (found by fuzz/redirect_uri: `http://[::1]?\0\x07`).
pub fn no_blanks(uri: &str) -> Result<(), String> {
    match uri.chars().find(|c| c.is_control() || c.is_whitespace()) {
        Some(c) => Err(format!(
            "must not contain whitespace or control characters ({c:?})"
        )),
        None => Ok(()),
    }
}
