//! ID tokens (OIDC Core §2, §3.1.3.6): minted with the active RS256 key, and
//! read back as `id_token_hint` at logout.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::claims::UserClaims;
use crate::jwt;
use crate::keys::{KeyError, KeySet};
use crate::types::SigningAlg;

#[derive(Debug, Serialize)]
pub struct IdClaims<'a> {
    pub iss: &'a str,
    pub sub: String,
    pub aud: &'a str,
    /// OIDC Core §2: the party the token was issued to.
    pub azp: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    pub acr: &'a str,
    pub amr: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    #[serde(flatten)]
    pub user: UserClaims,
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the SHA-256 of the
/// access token, base64url-encoded (RS256 uses SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = digest::digest(&digest::SHA256, access_token.as_bytes());
    let half = digest.as_ref().get(..16).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(half)
}

/// Signs an ID token with the active RS256 key (OIDC's mandatory algorithm).
pub fn mint(keys: &KeySet, claims: &IdClaims<'_>) -> Result<String, KeyError> {
    keys.sign(SigningAlg::RS256, jwt::Kind::Id.typ(), claims)
}

/// What logout needs from an `id_token_hint`.
#[derive(Debug, Deserialize)]
pub struct Hint {
    pub sub: String,
    pub aud: HintAudience,
    pub sid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum HintAudience {
    One(String),
    Many(Vec<String>),
}

impl Hint {
    pub fn client_id(&self) -> Option<&str> {
        match &self.aud {
            HintAudience::One(a) => Some(a),
            HintAudience::Many(list) => list.first().map(String::as_str),
        }
    }
}

/// Reads an ID token monban issued. RP-Initiated Logout §2: the hint may
/// have expired, so expiry is not checked; signature, type and issuer are
/// (an access token, which APIs see, or a logout token is no hint).
pub fn read_hint(keys: &KeySet, issuer: &str, token: &str) -> Option<Hint> {
    let expected = jwt::Expected {
        kind: jwt::Kind::Id,
        issuer,
        audience: None,
    };
    jwt::verify(keys, &expected, token)
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core Appendix A.3 (access token and at_hash of the example).
        assert_eq!(
            super::at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}

/// What the account page (a client of monban) checks in its ID token.
#[derive(Debug, Deserialize)]
pub struct Verified {
    pub sub: String,
    pub sid: Option<String>,
    pub nonce: Option<String>,
    pub exp: i64,
}

/// Verifies an ID token as a relying party would: monban's, typed as an
/// ID token, for `audience`, unexpired.
pub fn verify(
    keys: &KeySet,
    issuer: &str,
    audience: &str,
    token: &str,
    now: i64,
) -> Option<Verified> {
    let expected = jwt::Expected {
        kind: jwt::Kind::Id,
        issuer,
        audience: Some(audience),
    };
    let verified: Verified = jwt::verify(keys, &expected, token)?;
    (now < verified.exp).then_some(verified)
}
