//! The gateway session: how apps that speak no OpenID Connect share the SSO
//! session behind a forward-auth gateway. A browser signed in to monban gets
//! a cookie for the parent domain (`MONBAN_GATEWAY_COOKIE_DOMAIN`) holding a
//! random token bound to its SSO session (`sid`); `/forward_auth` takes it on
//! routes that say so. The token is nothing on monban's own pages, and
//! valid only while its SSO session lives.
//!
//! Checks answer from a cache of recently seen sessions (re-read after
//! `RECHECK`; sessions ending here or on another instance drop out at
//! once), and push the session's idle expiry back at most once a minute.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use lru::LruCache;
use tower_sessions::cookie::{Cookie, SameSite, time};
use uuid::Uuid;

use crate::config::Config;
use crate::mfa::Level;
use crate::store::{self, Db};
use crate::types::Secret;

/// The gateway session cookie (never `monban_session`, which only monban's
/// own host sees).
pub const COOKIE: &str = "monban_gateway";
/// How long a cached session is believed before it is read again: a session
/// ended through an instance that could not tell this one, a user's changed
/// groups, take effect within this.
pub const RECHECK: Duration = Duration::from_secs(5);
/// A gateway request pushes the session's idle expiry back only when that
/// gains at least this much: one write a minute, not one per request.
pub const REFRESH_EVERY: i64 = 60;
/// The `client_id` of the JWTs made for a gateway session's upstream (RFC
/// 9068 §2.2 asks for one; no registered client has it).
pub const CLIENT_ID: &str = "monban-gateway";
/// Sessions kept in the cache, least recently used first out.
const CACHE_SIZE: usize = 10_000;
/// The longest return target taken: it travels, encoded twice, in the
/// sign-in's flow cookie, which must stay under browsers' 4 KiB.
const MAX_RETURN_TARGET: usize = 2048;
/// Gateway tokens kept per SSO session (its tabs signing in at once);
/// older ones go, so a loop of sign-ins cannot grow the table.
pub const TOKENS_PER_SESSION: i64 = 8;
/// Gateway cookies a request may carry: the browser's own, and one a host
/// of the domain may have planted (cookie tossing), which is then refused
/// if it names another session. More is refused outright (and the
/// gateways' configurations strip two copies from what apps receive).
pub const MOST_TOKENS: usize = 2;

/// A signed-in browser, as `/forward_auth` tells the app.
pub struct SignedIn {
    pub sid: String,
    pub user_id: Uuid,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// How the user signed in: the level a route's `acr` is compared with.
    pub level: Level,
    pub amr: Vec<String>,
    pub auth_time: i64,
    /// The absolute end of the session.
    pub ends_at: i64,
    /// Its idle expiry as last seen or pushed back.
    expires_at: AtomicI64,
    checked: Instant,
    /// JWTs made for this session's upstreams.
    jwts: Mutex<Vec<UpstreamJwt>>,
}

struct UpstreamJwt {
    audiences: Vec<String>,
    jwt: Arc<str>,
    iat: i64,
    exp: i64,
}

impl SignedIn {
    pub fn expires_at(&self) -> i64 {
        self.expires_at.load(Ordering::SeqCst)
    }

    /// A JWT made earlier for `audiences`, while it has half its lifetime
    /// left.
    pub fn upstream_jwt(&self, audiences: &[String], now: i64) -> Option<Arc<str>> {
        let jwts = self.jwts.lock().unwrap_or_else(|p| p.into_inner());
        jwts.iter()
            .find(|j| j.audiences == audiences && now < j.iat + (j.exp - j.iat) / 2)
            .map(|j| Arc::clone(&j.jwt))
    }

    pub fn keep_upstream_jwt(&self, audiences: &[String], jwt: Arc<str>, iat: i64, exp: i64) {
        let mut jwts = self.jwts.lock().unwrap_or_else(|p| p.into_inner());
        jwts.retain(|j| j.audiences != audiences);
        jwts.push(UpstreamJwt {
            audiences: audiences.to_vec(),
            jwt,
            iat,
            exp,
        });
    }
}

