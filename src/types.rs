//! Validated newtypes and enums for the values that cross monban's edges:
//! raw strings from requests, the CLI and the database are parsed into these
//! once, and the rest of the code only sees valid values.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Implements `as_str`, `FromStr`, `TryFrom<String>` (for sqlx `try_from`),
/// `Display` and serde for a field-less enum with fixed wire names.
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown value {other:?} (expected one of: {})",
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> { s.parse() }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

wire_enum! {
    /// Where a device authorization request stands (RFC 8628 §3.4–3.5).
    pub enum DeviceStatus {
        Pending = "pending",
        Approved = "approved",
        Denied = "denied",
    }
}

wire_enum! {
    /// OAuth 2.0 grant types a client may be allowed to use (RFC 7591 §2 names).
    pub enum GrantType {
        AuthorizationCode = "authorization_code",
        RefreshToken = "refresh_token",
        ClientCredentials = "client_credentials",
        TokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange",
        DeviceCode = "urn:ietf:params:oauth:grant-type:device_code",
    }
}

wire_enum! {
    /// RFC 6749 §2.1 client types.
    pub enum ClientType {
        Confidential = "confidential",
        Public = "public",
    }
}

wire_enum! {
    /// OIDC Registration §2 `application_type`: a web app (the default) or
    /// a native app, whose loopback redirect URIs may use any port (RFC
    /// 8252 §7.3).
    pub enum ApplicationType {
        Web = "web",
        Native = "native",
    }
}

wire_enum! {
    /// Who made a client: an operator (CLI, admin API, `monban apply`), or
    /// anyone through dynamic registration, whose URLs monban fetches from
    /// public addresses only and whose service tokens carry only what its
    /// initial access token granted.
    pub enum ClientOrigin {
        Operator = "operator",
        Registration = "registration",
    }
}

wire_enum! {
    /// How a client authenticates at the token, introspection and revocation
    /// endpoints (RFC 7591 §2 `token_endpoint_auth_method`).
    pub enum AuthMethod {
        ClientSecretBasic = "client_secret_basic",
        ClientSecretPost = "client_secret_post",
        PrivateKeyJwt = "private_key_jwt",
        None = "none",
    }
}

impl AuthMethod {
    /// Whether the client proves itself with a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    }
}

wire_enum! {
    /// The form of an access token: a signed JWT (RFC 9068) or an opaque
    /// reference looked up in the database.
    pub enum TokenFormat {
        Jwt = "jwt",
        Opaque = "opaque",
    }
}

wire_enum! {
    /// JWS algorithms monban signs with (RFC 7518 names).
    pub enum SigningAlg {
        RS256 = "RS256",
        ES256 = "ES256",
        EdDSA = "EdDSA",
    }
}

wire_enum! {
    /// Lifecycle of a signing key: published before it signs, signs, then is
    /// published until every token it signed has expired.
    pub enum KeyState {
        Next = "next",
        Active = "active",
        Retired = "retired",
    }
}

impl SigningAlg {
    pub fn jwt_algorithm(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlg::RS256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::ES256 => jsonwebtoken::Algorithm::ES256,
            SigningAlg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// Scopes defined by OpenID Connect that every code-flow client may ask for.
pub const OIDC_SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

/// The scope that gives a token the admin API (with the admin group).
pub const ADMIN_SCOPE: &str = "monban:admin";

/// The group whose members may administer monban.
pub const ADMIN_GROUP: &str = "admin";

/// A space-delimited list of scope tokens (RFC 6749 §3.3), deduplicated,
/// in first-seen order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses the `scope` parameter: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
    pub fn parse(raw: &str) -> Result<Scopes, String> {
        Scopes::from_tokens(raw.split(' ').filter(|s| !s.is_empty()))
    }

    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Scopes, String> {
        let mut scopes = Vec::new();
        for token in tokens {
            if !is_scope_token(token) {
                return Err(format!("invalid scope token '{token}'"));
            }
            if !scopes.iter().any(|s| s == token) {
                scopes.push(token.to_owned());
            }
        }
        Ok(Scopes(scopes))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// The scopes of `self` missing from `allowed`.
    pub fn not_in<'a>(&'a self, allowed: &'a Scopes) -> impl Iterator<Item = &'a str> {
        self.iter().filter(|s| !allowed.contains(s))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// A secret shown once to its owner and never logged: `Debug` is redacted and
/// there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Group names end up in `groups` claims and gateway headers
/// (`X-Monban-Groups`, comma-separated): 1–64 characters of letters, digits
/// and `. _ - :`.
pub fn is_group_name(raw: &str) -> bool {
    (1..=64).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_dedupe_and_reject_bad_characters() {
        let s = Scopes::parse("read  write read").unwrap();
        assert_eq!(s.to_string(), "read write");
        assert!(Scopes::parse("a\"b").is_err());
        assert!(Scopes::parse("caf\u{e9}").is_err());
        assert!(Scopes::parse("a\\b").is_err());
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn wire_enums_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>().unwrap(), *g);
        }
        assert!("password".parse::<GrantType>().is_err());
        assert_eq!(
            format!("{:?}", Secret::new("hunter2".into())),
            "Secret(***)"
        );
    }
}

/// A setting that is not valid: which one (for a client, its RFC 7591
/// name), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Invalid {
        Invalid {
            field,
            message: message.into(),
        }
    }
}
