//! URLs an outsider registers for monban to call: the outbound guard never
//! panics, and lets no IP literal through that is not public.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use monban::outbound::{Outbound, is_public};

static OUTBOUND: LazyLock<Outbound> = LazyLock::new(|| Outbound::new(Vec::new()).expect("outbound"));

fuzz_target!(|data: &[u8]| {
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
});