/// The new idle expiry a request at `now` gives a session, if pushing it
/// back is worth a write: never past its absolute end, and only when it
/// gains `REFRESH_EVERY` or more.
pub fn idle_refresh(expires_at: i64, ends_at: i64, idle_ttl: i64, now: i64) -> Option<i64> {
    let until = (now + idle_ttl).min(ends_at);
    (until - expires_at >= REFRESH_EVERY).then_some(until)
}

/// Recently seen gateway sessions, by the SHA-256 of their token.
pub struct GatewaySessions {
    entries: Mutex<LruCache<[u8; 32], Arc<SignedIn>>>,
    /// Bumped whenever sessions end, so that a lookup that raced the end
    /// does not put its session back.
    generation: AtomicU64,
}

impl Default for GatewaySessions {
    fn default() -> GatewaySessions {
        GatewaySessions {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHE_SIZE).unwrap_or(NonZeroUsize::MIN),
            )),
            generation: AtomicU64::new(0),
        }
    }
}

impl GatewaySessions {
    /// The signed-in session behind a gateway token, if there is one; its
    /// idle expiry pushed back when that is due.
    pub async fn find(
        &self,
        db: &Db,
        token: &str,
        idle_ttl: i64,
        now: i64,
    ) -> Result<Option<Arc<SignedIn>>, sqlx::Error> {
        let Ok(hash) = <[u8; 32]>::try_from(crate::tokens::sha256(token.as_bytes())) else {
            return Ok(None);
        };
        let generation = self.generation.load(Ordering::SeqCst);
        let cached = self.with(|c| c.get(&hash).cloned());
        let signed_in = match cached {
            Some(entry) if entry.checked.elapsed() < RECHECK && now < entry.expires_at() => entry,
            _ => match read(db, &hash, now).await? {
                Some(entry) => {
                    let entry = Arc::new(entry);
                    self.with(|c| {
                        if self.generation.load(Ordering::SeqCst) == generation {
                            c.put(hash, Arc::clone(&entry));
                        }
                    });
                    entry
                }
                None => {
                    self.with(|c| c.pop(&hash));
                    return Ok(None);
                }
            },
        };
        if let Some(until) = idle_refresh(signed_in.expires_at(), signed_in.ends_at, idle_ttl, now)
        {
            let before = signed_in.expires_at();
            // One request of many at once writes: the one that moves it.
            let won = signed_in
                .expires_at
                .compare_exchange(before, until, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok();
            if won && !store::sessions::keep_alive(db, &signed_in.sid, now, until).await? {
                // It ended meanwhile.
                self.with(|c| c.pop(&hash));
                return Ok(None);
            }
        }
        Ok(Some(signed_in))
    }

    /// Sessions `sids` ended here: their tokens drop out at once.
    pub fn forget_sessions(&self, sids: &[String]) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if sids.is_empty() {
            return;
        }
        self.with(|c| {
            let gone: Vec<[u8; 32]> = c
                .iter()
                .filter(|(_, s)| sids.contains(&s.sid))
                .map(|(k, _)| *k)
                .collect();
            for key in gone {
                c.pop(&key);
            }
        });
    }

