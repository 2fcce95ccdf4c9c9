//! Client registration rules: which client settings are valid and consistent
//! with each other. The CLI uses them now; the admin API and dynamic
//! registration use the same rules.

use url::Url;
use uuid::Uuid;

use crate::client_keys;
use crate::routes;
use crate::store::clients::{Client, ServiceLimit};
use crate::tokens;
pub use crate::types::Invalid;
use crate::types::{
    ApplicationType, AuthMethod, ClientOrigin, ClientType, GrantType, Scopes, Secret, TokenFormat,
};
use crate::uri::{is_loopback_host, no_blanks};

/// The built-in client the account page signs in with.
pub const ACCOUNT_CLIENT_ID: &str = "monban-account";

/// The settings an operator chooses for a client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub name: String,
    pub client_type: ClientType,
    /// `native`: loopback redirect URIs match with any port (RFC 8252 §7.3).
    pub application_type: ApplicationType,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scopes,
    pub audiences: Vec<String>,
    pub auth_method: AuthMethod,
    /// `None`: follow the server default.
    pub access_token_format: Option<TokenFormat>,
    /// Public keys for `private_key_jwt`: a JWK Set, or where to fetch it.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// RFC 9126 §5: only pushed authorization requests are accepted.
    pub require_par: bool,
    /// Users sign in to it with a second factor.
    pub require_mfa: bool,
    /// OIDC Back-Channel Logout: where to POST logout tokens.
    pub backchannel_logout_uri: Option<String>,
}

impl ClientSettings {
    /// A web client of this type, method and grants with nothing else set
    /// (no redirect URIs, scopes, audiences or keys; not first party;
    /// tokens in the server's format).
    pub fn new(
        name: String,
        client_type: ClientType,
        auth_method: AuthMethod,
        grant_types: Vec<GrantType>,
    ) -> ClientSettings {
        ClientSettings {
            name,
            client_type,
            application_type: ApplicationType::Web,
            first_party: false,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types,
            scopes: Scopes::default(),
            audiences: Vec::new(),
            auth_method,
            access_token_format: None,
            jwks: None,
            jwks_uri: None,
            require_par: false,
            require_mfa: false,
            backchannel_logout_uri: None,
        }
    }

    pub fn of(client: &Client) -> ClientSettings {
        ClientSettings {
            name: client.name.clone(),
            client_type: client.client_type,
            application_type: client.application_type,
            first_party: client.first_party,
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            grant_types: client.grant_types.clone(),
            scopes: client.scopes.clone(),
            audiences: client.audiences.clone(),
            auth_method: client.token_endpoint_auth_method,
            access_token_format: client.access_token_format,
            jwks: client.jwks.clone(),
            jwks_uri: client.jwks_uri.clone(),
            require_par: client.require_pushed_authorization_requests,
            require_mfa: client.require_mfa,
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
        }
    }

