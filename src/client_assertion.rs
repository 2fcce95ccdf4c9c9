//! `private_key_jwt`: a client authenticates with a JWT signed by its own
//! private key (RFC 7523 §2.2 and §3, OIDC Core §9), checked against the
//! public keys it registered.

use std::sync::Arc;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::client_keys::{self, KeySet};
use crate::error::OAuthError;
use crate::routes;
use crate::state::App;
use crate::store::{self, clients::Client};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Asymmetric algorithms only: `none` means no proof, and HS* would let
/// anyone holding the client's *public* key forge assertions.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// An assertion may expire at most this far ahead: its `jti` is stored until
/// then, and a long-lived assertion is a stolen credential waiting to happen.
pub const MAX_LIFETIME: i64 = 300;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY: i64 = 30;
const MAX_JTI_LEN: usize = 256;

/// Why an assertion was refused (for the log; the client only learns
/// `invalid_client`).
pub type Verdict = Result<(), String>;

#[derive(Deserialize)]
struct Claims {
    aud: Value,
    exp: i64,
    iat: Option<i64>,
    jti: Option<String>,
}

/// The client an assertion claims to come from (its `sub`), read before
/// anything is checked: only to find the client whose keys will check it,
/// when the request does not carry `client_id` (RFC 7523 §3 item 2).
pub fn claimed_client(assertion: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Subject {
        sub: String,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Subject>(assertion)
        .ok()
        .map(|s| s.sub)
}

/// Checks an assertion from `client`: signature with one of its keys, the
/// claims of RFC 7523 §3, and first use of its `jti` (recorded, so a replay
/// fails on every instance). The outer error is monban failing to check.
pub async fn verify(
    app: &App,
    client: &Client,
    assertion: &str,
    now: i64,
) -> Result<Verdict, OAuthError> {
    let header = match jsonwebtoken::decode_header(assertion) {
        Ok(header) => header,
        Err(e) => return Ok(Err(format!("malformed assertion: {e}"))),
    };
    if !ALGORITHMS.contains(&header.alg) {
        return Ok(Err(format!("algorithm {:?} is not allowed", header.alg)));
    }
    let keys = match client_keys(app, client, header.kid.as_deref()).await {
        Ok(keys) => keys,
        Err(e) => return Ok(Err(e)),
    };
    let candidates: Vec<&Jwk> = match header.kid.as_deref() {
        Some(kid) => client_keys::find(&keys, kid).into_iter().collect(),
        None => keys.iter().collect(),
    };
    if candidates.is_empty() {
        return Ok(Err(format!(
            "no registered key has kid {:?}",
            header.kid.unwrap_or_default()
        )));
    }
    let validation = validation(client, header.alg);
    let mut refusal = String::from("no registered key fits the algorithm");
    for jwk in candidates {
        let fits = jwk
            .common
            .key_algorithm
            .is_none_or(|a| Algorithm::try_from(a).is_ok_and(|a| a == header.alg));
        let Some(key) = fits.then(|| DecodingKey::from_jwk(jwk).ok()).flatten() else {
            continue;
        };
        match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
            Ok(data) => return check_claims(app, client, data.claims, now).await,
            Err(e) => refusal = format!("signature or claims rejected: {e}"),
        }
    }
    Ok(Err(refusal))
}

async fn client_keys(app: &App, client: &Client, kid: Option<&str>) -> Result<KeySet, String> {
    match (&client.jwks, &client.jwks_uri) {
        (Some(set), _) => client_keys::parse_jwks(set).map(Arc::new),
        (None, Some(uri)) => {
            let trust = crate::outbound::Trust::from(client.origin);
            app.remote_keys.get(uri, trust, kid).await
        }
        (None, None) => Err("the client has no registered keys".into()),
    }
}

/// RFC 7523 §3 items 1, 2, 4, 5: `iss` and `sub` are the client, `exp` is
/// required; `aud` is checked in `check_claims`.
fn validation(client: &Client, alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY.unsigned_abs();
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_issuer(&[&client.client_id]);
    validation.sub = Some(client.client_id.clone());
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation
}

async fn check_claims(
    app: &App,
    client: &Client,
    claims: Claims,
    now: i64,
) -> Result<Verdict, OAuthError> {
    // RFC 7523 §3 item 3, and the audience-injection fix of
    // draft-ietf-oauth-rfc7523bis: one value, the issuer; the token endpoint
    // URL is still accepted from older clients, and the PAR endpoint URL
    // (RFC 9126 §2: it MUST be).
    let issuer = app.config.issuer.as_str();
    let token_endpoint = app.config.issuer.endpoint(routes::TOKEN);
    let par_endpoint = app.config.issuer.endpoint(routes::PAR);
    let aud = match &claims.aud {
        Value::String(aud) => Some(aud.as_str()),
        Value::Array(values) if values.len() == 1 => values.first().and_then(Value::as_str),
        _ => None,
    };
    match aud {
        Some(aud) if aud == issuer || aud == token_endpoint || aud == par_endpoint => {}
        Some(aud) => return Ok(Err(format!("aud {aud:?} is not this issuer"))),
        None => return Ok(Err("aud must be a single value: the issuer".into())),
    }
    if claims.exp > now + MAX_LIFETIME + LEEWAY {
        return Ok(Err(format!(
            "exp is more than {MAX_LIFETIME} seconds ahead"
        )));
    }
    if claims.iat.is_some_and(|iat| iat > now + LEEWAY) {
        return Ok(Err("iat is in the future".into()));
    }
    // RFC 7523 §3 item 7: jti, used once. Kept well past the last moment
    // the assertion is accepted (exp + leeway), for instances whose clocks
    // differ a little.
    let Some(jti) = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
    else {
        return Ok(Err(format!(
            "jti is required (1 to {MAX_JTI_LEN} characters)"
        )));
    };
    let first_use = store::assertions::record_first_use(
        &app.db,
        &client.client_id,
        &jti,
        claims.exp + 2 * LEEWAY,
    )
    .await?;
    if !first_use {
        return Ok(Err("jti was used before (replay)".into()));
    }
    Ok(Ok(()))
}