    /// Sessions ended somewhere (another instance): every entry goes.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.with(LruCache::clear);
    }

    fn with<R>(&self, f: impl FnOnce(&mut LruCache<[u8; 32], Arc<SignedIn>>) -> R) -> R {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

/// The session behind a token's hash, from the database.
async fn read(db: &Db, hash: &[u8; 32], now: i64) -> Result<Option<SignedIn>, sqlx::Error> {
    let Some(row) = store::gateway_sessions::find(db, hash, now).await? else {
        return Ok(None);
    };
    let Some(login) = crate::session::login_of(&row.data.0)
        .filter(|l| l.sid == row.sid && l.user_id == row.user_id && now < l.ends_at)
    else {
        return Ok(None);
    };
    let groups = store::groups::of_user(db, row.user_id).await?;
    Ok(Some(SignedIn {
        level: login.level(),
        sid: row.sid,
        user_id: row.user_id,
        username: row.username,
        name: row.name,
        email: row.email,
        groups,
        amr: login.amr,
        auth_time: login.auth_time,
        ends_at: login.ends_at,
        expires_at: AtomicI64::new(row.expires_at),
        checked: Instant::now(),
        jwts: Mutex::new(Vec::new()),
    }))
}

/// A new gateway token for the SSO session `sid` of `user_id` (the
/// session's oldest beyond `TOKENS_PER_SESSION` withdrawn).
pub async fn issue(db: &Db, sid: &str, user_id: Uuid, now: i64) -> Result<Secret, sqlx::Error> {
    let (token, hash) = crate::tokens::random_secret();
    store::gateway_sessions::insert(db, &hash, sid, user_id, now, TOKENS_PER_SESSION).await?;
    Ok(token)
}

/// A token the browser no longer holds (a new one replaced it).
pub async fn withdraw(db: &Db, token: &str) -> Result<(), sqlx::Error> {
    store::gateway_sessions::delete(db, &crate::tokens::sha256(token.as_bytes())).await
}

/// The gateway tokens a request carries, in the browser's order. A host
/// under the cookie domain can set one too, so there may be several.
pub fn tokens_of(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value)
        .take(MOST_TOKENS + 1)
}

/// The `Set-Cookie` of a gateway token: the cookie domain, HttpOnly,
/// SameSite=Lax, Secure when the issuer is https, until the session's
/// absolute end.
pub fn cookie(config: &Config, token: &str, max_age: i64) -> Option<HeaderValue> {
    build(config, token, max_age.max(0))
}

/// The `Set-Cookie` that removes the gateway cookie from the browser.
pub fn removal(config: &Config) -> Option<HeaderValue> {
    build(config, "", 0)
}

fn build(config: &Config, value: &str, max_age: i64) -> Option<HeaderValue> {
    let domain = config.gateway_cookie_domain.as_deref()?;
    let cookie = Cookie::build((COOKIE, value))
        .domain(domain)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.issuer.as_str().starts_with("https://"))
        .max_age(time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// A URL a gateway sign-in or sign-out may send the browser back to: on a
/// host under the cookie domain or listed in `MONBAN_GATEWAY_DOMAINS`,
/// https (or http while the issuer is), without credentials; its fragment
/// dropped. Anything else is refused: no open redirect.
pub fn return_target(config: &Config, raw: &str) -> Option<url::Url> {
    let domain = config.gateway_cookie_domain.as_deref()?;
    if raw.len() > MAX_RETURN_TARGET {
        return None;
    }
    let mut url = url::Url::parse(raw).ok()?;
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => config.issuer.as_str().starts_with("http://"),
        _ => false,
    };
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return None;
    };
    let listed = config
        .gateway_domains
        .iter()
        .any(|d| match d.strip_prefix("*.") {
            Some(parent) => host.ends_with(&format!(".{parent}")),
            None => host == d,
        });
    if !(under(host, domain) || listed) {
        return None;
    }
    url.set_fragment(None);
    Some(url)
}

/// Whether the browser sends the gateway cookie to `url` (a return target):
/// only a host under the cookie domain can be signed in by it. A sign-in
/// for any other would come back without it, and round again.
pub fn receives_cookie(config: &Config, url: &url::Url) -> bool {
    let domain = config.gateway_cookie_domain.as_deref().unwrap_or_default();
    url.host_str().is_some_and(|host| under(host, domain))
}

