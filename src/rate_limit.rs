//! Request rate limits per client address and per authenticated client
//! (`MONBAN_RATE_LIMIT_*`), kept in memory on each instance. A limit
//! `N/min` lets a burst of N through, then one every minute/N (GCRA, the
//! "virtual scheduling" form of a token bucket). Refused requests get
//! `429 Too Many Requests` with `Retry-After` (RFC 6585 §4).

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// What a limit protects; each has its own setting and its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// `/token`, `/par`, `/revoke`.
    Token,
    /// `/introspect`.
    Introspection,
    /// Login form posts.
    Login,
    /// `/register`.
    Registration,
    /// `/device_authorization` and the `/device` form.
    Device,
    /// Authorization requests (`/authorize`, which may start a session)
    /// and POSTed logouts (`/end_session`, which park a row).
    Authorize,
}

impl Class {
    pub const ALL: [Class; 6] = [
        Class::Token,
        Class::Introspection,
        Class::Login,
        Class::Registration,
        Class::Device,
        Class::Authorize,
    ];

    pub fn setting(self) -> &'static str {
        match self {
            Class::Token => "MONBAN_RATE_LIMIT_TOKEN",
            Class::Introspection => "MONBAN_RATE_LIMIT_INTROSPECTION",
            Class::Login => "MONBAN_RATE_LIMIT_LOGIN",
            Class::Registration => "MONBAN_RATE_LIMIT_REGISTRATION",
            Class::Device => "MONBAN_RATE_LIMIT_DEVICE",
            Class::Authorize => "MONBAN_RATE_LIMIT_AUTHORIZE",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Token => "token",
            Class::Introspection => "introspection",
            Class::Login => "login",
            Class::Registration => "registration",
            Class::Device => "device",
            Class::Authorize => "authorize",
        }
    }

    /// Generous enough for a busy deployment; tight enough to blunt a flood
    /// from one address or one stolen client credential.
    pub fn default_limit(self) -> Limit {
        let per_minute = |count| Limit {
            count,
            period: Duration::from_secs(60),
        };
        match self {
            Class::Token => per_minute(1200),
            Class::Introspection => per_minute(6000),
            Class::Login => per_minute(60),
            Class::Registration => per_minute(30),
            Class::Device => per_minute(120),
            // Every sign-in and silent renewal of every app counts, per
            // address: generous for a busy office behind one NAT, and still a
            // bound on the sessions a flood can create.
            Class::Authorize => per_minute(600),
        }
    }
}

/// `count` requests per `period`, all of them at once if need be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

impl Limit {
    /// `N/s`, `N/min` or `N/h`; `off` (or `0`) for no limit.
    pub fn parse(raw: &str) -> Result<Option<Limit>, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") || raw == "0" {
            return Ok(None);
        }
        let bad = || format!("expected N/s, N/min or N/h (or off), got {raw:?}");
        let (count, unit) = raw.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let seconds = match unit.trim() {
            "s" => 1,
            "min" => 60,
            "h" => 3600,
            _ => return Err(bad()),
        };
        if count == 0 || count > 1_000_000 {
            return Err(format!("{raw:?}: the count must be from 1 to 1000000"));
        }
        Ok(Some(Limit {
            count,
            period: Duration::from_secs(seconds),
        }))
    }

    /// The time one request uses up of the period.
    fn interval(self) -> f64 {
        self.period.as_secs_f64() / f64::from(self.count)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            3600 => "h",
            _ => "min",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The configured limit of each class; `None` is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    limits: [(Class, Option<Limit>); 6],
}

impl Limits {
    pub fn new(limit_of: impl Fn(Class) -> Option<Limit>) -> Limits {
        Limits {
            limits: Class::ALL.map(|class| (class, limit_of(class))),
        }
    }

    pub fn of(&self, class: Class) -> Option<Limit> {
        self.limits
            .iter()
            .find(|(c, _)| *c == class)
            .and_then(|(_, limit)| *limit)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(|class| Some(class.default_limit()))
    }
}

