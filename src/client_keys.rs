//! The public keys of `private_key_jwt` clients: a JWK Set registered with
//! the client, or one fetched from its `jwks_uri` (RFC 7591 §2), cached, and
//! fetched again when an assertion names a `kid` the cached set lacks (the
//! client has rotated its keys).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use serde_json::Value;
use url::Url;

use crate::outbound::{Outbound, Trust};
use crate::uri::is_loopback_host;

/// A fetched set is used this long before it is fetched again.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// Fetches of one URI (after an unknown `kid`, or a failure) are at least
/// this far apart: a stream of made-up kids or assertions for a client
/// whose server is down must not turn monban into a fetching machine.
pub const MIN_REFETCH: Duration = Duration::from_secs(2);
/// While the client's server cannot be reached, the keys it last published
/// are used for at most this long.
const MAX_STALE: Duration = Duration::from_secs(3600);
/// A JWK Set larger than this is refused.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// At most this many keys are kept from a set.
const MAX_KEYS: usize = 32;

/// The verification keys of a JWK Set: public, asymmetric, for signatures.
pub type KeySet = Arc<Vec<Jwk>>;

/// Reads a JWK Set, keeping the keys usable to verify client signatures.
/// A key monban cannot use (an unknown type, `use: enc`) is skipped; a
/// private or symmetric key is refused outright, as registering one is a
/// leak or a mistake.
pub fn parse_jwks(set: &Value) -> Result<Vec<Jwk>, String> {
    let usable = usable_keys(set)?;
    if usable.is_empty() {
        return Err("the JWK Set has no public RSA, EC or OKP signing key".into());
    }
    Ok(usable)
}

/// The usable keys of a set, maybe none.
fn usable_keys(set: &Value) -> Result<Vec<Jwk>, String> {
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("a JWK Set is an object with a \"keys\" array (RFC 7517 §5)")?;
    let mut usable = Vec::new();
    for key in keys {
        if ["d", "p", "q", "k"]
            .iter()
            .any(|private| key.get(private).is_some())
        {
            return Err(
                "the JWK Set holds a private or symmetric key; register public keys only".into(),
            );
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(key.clone()) else {
            continue;
        };
        let signing = !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
        let asymmetric = matches!(
            jwk.algorithm,
            AlgorithmParameters::RSA(_)
                | AlgorithmParameters::EllipticCurve(_)
                | AlgorithmParameters::OctetKeyPair(_)
        );
        if signing && asymmetric && usable.len() < MAX_KEYS {
            usable.push(jwk);
        }
    }
    Ok(usable)
}

/// `jwks_uri` must be https, or http to a loopback host (for development).
pub fn check_jwks_uri(uri: &str) -> Result<(), String> {
    crate::uri::no_blanks(uri)?;
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URL ({e})"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        _ => Err("must be an https URL (http only for loopback hosts)".into()),
    }
}

/// What is known of one `jwks_uri`.
struct Fetched {
    /// The set it last answered, and when.
    keys: Option<(KeySet, Instant)>,
    /// The last fetch, successful or not.
    tried: Instant,
}

/// JWK Sets fetched from clients' `jwks_uri`s, by URI and by who chose it
/// (an outsider's URI is fetched through the outbound guard, and never
/// served from what an operator's fetch of the same URI found).
pub struct RemoteKeys {
    outbound: Outbound,
    fetched: Mutex<HashMap<(String, Trust), Fetched>>,
}

impl RemoteKeys {
    pub fn new(outbound: Outbound) -> RemoteKeys {
        RemoteKeys {
            outbound,
            fetched: Mutex::new(HashMap::new()),
        }
    }

