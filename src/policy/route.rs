//! The request a gateway asks about: method, host and path from the
//! `X-Forwarded-*` / `X-Original-*` headers, believed only from
//! `MONBAN_TRUSTED_PROXIES`, with the path normalised the way an upstream
//! would read it, so that `/public/%2e%2e/admin` is judged as `/admin`.

use axum::http::HeaderMap;
use percent_encoding::percent_decode_str;

/// A request as the upstream will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper case, e.g. `GET`.
    pub method: String,
    /// Lower case, without a port.
    pub host: String,
    /// The decoded path segments, dot segments resolved, empty ones dropped.
    pub segments: Vec<String>,
}

/// Why a route could not be read from the headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the gateway sent no {0} header")]
    Missing(&'static str),
    #[error("the forwarded {0} is not usable")]
    Invalid(&'static str),
}

impl Route {
    /// The route described by a gateway's headers. Traefik and Caddy send
    /// `X-Forwarded-Method`/`-Uri`; nginx configurations usually set
    /// `X-Original-Method`/`-URI`. All three parts are required: a rule for
    /// a host or method must never be skipped for want of one.
    pub fn from_headers(headers: &HeaderMap) -> Result<Route, RouteError> {
        let header = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| headers.get(*name))
                .map(|v| v.to_str().map(str::trim))
        };
        let method = header(&["x-forwarded-method", "x-original-method"])
            .ok_or(RouteError::Missing("X-Forwarded-Method"))?
            .map_err(|_| RouteError::Invalid("method"))?;
        let uri = header(&["x-forwarded-uri", "x-original-uri"])
            .ok_or(RouteError::Missing("X-Forwarded-Uri"))?
            .map_err(|_| RouteError::Invalid("URI"))?;
        let host = header(&["x-forwarded-host"])
            .ok_or(RouteError::Missing("X-Forwarded-Host"))?
            .map_err(|_| RouteError::Invalid("host"))?;
        Ok(Route {
            method: parse_method(method).ok_or(RouteError::Invalid("method"))?,
            host: parse_host(host).ok_or(RouteError::Invalid("host"))?,
            segments: path_segments(uri).ok_or(RouteError::Invalid("URI"))?,
        })
    }

    /// The normalised path, e.g. `/api/orders`.
    pub fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }
}

/// An HTTP method token (RFC 9110 §9.1), upper-cased.
pub fn parse_method(raw: &str) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 32
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| raw.to_ascii_uppercase())
}

/// A host name or address, lower-cased, without its port. The first value
/// when a proxy chain sent several.
pub fn parse_host(raw: &str) -> Option<String> {
    let first = raw.split(',').next()?.trim();
    let without_port = if let Some(rest) = first.strip_prefix('[') {
        // [IPv6]:port
        format!("[{}]", rest.split(']').next()?)
    } else {
        first.split(':').next()?.to_owned()
    };
    let ok = !without_port.is_empty()
        && without_port.len() <= 253
        && without_port
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:_".contains(&b));
    ok.then(|| without_port.to_ascii_lowercase())
}

/// The path of a request target: query and fragment dropped, percent-escapes
/// decoded (`%2F` too: the most restrictive reading), `\` read as `/` (as
/// some servers do), empty and `.` segments dropped, `..` resolved. `None`
/// for a target that is not an origin-form path or does not decode to UTF-8.
pub fn path_segments(target: &str) -> Option<Vec<String>> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return None;
    }
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    if decoded.chars().any(char::is_control) {
        return None;
    }
    let mut segments: Vec<String> = Vec::new();
    for segment in decoded.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other.to_owned()),
        }
    }
    Some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn paths_are_read_as_an_upstream_would() {
        let p = |s: &str| path_segments(s).map(|v| format!("/{}", v.join("/")));
        assert_eq!(p("/api/orders?x=1").as_deref(), Some("/api/orders"));
        assert_eq!(p("/public/%2e%2e/admin").as_deref(), Some("/admin"));
        assert_eq!(p("/public/..%2Fadmin").as_deref(), Some("/admin"));
        assert_eq!(p("//admin//x/./").as_deref(), Some("/admin/x"));
        assert_eq!(p("/a\\..\\admin").as_deref(), Some("/admin"));
        assert_eq!(p("/../../etc").as_deref(), Some("/etc"));
        assert_eq!(p("/%61dmin").as_deref(), Some("/admin"));
        assert_eq!(p("admin"), None);
        assert_eq!(p("http://x/admin"), None);
        assert_eq!(p("/%ff"), None);
        assert_eq!(p("/a%00b"), None);
    }

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(
            parse_host("API.Example.com:8443").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(parse_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(
            parse_host("a.example, b.example").as_deref(),
            Some("a.example")
        );
        assert_eq!(parse_host("bad host"), None);
        assert_eq!(parse_host(""), None);
    }

    #[test]
    fn every_part_is_required() {
        let full = [
            ("x-forwarded-method", "get"),
            ("x-forwarded-uri", "/api/x?y"),
            ("x-forwarded-host", "api.example"),
        ];
        let route = Route::from_headers(&headers(&full)).unwrap();
        assert_eq!(route.method, "GET");
        assert_eq!(route.path(), "/api/x");
        let nginx = [
            ("x-original-method", "POST"),
            ("x-original-uri", "/"),
            ("x-forwarded-host", "h"),
        ];
        assert_eq!(Route::from_headers(&headers(&nginx)).unwrap().path(), "/");
        for missing in 0..3 {
            let partial: Vec<_> = full
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != missing)
                .map(|(_, p)| *p)
                .collect();
            assert!(matches!(
                Route::from_headers(&headers(&partial)),
                Err(RouteError::Missing(_))
            ));
        }
    }
}