    /// Every setting by its RFC 7591 name, in a stable order (what a diff
    /// shows).
    pub fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::json;
        vec![
            ("name", json!(self.name)),
            ("client_type", json!(self.client_type)),
            ("application_type", json!(self.application_type)),
            ("first_party", json!(self.first_party)),
            ("redirect_uris", json!(self.redirect_uris)),
            (
                "post_logout_redirect_uris",
                json!(self.post_logout_redirect_uris),
            ),
            ("grant_types", json!(self.grant_types)),
            ("scopes", json!(self.scopes)),
            ("audiences", json!(self.audiences)),
            ("token_endpoint_auth_method", json!(self.auth_method)),
            ("access_token_format", json!(self.access_token_format)),
            ("jwks", json!(self.jwks)),
            ("jwks_uri", json!(self.jwks_uri)),
            (
                "require_pushed_authorization_requests",
                json!(self.require_par),
            ),
            ("require_mfa", json!(self.require_mfa)),
            ("backchannel_logout_uri", json!(self.backchannel_logout_uri)),
        ]
    }

    /// The names of the settings `other` changes.
    pub fn changed(&self, other: &ClientSettings) -> Vec<&'static str> {
        self.fields()
            .into_iter()
            .zip(other.fields())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((name, _), _)| name)
            .collect()
    }

    /// Checks every setting and their consistency; the error says what is
    /// wrong (and `check` also names the setting, by its RFC 7591 name).
    pub fn validate(&self) -> Result<(), String> {
        self.check().map_err(|e| e.message)
    }

    pub fn check(&self) -> Result<(), Invalid> {
        if self.name.trim().is_empty()
            || self.name.chars().count() > 200
            || self.name.chars().any(char::is_control)
        {
            return Err(Invalid::new(
                "client_name",
                "name must be 1 to 200 characters without control characters",
            ));
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri)
                .map_err(|e| Invalid::new("redirect_uris", format!("redirect URI {uri:?}: {e}")))?;
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri(uri).map_err(|e| {
                Invalid::new(
                    "post_logout_redirect_uris",
                    format!("post-logout redirect URI {uri:?}: {e}"),
                )
            })?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            check_backchannel_logout_uri(uri).map_err(|e| {
                Invalid::new(
                    "backchannel_logout_uri",
                    format!("backchannel_logout_uri {uri:?}: {e}"),
                )
            })?;
        }
        check_audiences(&self.audiences)?;
        if self.grant_types.is_empty() {
            return Err(Invalid::new(
                "grant_types",
                "at least one grant type is needed",
            ));
        }
        let has = |g| self.grant_types.contains(&g);
        match (self.client_type, self.auth_method) {
            (ClientType::Public, AuthMethod::None) => {}
            (ClientType::Public, m) => {
                return Err(Invalid::new(
                    "token_endpoint_auth_method",
                    format!("a public client has no credentials, so it cannot use {m}"),
                ));
            }
            (ClientType::Confidential, AuthMethod::None) => {
                return Err(Invalid::new(
                    "token_endpoint_auth_method",
                    "a confidential client authenticates; use client_secret_basic, client_secret_post or private_key_jwt",
                ));
            }
            (ClientType::Confidential, _) => {}
        }
        self.check_keys()?;
        if has(GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(Invalid::new(
                "redirect_uris",
                "authorization_code needs at least one redirect URI",
            ));
        }
        // RFC 6749 §4.4: only confidential clients may use client_credentials.
        if has(GrantType::ClientCredentials) && self.client_type == ClientType::Public {
            return Err(Invalid::new(
                "grant_types",
                "client_credentials is only for confidential clients",
            ));
        }
        // RFC 8693: exchanging is acting for someone else; only a client that
        // authenticates may, and only for the audiences it is given.
        if has(GrantType::TokenExchange) && self.client_type == ClientType::Public {
            return Err(Invalid::new(
                "grant_types",
                "token exchange is only for confidential clients",
            ));
        }
        if has(GrantType::TokenExchange) && self.audiences.is_empty() {
            return Err(Invalid::new(
                "audience",
                "token exchange needs the audiences the client may exchange tokens for (--audience)",
            ));
        }
        if has(GrantType::RefreshToken)
            && !has(GrantType::AuthorizationCode)
            && !has(GrantType::DeviceCode)
        {
            return Err(Invalid::new(
                "grant_types",
                "refresh_token is only issued with authorization_code or the device grant",
            ));
        }
        Ok(())
    }

    /// RFC 7591 §2: `jwks` and `jwks_uri` are never both set; monban uses
    /// them for `private_key_jwt`, which needs one of them.
    fn check_keys(&self) -> Result<(), Invalid> {
        match (&self.jwks, &self.jwks_uri) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    "jwks_uri",
                    "jwks and jwks_uri must not both be set (RFC 7591 §2)",
                ));
            }
            (None, None) if self.auth_method == AuthMethod::PrivateKeyJwt => {
                return Err(Invalid::new(
                    "jwks",
                    "private_key_jwt needs the client's public keys: jwks or jwks_uri",
                ));
            }
            (Some(_), None) | (None, Some(_)) if self.auth_method != AuthMethod::PrivateKeyJwt => {
                let field = if self.jwks.is_some() {
                    "jwks"
                } else {
                    "jwks_uri"
                };
                return Err(Invalid::new(
                    field,
                    "jwks and jwks_uri are only used with private_key_jwt",
                ));
            }
            _ => {}
        }
        if let Some(set) = &self.jwks {
            client_keys::parse_jwks(set).map_err(|e| Invalid::new("jwks", format!("jwks: {e}")))?;
        }
        if let Some(uri) = &self.jwks_uri {
            client_keys::check_jwks_uri(uri)
                .map_err(|e| Invalid::new("jwks_uri", format!("jwks_uri {uri:?}: {e}")))?;
        }
        Ok(())
    }
}

