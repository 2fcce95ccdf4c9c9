//! The client's address, as far as it can be trusted: the peer address, or
//! the `X-Forwarded-For` address a trusted proxy (`MONBAN_TRUSTED_PROXIES`)
//! reports. Never the header alone: any client can write it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

/// The address of the connection's peer (the server puts it in every
/// request); unspecified if missing.
pub fn peer_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(peer)| peer.ip())
}

/// The network a client address stands for when counting requests or
/// failures: an IPv4 address itself, an IPv6 address's /64 (one host is
/// usually given a whole /64, so single addresses cost it nothing).
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// Walks `X-Forwarded-For` from the right (the hop nearest to us) while the
/// hops are trusted proxies; the first untrusted address is the client.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_ip(outsider, &headers("198.51.100.1"), &trusted),
            outsider
        );
        assert_eq!(
            client_ip(peer, &headers("1.2.3.4, 198.51.100.1, 10.0.0.7"), &trusted).to_string(),
            "198.51.100.1"
        );
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer);
        assert_eq!(client_ip(peer, &headers("garbage"), &trusted), peer);
        // Dual-stack listeners see IPv4 peers as mapped IPv6 addresses.
        let mapped: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
        assert_eq!(
            client_ip(mapped, &headers("198.51.100.1"), &trusted).to_string(),
            "198.51.100.1"
        );
        let mapped_outsider: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(mapped_outsider, &HeaderMap::new(), &[]), outsider);
    }

    #[test]
    fn ipv6_counts_per_64() {
        let net = |s: &str| network_of(s.parse().unwrap()).to_string();
        assert_eq!(net("2001:db8:1:2:ffff::9"), "2001:db8:1:2::");
        assert_eq!(net("192.0.2.7"), "192.0.2.7");
        assert_eq!(net("::ffff:192.0.2.7"), "192.0.2.7");
    }
}