    /// The keys at `uri`: the cached set while it is fresh and knows `kid`,
    /// else a newly fetched one (an empty set included: the client has
    /// withdrawn its keys). When the fetch fails, the last set is used while
    /// it is less than `MAX_STALE` old.
    pub async fn get(&self, uri: &str, trust: Trust, kid: Option<&str>) -> Result<KeySet, String> {
        let key = (uri.to_owned(), trust);
        let (known, tried) = self.cached(&key);
        if let Some((keys, at)) = &known {
            let knows_kid = kid.is_none_or(|kid| find(keys, kid).is_some());
            if knows_kid && at.elapsed() < CACHE_TTL {
                return Ok(Arc::clone(keys));
            }
        }
        let stale = || {
            known
                .as_ref()
                .filter(|(_, at)| at.elapsed() < MAX_STALE)
                .map(|(keys, _)| Arc::clone(keys))
        };
        if tried.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
            return stale().ok_or_else(|| format!("{uri} could not be fetched a moment ago"));
        }
        self.remember(&key, known.clone(), Instant::now());
        match self.fetch(uri, trust).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                let now = Instant::now();
                self.remember(&key, Some((Arc::clone(&keys), now)), now);
                Ok(keys)
            }
            Err(e) => match stale() {
                Some(keys) => {
                    tracing::warn!(jwks_uri = uri, error = %e, "could not refetch a client's JWK Set; using the one fetched before");
                    Ok(keys)
                }
                None => Err(e),
            },
        }
    }

    fn cached(&self, key: &(String, Trust)) -> (Option<(KeySet, Instant)>, Option<Instant>) {
        let Ok(fetched) = self.fetched.lock() else {
            return (None, None);
        };
        match fetched.get(key) {
            Some(f) => (f.keys.clone(), Some(f.tried)),
            None => (None, None),
        }
    }

    fn remember(&self, key: &(String, Trust), keys: Option<(KeySet, Instant)>, tried: Instant) {
        if let Ok(mut fetched) = self.fetched.lock() {
            fetched.insert(key.clone(), Fetched { keys, tried });
        }
    }

    async fn fetch(&self, uri: &str, trust: Trust) -> Result<Vec<Jwk>, String> {
        let mut response = self
            .outbound
            .request(trust, reqwest::Method::GET, uri)
            .map_err(|e| format!("{uri} {e}"))?
            .header("accept", "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| format!("fetching {uri}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{uri} answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading {uri}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("{uri} sent more than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: Value =
            serde_json::from_slice(&body).map_err(|e| format!("{uri} is not JSON: {e}"))?;
        match usable_keys(&set) {
            Ok(keys) => Ok(keys),
            // Published private keys are compromised: none of them is used.
            Err(e) if set.get("keys").is_some_and(Value::is_array) => {
                tracing::warn!(jwks_uri = uri, problem = %e, "a client's JWK Set is refused");
                Ok(Vec::new())
            }
            Err(e) => Err(format!("{uri}: {e}")),
        }
    }
}

/// The key with this `kid`.
pub fn find<'a>(keys: &'a [Jwk], kid: &str) -> Option<&'a Jwk> {
    keys.iter()
        .find(|k| k.common.key_id.as_deref() == Some(kid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RSA_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn keeps_public_signing_keys() {
        let set = json!({"keys": [
            {"kty": "RSA", "kid": "a", "n": RSA_N, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": RSA_N, "e": "AQAB"},
            {"kty": "XYZ", "kid": "unknown"},
        ]});
        let keys = parse_jwks(&set).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(find(&keys, "a").is_some());
    }

    #[test]
    fn refuses_private_symmetric_and_empty_sets() {
        for bad in [
            json!({"keys": [{"kty": "RSA", "n": RSA_N, "e": "AQAB", "d": "AQAB"}]}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            json!({"keys": []}),
            json!([{"kty": "RSA", "n": RSA_N, "e": "AQAB"}]),
        ] {
            assert!(parse_jwks(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jwks_uri_rules() {
        assert!(check_jwks_uri("https://rp.example.com/jwks").is_ok());
        assert!(check_jwks_uri("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_jwks_uri("http://rp.example.com/jwks").is_err());
        assert!(check_jwks_uri("/jwks").is_err());
    }
}