/// An audience (`aud` value): 1 to 2000 characters, no spaces.
pub fn is_audience(raw: &str) -> bool {
    (1..=2000).contains(&raw.len()) && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn check_audiences(audiences: &[String]) -> Result<(), Invalid> {
    for audience in audiences {
        if !is_audience(audience) {
            return Err(Invalid::new(
                "audience",
                format!("audience {audience:?} must be 1 to 2000 characters without spaces"),
            ));
        }
    }
    Ok(())
}

/// Scopes only an operator gives a client directly: monban's own.
pub fn is_operator_scope(scope: &str) -> bool {
    scope.starts_with("monban:")
}

/// What an initial access token lets the clients it registers have for
/// `client_credentials` (the CLI's and the admin API's rule): valid
/// audiences, and no operator scopes (those are given to a client by name).
pub fn check_service_limit(limit: &ServiceLimit) -> Result<(), Invalid> {
    if let Some(reserved) = limit.scopes.iter().find(|s| is_operator_scope(s)) {
        return Err(Invalid::new(
            "scope",
            format!(
                "scope {reserved} is an operator's to give a client itself, not through registration"
            ),
        ));
    }
    check_audiences(&limit.audiences)
}

/// Makes an initial access token for dynamic registration (RFC 7591 §3);
/// returns it, to show once (only its hash is kept).
pub async fn issue_initial_token(
    db: &crate::store::Db,
    limit: &ServiceLimit,
    uses: Option<i64>,
    expires_at: Option<i64>,
    now: i64,
) -> Result<Secret, sqlx::Error> {
    let (token, hash) = tokens::random_secret();
    let new = crate::store::registration::NewToken {
        token_hash: &hash,
        uses,
        expires_at,
        grants: limit,
    };
    crate::store::registration::insert(db, &new, now).await?;
    Ok(token)
}

/// Redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1): absolute,
/// no fragment; https, http only to a loopback host, or a private-use scheme
/// in reverse-domain form (`com.example.app:/callback`) for native apps.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > 2000 {
        return Err("longer than 2000 characters".into());
    }
    no_blanks(uri)?;
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URI ({e})"))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err("must not contain a fragment (RFC 6749 §3.1.2)".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err("http is only allowed for loopback hosts; use https".into()),
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "scheme {scheme:?} is not allowed: use https, or a reverse-domain private-use scheme such as com.example.app (RFC 8252 §7.1)"
        )),
    }
}

/// OIDC Back-Channel Logout §2.2: an absolute URI without a fragment, which
/// monban POSTs to: https, or http to a loopback host (development).
pub fn check_backchannel_logout_uri(uri: &str) -> Result<(), String> {
    no_blanks(uri)?;
    let url = Url::parse(uri).map_err(|e| format!("not an absolute URI ({e})"))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err("must not contain a fragment".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        _ => Err("must be https (http only for loopback hosts)".into()),
    }
}

/// What `is_client_id` takes, for people.
pub const CLIENT_ID_RULE: &str = "1 to 128 characters of letters, digits and . _ ~ : -";

/// Client ids an operator may choose (`monban apply`, the admin API):
/// 1–128 characters, URL- and header-safe.
pub fn is_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._~:-".contains(c))
        // `.` and `..` are path segments, not names.
        && !id.chars().all(|c| c == '.')
}

/// The authentication method of a client that names none: `none` for a
/// public client, `private_key_jwt` when it registers keys, else
/// `client_secret_basic` (the CLI's, `monban apply`'s and the admin API's
/// default).
pub fn default_auth_method(client_type: ClientType, has_keys: bool) -> AuthMethod {
    match client_type {
        ClientType::Public => AuthMethod::None,
        ClientType::Confidential if has_keys => AuthMethod::PrivateKeyJwt,
        ClientType::Confidential => AuthMethod::ClientSecretBasic,
    }
}

/// The grant types of a client that names none: the code flow with
/// refresh tokens when it has redirect URIs, else `client_credentials` for
/// a confidential client. A public client without redirect URIs has no
/// sensible default.
pub fn default_grant_types(
    client_type: ClientType,
    has_redirect_uris: bool,
) -> Result<Vec<GrantType>, Invalid> {
    if has_redirect_uris {
        Ok(vec![GrantType::AuthorizationCode, GrantType::RefreshToken])
    } else if client_type == ClientType::Confidential {
        Ok(vec![GrantType::ClientCredentials])
    } else {
        Err(Invalid::new(
            "redirect_uris",
            "a public client needs redirect URIs",
        ))
    }
}

