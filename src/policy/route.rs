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
    #[error("the gateway sent no forwarded {0} (X-Forwarded-* or X-Original-*)")]
    Missing(&'static str),
    #[error("the forwarded {0} is not usable")]
    Invalid(&'static str),
    /// Sent twice, or differently under both names: a client may have
    /// added one the gateway passed on, so neither can be believed.
    #[error("the forwarded {0} is ambiguous")]
    Ambiguous(&'static str),
}

impl Route {
    /// The route described by a gateway's headers. Traefik and Caddy send
    /// `X-Forwarded-Method`/`-Uri`; nginx configurations set either those
    /// or `X-Original-Method`/`-URI`. All three parts are required (a rule
    /// for a host or method must never be skipped for want of one), each
    /// once: a gateway that sets one name passes on whatever the client sent
    /// under the other, so two values that disagree are refused.
    pub fn from_headers(headers: &HeaderMap) -> Result<Route, RouteError> {
        let method = forwarded(
            headers,
            &["x-forwarded-method", "x-original-method"],
            "method",
        )?;
        let uri = forwarded(headers, &["x-forwarded-uri", "x-original-uri"], "URI")?;
        let host = forwarded(headers, &["x-forwarded-host"], "host")?;
        Ok(Route {
            method: parse_method(method).ok_or(RouteError::Invalid("method"))?,
            host: parse_host(host).ok_or(RouteError::Invalid("host"))?,
            segments: path_segments(uri).ok_or(RouteError::Invalid("URI"))?,
        })
    }

    /// The normalised path, e.g. `/api/orders`: read again, it gives the
    /// same segments (characters normalisation would read anew — `%`, `\`,
    /// `;`, `?`, `#` — stay percent-encoded).
    pub fn path(&self) -> String {
        normal_path(&self.segments)
    }
}

/// The URL the browser asked for, as the gateway describes it: the scheme
/// from `X-Forwarded-Proto`, the host (and port) from `X-Forwarded-Host`,
/// the path and query from `X-Forwarded-Uri` / `X-Original-URI`. Where a
/// sign-in returns to (checked again there against the gateway domains).
pub fn original_url(headers: &HeaderMap) -> Result<String, RouteError> {
    let proto = forwarded(headers, &["x-forwarded-proto"], "proto")?;
    let proto = proto.split(',').next().unwrap_or_default().trim();
    if proto != "https" && proto != "http" {
        return Err(RouteError::Invalid("proto"));
    }
    let host = forwarded(headers, &["x-forwarded-host"], "host")?;
    let host = host.split(',').next().unwrap_or_default().trim();
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') && !name.contains(':') => (name, Some(port)),
        _ => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if parse_host(name).is_none() || !port_ok || name.starts_with('[') {
        return Err(RouteError::Invalid("host"));
    }
    let uri = forwarded(headers, &["x-forwarded-uri", "x-original-uri"], "URI")?;
    if !uri.starts_with('/') || uri.starts_with("//") {
        return Err(RouteError::Invalid("URI"));
    }
    Ok(format!("{proto}://{host}{uri}"))
}

/// The one value of a forwarded header, under any of its `names`.
fn forwarded<'h>(
    headers: &'h HeaderMap,
    names: &[&str],
    what: &'static str,
) -> Result<&'h str, RouteError> {
    let mut values = names.iter().flat_map(|name| headers.get_all(*name).iter());
    let first = values.next().ok_or(RouteError::Missing(what))?;
    if values.any(|other| other != first) {
        return Err(RouteError::Ambiguous(what));
    }
    first
        .to_str()
        .map(str::trim)
        .map_err(|_| RouteError::Invalid(what))
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
        // [IPv6] or [IPv6]:port, nothing else after the bracket.
        let (address, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if !port_ok {
            return None;
        }
        format!("[{address}]")
    } else {
        first.split(':').next()?.to_owned()
    };
    // IP literals only in their one canonical form: `[0::1]`, `167772165`
    // or `0xa.5` name an address the gateway's own host matching (nginx
    // `server_name`, Caddy site addresses) compares as written, so reading
    // them as `[::1]` or `10.0.0.5` would judge a request by a rule meant
    // for another virtual host. Refused: such a request is denied.
    if without_port.starts_with('[') {
        return match url::Host::parse(&without_port) {
            // The URL standard's serialisation (RFC 5952, with IPv4-mapped
            // addresses in hex: `[::ffff:a00:1]`), as browsers send it.
            Ok(host @ url::Host::Ipv6(_)) => {
                let canonical = host.to_string();
                canonical
                    .eq_ignore_ascii_case(&without_port)
                    .then_some(canonical)
            }
            _ => None,
        };
    }
    // A fully qualified name's trailing dot names the same host; any other
    // empty label (`a..b`, `.a`, `a..`) is no host name at all (RFC 1035
    // §2.3.1), or `x.example..` would dodge the rules for `x.example`.
    let name = without_port.strip_suffix('.').unwrap_or(&without_port);
    match url::Host::parse(name) {
        Ok(url::Host::Ipv4(ip)) => {
            let canonical = ip.to_string();
            return (canonical == name).then_some(canonical);
        }
        Ok(_) => {}
        // The URL standard refuses names whose last label is a number but
        // no IPv4 address (`1.2.3.256`, `1.2.3.4.5`); so does monban.
        Err(_) => return None,
    }
    let ok = name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then(|| name.to_ascii_lowercase())
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
    // `;` starts path parameters, which servlet containers drop before
    // resolving dot segments (`/public/..;/admin` is `/admin` there).
    for segment in decoded
        .split(['/', '\\'])
        .map(|s| s.split(';').next().unwrap_or(""))
    {
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

/// Segments as a path that `path_segments` reads back to the same
/// segments (normalisation is idempotent).
pub fn normal_path(segments: &[String]) -> String {
    const REREAD: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b'%')
        .add(b'/')
        .add(b'\\')
        .add(b';')
        .add(b'?')
        .add(b'#');
    let mut path = String::from("/");
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            path.push('/');
        }
        path.extend(percent_encoding::utf8_percent_encode(segment, REREAD));
    }
    path
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
    fn the_original_url_is_rebuilt_from_the_forwarded_headers() {
        let url = |pairs: &[(&str, &str)]| original_url(&headers(pairs));
        let base = [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com:8443"),
            ("x-forwarded-uri", "/d/1?x=%20y"),
        ];
        assert_eq!(
            url(&base).unwrap(),
            "https://app.example.com:8443/d/1?x=%20y"
        );
        for (name, value) in [
            ("x-forwarded-proto", "javascript"),
            ("x-forwarded-host", "evil.com/x"),
            ("x-forwarded-host", "app.example.com:80a"),
            ("x-forwarded-host", "a@evil.com"),
            ("x-forwarded-uri", "//evil.com/"),
            ("x-forwarded-uri", "evil"),
        ] {
            let mut pairs = base.to_vec();
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
            assert!(url(&pairs).is_err(), "{name}: {value}");
        }
        assert!(url(&base[1..]).is_err(), "the scheme is needed");
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
        assert_eq!(p("/public/..;/admin").as_deref(), Some("/admin"));
        assert_eq!(p("/admin;jsessionid=1/x").as_deref(), Some("/admin/x"));
        assert_eq!(p("admin"), None);
        assert_eq!(p("http://x/admin"), None);
        assert_eq!(p("/%ff"), None);
        assert_eq!(p("/a%00b"), None);
        // Read again, the normal form is itself.
        for target in ["/a%2525b/%3Bx", "/a%5Cb/..%2F", "/%3F%23/x"] {
            let once = path_segments(target).unwrap();
            assert_eq!(path_segments(&normal_path(&once)), Some(once), "{target}");
        }
    }

    #[test]
    fn hosts_lose_their_port_and_case() {
        assert_eq!(
            parse_host("API.Example.com:8443").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(parse_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(
            parse_host("api.example.com.:443").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(
            parse_host("a.example, b.example").as_deref(),
            Some("a.example")
        );
        assert_eq!(parse_host("bad host"), None);
        assert_eq!(parse_host(""), None);
        // Empty labels are no host (found by fuzz/policy: `x..` read as `x.`).
        for bad in [
            "api.example.com..",
            ".api.example.com",
            "a..b",
            "...",
            "[]",
            "[::1",
            "a[b]",
        ] {
            assert_eq!(parse_host(bad), None, "{bad}");
        }
        // One spelling per address.
        for other_spelling in [
            "[0::1]:443",
            "167772165",
            "0xa.5:80",
            "010.0.0.5",
            "1.2.3.256",
            "1.2.3.4.5",
        ] {
            assert_eq!(parse_host(other_spelling), None, "{other_spelling}");
        }
        assert_eq!(parse_host("10.0.0.5:80").as_deref(), Some("10.0.0.5"));
        assert_eq!(
            parse_host("[2001:DB8::1]").as_deref(),
            Some("[2001:db8::1]")
        );
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
        // A client's X-Forwarded-* next to the gateway's X-Original-*.
        let spoofed = [
            ("x-original-method", "DELETE"),
            ("x-forwarded-method", "GET"),
            ("x-original-uri", "/admin"),
            ("x-forwarded-host", "h"),
        ];
        assert_eq!(
            Route::from_headers(&headers(&spoofed)),
            Err(RouteError::Ambiguous("method"))
        );
        let mut twice = headers(&full);
        twice.append("x-forwarded-uri", "/catalog".parse().unwrap());
        assert_eq!(
            Route::from_headers(&twice),
            Err(RouteError::Ambiguous("URI"))
        );
        // The same value under both names is fine.
        let both = [
            ("x-original-method", "GET"),
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/a"),
            ("x-forwarded-host", "h"),
        ];
        assert!(Route::from_headers(&headers(&both)).is_ok());
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