/// Whose requests are counted together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    /// An IPv4 address, or an IPv6 /64 (one host usually holds a whole /64).
    Address(IpAddr),
    Client(String),
}

fn address_subject(ip: IpAddr) -> Subject {
    Subject::Address(crate::net::network_of(ip))
}

/// Counters this many subjects at most; the least recently seen are
/// forgotten first (which only lets them start over).
const CAPACITY: NonZeroUsize = match NonZeroUsize::new(100_000) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// A refusal: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exceeded {
    pub class: Class,
    pub retry_after: Duration,
}

impl Exceeded {
    /// Whole seconds for `Retry-After`, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

pub struct RateLimiter {
    limits: Limits,
    start: Instant,
    /// Per class and subject, the GCRA "theoretical arrival time": seconds
    /// since `start` at which the subject's bucket is full again.
    arrivals: Mutex<LruCache<(Class, Subject), f64>>,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            limits,
            start: Instant::now(),
            arrivals: Mutex::new(LruCache::new(CAPACITY)),
        }
    }

    /// Counts a request from `ip`.
    pub fn check_address(&self, class: Class, ip: IpAddr) -> Result<(), Exceeded> {
        self.check(class, address_subject(ip))
    }

    /// Counts a request of an authenticated client.
    pub fn check_client(&self, class: Class, client_id: &str) -> Result<(), Exceeded> {
        self.check(class, Subject::Client(client_id.to_owned()))
    }

    fn check(&self, class: Class, subject: Subject) -> Result<(), Exceeded> {
        let Some(limit) = self.limits.of(class) else {
            return Ok(());
        };
        let now = self.start.elapsed().as_secs_f64();
        let interval = limit.interval();
        let tolerance = limit.period.as_secs_f64() - interval;
        let Ok(mut arrivals) = self.arrivals.lock() else {
            return Ok(());
        };
        let key = (class, subject);
        let arrival = arrivals.get(&key).copied().unwrap_or(now).max(now);
        if arrival - now > tolerance {
            let wait = arrival - now - tolerance;
            return Err(Exceeded {
                class,
                retry_after: Duration::from_secs_f64(wait),
            });
        }
        arrivals.put(key, arrival + interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!(
            Limit::parse("10/s"),
            Ok(Some(Limit {
                count: 10,
                period: Duration::from_secs(1)
            }))
        );
        assert_eq!(Limit::parse("off"), Ok(None));
        assert_eq!(Limit::parse("0"), Ok(None));
        assert_eq!(
            Limit::parse("5/min").map(|l| l.map(|l| l.to_string())),
            Ok(Some("5/min".into()))
        );
        for bad in ["10", "10/day", "x/s", "0/s", "-1/s", "/s"] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let limiter = RateLimiter::new(Limits::new(|class| {
            (class == Class::Token).then_some(Limit {
                count: 3,
                period: Duration::from_secs(60),
            })
        }));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check_address(Class::Token, ip).is_ok());
        }
        let refused = limiter.check_address(Class::Token, ip).unwrap_err();
        // The next request fits once one interval (20 s) has passed.
        assert!(
            (19..=20).contains(&refused.retry_after_secs()),
            "{refused:?}"
        );
        // Other addresses, clients and classes have their own counters.
        assert!(
            limiter
                .check_address(Class::Token, "192.0.2.2".parse().unwrap())
                .is_ok()
        );
        assert!(limiter.check_client(Class::Token, "app").is_ok());
        for _ in 0..100 {
            assert!(
                limiter.check_address(Class::Login, ip).is_ok(),
                "login is off"
            );
        }
    }

    #[test]
    fn ipv6_hosts_count_per_64() {
        let limiter = RateLimiter::new(Limits::new(|_| {
            Some(Limit {
                count: 1,
                period: Duration::from_secs(60),
            })
        }));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check_address(Class::Login, a).is_ok());
        assert!(limiter.check_address(Class::Login, b).is_err());
        assert!(limiter.check_address(Class::Login, other).is_ok());
    }
}
