//! Token material: random opaque values and their hashes, JWT access-token
//! claims (RFC 9068) and their verification, and the `token` parameter of
//! introspection and revocation. Whether a presented token is active is
//! `service::tokens`.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::CLOCK_SKEW;
use crate::error::OAuthError;
use crate::form::Params;
use crate::jwt;
use crate::keys::KeySet;
use crate::types::Secret;

/// SHA-256, the form in which opaque tokens and client secrets are stored.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// A fresh 256-bit random value, base64url-encoded (43 characters), and its
/// SHA-256.
pub fn random_secret() -> (Secret, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let value = URL_SAFE_NO_PAD.encode(bytes);
    let hash = sha256(value.as_bytes());
    (Secret::new(value), hash)
}

/// A unique token identifier (`jti`, RFC 7519 §4.1.7).
pub fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `aud` (RFC 7519 §4.1.3): a single string when there is one audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn from_list(mut list: Vec<String>) -> Audience {
        match list.len() {
            1 => Audience::One(list.pop().unwrap_or_default()),
            _ => Audience::Many(list),
        }
    }

    pub fn into_list(self) -> Vec<String> {
        match self {
            Audience::One(one) => vec![one],
            Audience::Many(list) => list,
        }
    }
}

/// RFC 9068 §2.2 claims of a JWT access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// RFC 9068 §2.2.1: how the user logged in, for tokens issued to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// RFC 9068 §2.2.3.1: group membership, with the `groups` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// RFC 8693 §4.1: who acts on the subject's behalf (exchanged tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// The grant a user's token belongs to (monban's own claim): monban
    /// answers for the token only while the grant lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<uuid::Uuid>,
}

/// RFC 9068 §2.1: access tokens are typed `at+jwt`.
pub const ACCESS_TOKEN_TYP: &str = jwt::Kind::Access.typ();

/// Verifies a JWT access token monban signed (`jwt::verify`, typed
/// `at+jwt`, RFC 9068 §4), valid now: `nbf <= now < exp`.
pub fn verify_access_jwt(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: i64,
) -> Option<AccessClaims> {
    let expected = jwt::Expected {
        kind: jwt::Kind::Access,
        issuer,
        // Any audience is acceptable to introspection.
        audience: None,
    };
    let claims: AccessClaims = jwt::verify(keys, &expected, token)?;
    // `nbf` allows for clocks of instances that differ a little; `exp` is
    // exact: an expired token is never reported active.
    (claims.nbf <= now + CLOCK_SKEW && now < claims.exp).then_some(claims)
}

/// Which kind of token the caller believes it holds (RFC 7662 §2.1,
/// RFC 7009 §2.1); only changes the order of the lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeHint {
    AccessToken,
    RefreshToken,
}

impl TypeHint {
    /// Unknown hints are ignored (RFC 7662 §2.1: the server "MUST extend its
    /// search across all of its supported token types").
    pub fn parse(raw: Option<&str>) -> Option<TypeHint> {
        match raw? {
            "access_token" => Some(TypeHint::AccessToken),
            "refresh_token" => Some(TypeHint::RefreshToken),
            _ => None,
        }
    }
}

/// The `token` and `token_type_hint` parameters shared by introspection
/// (RFC 7662 §2.1) and revocation (RFC 7009 §2.1).
pub struct PresentedToken<'a> {
    pub token: &'a str,
    pub hint: Option<TypeHint>,
}

impl<'a> PresentedToken<'a> {
    pub fn from_params(params: &'a Params) -> Result<PresentedToken<'a>, OAuthError> {
        Ok(PresentedToken {
            token: params.required("token")?,
            hint: TypeHint::parse(params.one("token_type_hint")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_are_256_bit_and_hashed() {
        let (a, ha) = random_secret();
        let (b, _) = random_secret();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
        assert_eq!(ha, sha256(a.expose().as_bytes()));
        assert_eq!(ha.len(), 32);
    }

    #[test]
    fn audience_is_a_string_when_single() {
        let one = serde_json::to_value(Audience::from_list(vec!["a".into()])).unwrap();
        assert_eq!(one, serde_json::json!("a"));
        let many = serde_json::to_value(Audience::from_list(vec!["a".into(), "b".into()])).unwrap();
        assert_eq!(many, serde_json::json!(["a", "b"]));
    }
}