/// A new client from valid settings, with its secret (shown once) when it is
/// confidential.
pub fn new_client(settings: ClientSettings, now: i64) -> (Client, Option<Secret>) {
    let mut client = Client {
        id: Uuid::now_v7(),
        client_id: Uuid::new_v4().to_string(),
        secret_hash: None,
        name: String::new(),
        client_type: settings.client_type,
        application_type: settings.application_type,
        first_party: false,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        grant_types: Vec::new(),
        scopes: Scopes::default(),
        audiences: Vec::new(),
        token_endpoint_auth_method: settings.auth_method,
        access_token_format: None,
        jwks: None,
        jwks_uri: None,
        require_pushed_authorization_requests: false,
        require_mfa: false,
        backchannel_logout_uri: None,
        registration_token_hash: None,
        groups: Vec::new(),
        origin: ClientOrigin::Operator,
        service_limit: None,
        created_at: now,
        updated_at: now,
    };
    let secret = apply(&mut client, settings, now);
    (client, secret)
}

/// Applies settings to a client. A client that comes to authenticate with a
/// secret and has none gets one (returned, to show once); one that no longer
/// uses a secret (public, or `private_key_jwt`) loses it.
pub fn apply(client: &mut Client, s: ClientSettings, now: i64) -> Option<Secret> {
    client.name = s.name;
    client.first_party = s.first_party;
    client.redirect_uris = s.redirect_uris;
    client.post_logout_redirect_uris = s.post_logout_redirect_uris;
    client.grant_types = s.grant_types;
    client.scopes = s.scopes;
    client.audiences = s.audiences;
    client.token_endpoint_auth_method = s.auth_method;
    client.access_token_format = s.access_token_format;
    client.jwks = s.jwks;
    client.jwks_uri = s.jwks_uri;
    client.require_pushed_authorization_requests = s.require_par;
    client.require_mfa = s.require_mfa;
    client.backchannel_logout_uri = s.backchannel_logout_uri;
    client.updated_at = now;
    client.client_type = s.client_type;
    client.application_type = s.application_type;
    if !s.auth_method.uses_secret() {
        client.secret_hash = None;
        None
    } else if client.secret_hash.is_none() {
        Some(rotate_secret(client))
    } else {
        None
    }
}

/// Gives the client a new random 256-bit secret; returns it to show once.
pub fn rotate_secret(client: &mut Client) -> Secret {
    let (secret, hash) = tokens::random_secret();
    client.secret_hash = Some(hash);
    secret
}

/// Makes sure the account page's own client exists and points at this
/// issuer (it is re-created if deleted, and follows a changed issuer).
pub async fn ensure_account_client(
    db: &crate::store::Db,
    issuer: &crate::config::Issuer,
    now: i64,
) -> Result<(), sqlx::Error> {
    let settings = ClientSettings {
        first_party: true,
        redirect_uris: vec![issuer.endpoint(routes::ACCOUNT_CALLBACK)],
        ..ClientSettings::new(
            "monban account".to_owned(),
            ClientType::Public,
            AuthMethod::None,
            vec![GrantType::AuthorizationCode],
        )
    };
    match crate::store::clients::find(db, ACCOUNT_CLIENT_ID).await? {
        Some(existing) if ClientSettings::of(&existing).redirect_uris == settings.redirect_uris => {
            Ok(())
        }
        Some(mut existing) => {
            apply(&mut existing, settings, now);
            crate::store::clients::update(db, &existing).await.map(drop)
        }
        None => {
            let (mut client, _) = new_client(settings, now);
            client.client_id = ACCOUNT_CLIENT_ID.to_owned();
            match crate::store::clients::insert(db, &client).await {
                Err(e) if crate::store::is_unique_violation(&e) => Ok(()),
                other => other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1/cb",
            "http://localhost:3000/cb",
            "http://[::1]/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "/relative",
            "javascript:alert(1)",
            "myapp:/cb",
            "http://[::1]?\0\x07",
            "https://app.example.com/c\tb",
            " https://app.example.com/cb",
            "https://app.example.com/cb\n",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