fn under(host: &str, parent: &str) -> bool {
    !parent.is_empty() && (host == parent || host.ends_with(&format!(".{parent}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let mut all = pairs.to_vec();
        if !pairs.iter().any(|(k, _)| *k == "MONBAN_ISSUER") {
            all.push(("MONBAN_ISSUER", "https://auth.example.com"));
        }
        Config::from_sources(crate::config::Sources::from_pairs(all))
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        load(pairs).unwrap()
    }

    #[test]
    fn the_cookie_is_for_the_parent_domain_and_only_http() {
        let c = config(&[("MONBAN_GATEWAY_COOKIE_DOMAIN", "example.com")]);
        let set = cookie(&c, "tok", 3600).unwrap();
        let set = set.to_str().unwrap();
        for part in [
            "monban_gateway=tok",
            "Domain=example.com",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Max-Age=3600",
        ] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        let gone = removal(&c).unwrap();
        assert!(gone.to_str().unwrap().contains("Max-Age=0"), "{gone:?}");
        // Over http (a test or a lab) the cookie cannot be Secure.
        let plain = config(&[
            ("MONBAN_ISSUER", "http://auth.example.test"),
            ("MONBAN_GATEWAY_COOKIE_DOMAIN", "example.test"),
        ]);
        let set = cookie(&plain, "tok", 60).unwrap();
        assert!(!set.to_str().unwrap().contains("Secure"), "{set:?}");
        // Without a cookie domain there is no gateway session at all.
        assert!(cookie(&config(&[]), "tok", 60).is_none());
    }

    #[test]
    fn the_cookie_domain_must_hold_the_issuer() {
        for bad in [
            "example.org",
            "com",
            "exa mple.com",
            "10.0.0.1",
            "auth.example.com.evil",
        ] {
            assert!(
                load(&[("MONBAN_GATEWAY_COOKIE_DOMAIN", bad)]).is_err(),
                "{bad} must be refused"
            );
        }
        assert!(load(&[("MONBAN_GATEWAY_COOKIE_DOMAIN", ".Example.com")]).is_ok());
        assert!(load(&[("MONBAN_GATEWAY_DOMAINS", "app.example.org")]).is_err());
        assert!(
            load(&[
                ("MONBAN_GATEWAY_COOKIE_DOMAIN", "example.com"),
                ("MONBAN_GATEWAY_DOMAINS", "not/a/host")
            ])
            .is_err()
        );
    }

    #[test]
    fn only_the_gateway_domains_are_return_targets() {
        let c = config(&[
            ("MONBAN_GATEWAY_COOKIE_DOMAIN", "example.com"),
            (
                "MONBAN_GATEWAY_DOMAINS",
                "wiki.example.org, *.internal.example.net",
            ),
        ]);
        for good in [
            "https://app.example.com/dashboard?x=1",
            "https://example.com/",
            "https://a.b.example.com:8443/",
            "https://wiki.example.org/page",
            "https://grafana.internal.example.net/",
        ] {
            assert!(return_target(&c, good).is_some(), "{good}");
        }
        for bad in [
            "https://evil.com/",
            "https://example.com.evil.com/",
            "https://evilexample.com/",
            "https://other.example.org/",
            "https://internal.example.net/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "https://user:pw@app.example.com/",
            "//app.example.com/",
            "/relative",
            "https://10.0.0.1/",
        ] {
            assert!(return_target(&c, bad).is_none(), "{bad}");
        }
        let url = return_target(&c, "https://app.example.com/a#frag").unwrap();
        assert_eq!(url.as_str(), "https://app.example.com/a");
        let long = format!("https://app.example.com/{}", "a".repeat(5000));
        assert!(return_target(&c, &long).is_none());
    }

    #[test]
    fn the_idle_expiry_moves_at_most_once_a_minute() {
        let idle = 3600;
        let now = 1_000_000;
        // Just pushed back: nothing to write.
        assert_eq!(idle_refresh(now + idle, now + 10 * idle, idle, now), None);
        assert_eq!(
            idle_refresh(now + idle - 59, now + 10 * idle, idle, now),
            None
        );
        // A minute or more behind: pushed to a full idle period.
        assert_eq!(
            idle_refresh(now + idle - 60, now + 10 * idle, idle, now),
            Some(now + idle)
        );
        // Never past the absolute end, and no write once there.
        assert_eq!(
            idle_refresh(now + 100, now + 500, idle, now),
            Some(now + 500)
        );
        assert_eq!(idle_refresh(now + 500, now + 500, idle, now), None);
    }

    #[test]
    fn cookies_are_read_by_name_only() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("monban_session=s; monban_gateway=one; x_monban_gateway=no"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("monban_gateway=two"),
        );
        assert_eq!(tokens_of(&headers).collect::<Vec<_>>(), ["one", "two"]);
    }
}
