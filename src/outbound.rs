//! Requests monban sends out: fetching clients' JWK Sets, delivering
//! logout tokens. A URL an operator set (CLI, admin API, `monban apply`)
//! may point anywhere, an internal service included. A URL that came from
//! outside — dynamic registration — is fetched only from public addresses,
//! so that nobody can aim monban at the network it runs in (SSRF): every
//! address a name resolves to must be public, checked by the resolver the
//! connection then uses (so a second answer cannot rebind the name to an
//! inside address), IP literals likewise, no proxy, no redirects, with
//! time and size limits. `MONBAN_OUTBOUND_ALLOW_NETWORKS` opens ranges
//! (tests, special deployments).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

/// Who chose a URL monban is to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trust {
    /// An operator: the URL may point inside.
    Operator,
    /// Anyone (dynamic registration): public addresses only.
    Outsider,
}

impl From<crate::types::ClientOrigin> for Trust {
    /// A client's URLs are as trusted as whoever made the client.
    fn from(origin: crate::types::ClientOrigin) -> Trust {
        match origin {
            crate::types::ClientOrigin::Operator => Trust::Operator,
            crate::types::ClientOrigin::Registration => Trust::Outsider,
        }
    }
}

/// The HTTP clients for outbound requests.
#[derive(Clone)]
pub struct Outbound {
    operator: reqwest::Client,
    outsider: reqwest::Client,
    allowed: Arc<Vec<IpNet>>,
}

/// No outbound request takes longer, body included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

impl Outbound {
    /// Clients for both kinds of URL; `allowed` are the networks outsiders'
    /// URLs may reach although they are not public. Failing to build the
    /// guarded client is an error, never a fallback to an unguarded one.
    pub fn new(allowed: Vec<IpNet>) -> Result<Outbound, String> {
        let allowed = Arc::new(allowed);
        let builder = || {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                // A redirect could lead anywhere, inside the network included.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("monban/", env!("CARGO_PKG_VERSION")))
        };
        let outsider = builder()
            // A proxy would connect for us, to wherever the URL says.
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly {
                allowed: Arc::clone(&allowed),
            }))
            .build()
            .map_err(|e| e.to_string())?;
        let operator = builder().build().map_err(|e| e.to_string())?;
        Ok(Outbound {
            operator,
            outsider,
            allowed,
        })
    }

    /// A request to `url` on behalf of whoever chose it; refused at once
    /// when an outsider's URL names an address that is not public.
    pub fn request(
        &self,
        trust: Trust,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, String> {
        match trust {
            Trust::Operator => Ok(self.operator.request(method, url)),
            Trust::Outsider => {
                self.check(url)?;
                Ok(self.outsider.request(method, url))
            }
        }
    }

    /// Whether an outsider may name this URL: http(s), and a host that is
    /// not a non-public IP literal or a name of this machine. (Other names
    /// are judged by what they resolve to, when the request is made.)
    pub fn check(&self, url: &str) -> Result<(), String> {
        let url = Url::parse(url).map_err(|e| format!("not an absolute URL ({e})"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err("only http(s) URLs are fetched".into());
        }
        let refused = || {
            Err(
                "points to an address that is not public (loopback, private, link-local, …)"
                    .to_owned(),
            )
        };
        match url.host() {
            Some(url::Host::Ipv4(ip)) if !self.may_reach(IpAddr::V4(ip)) => refused(),
            Some(url::Host::Ipv6(ip)) if !self.may_reach(IpAddr::V6(ip)) => refused(),
            Some(url::Host::Domain(name)) if is_localhost(name) => {
                if self.may_reach(IpAddr::V4(Ipv4Addr::LOCALHOST))
                    && self.may_reach(IpAddr::V6(Ipv6Addr::LOCALHOST))
                {
                    Ok(())
                } else {
                    refused()
                }
            }
            Some(_) => Ok(()),
            None => Err("has no host".into()),
        }
    }

    fn may_reach(&self, ip: IpAddr) -> bool {
        may_reach(&self.allowed, ip)
    }
}

fn may_reach(allowed: &[IpNet], ip: IpAddr) -> bool {
    is_public(ip) || allowed.iter().any(|net| net.contains(&ip))
}

/// `localhost` and its subdomains (RFC 6761 §6.3), which name this machine
/// whatever DNS says.
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Resolves names for outsiders' URLs: every address must be public (or
/// allowed), else the connection is not made at all.
struct PublicOnly {
    allowed: Arc<Vec<IpNet>>,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = Arc::clone(&self.allowed);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            if let Some(inside) = found.iter().find(|a| !may_reach(&allowed, a.ip())) {
                return Err(format!(
                    "{host} resolves to {}, which is not a public address",
                    inside.ip()
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether an address is on the public internet: not unspecified,
/// loopback, private (RFC 1918), shared (CGNAT, RFC 6598), link-local,
/// multicast, broadcast, documentation, benchmarking or otherwise
/// reserved (the IANA special-purpose registries), nor a unique-local or
/// site-local IPv6 address; IPv6 forms that carry an IPv4 address
/// (mapped, compatible, NAT64, 6to4) are judged by it, and IPv6 must be
/// global unicast (2000::/3), outside Teredo and documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", 0.0.0.0/8
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)              // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match segments {
        // ::ffff:0:0/96 (mapped) and ::/96 (compatible; :: and ::1 too).
        [0, 0, 0, 0, 0, 0xffff | 0, hi, lo] => {
            segments[5] == 0xffff && is_public_v4(embedded_v4(hi, lo))
        }
        // NAT64 well-known prefix 64:ff9b::/96 reaches the IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => is_public_v4(embedded_v4(hi, lo)),
        // 6to4, 2002::/16, carries an IPv4 address in bits 16–47.
        [0x2002, hi, lo, ..] => is_public_v4(embedded_v4(hi, lo)),
        // Teredo (2001::/32), ORCHID and documentation (2001:db8::/32) and
        // the rest of 2001::/23's special-purpose assignments.
        [0x2001, second, ..] if second < 0x0200 || second == 0x0db8 => false,
        // Global unicast only: no ULA (fc00::/7), link-local (fe80::/10),
        // site-local (fec0::/10), multicast (ff00::/8), 64:ff9b:1::/48 …
        [first, ..] => (0x2000..0x4000).contains(&first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for inside in [
            "0.0.0.0",
            "10.1.2.3",
            "127.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2001::1",
            "2001:db8::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            let ip: IpAddr = inside.parse().unwrap();
            assert!(!is_public(ip), "{inside}");
        }
        for outside in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let ip: IpAddr = outside.parse().unwrap();
            assert!(is_public(ip), "{outside}");
        }
    }

    #[test]
    fn outsiders_urls_are_checked_and_allowed_networks_open() {
        let strict = Outbound::new(Vec::new()).unwrap();
        for url in [
            "https://127.0.0.1/jwks",
            "http://2130706433/",
            "https://[::ffff:127.0.0.1]/",
            "https://localhost/x",
            "https://a.localhost./x",
            "https://[fd00::1]/",
            "file:///etc/passwd",
        ] {
            assert!(strict.check(url).is_err(), "{url}");
        }
        assert!(strict.check("https://rp.example.com/jwks").is_ok());
        assert!(strict.check("https://8.8.8.8/jwks").is_ok());
        let open = Outbound::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ])
        .unwrap();
        assert!(open.check("http://127.0.0.1:8080/jwks").is_ok());
        assert!(open.check("http://localhost:8080/jwks").is_ok());
        assert!(open.check("https://10.0.0.1/").is_err());
    }
}
