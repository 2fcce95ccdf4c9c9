//! Token-endpoint grants (RFC 6749 §4), one file each, and the rules they
//! share: scope selection, audience selection and issuing access tokens.

use serde::Serialize;
use url::Url;

use crate::app::App;
use crate::error::OAuthError;
use crate::form::Params;
use crate::store::{clients::Client, tokens::AccessToken};
use crate::tokens::{self, ACCESS_TOKEN_TYP, AccessClaims, Audience};
use crate::types::{Scopes, TokenFormat};

pub mod client_credentials;

/// RFC 6749 §5.1 successful token response.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The scope of the token: the requested scopes, each of which the client
/// must be allowed, or all its allowed scopes when none are requested.
/// RFC 6749 §3.3: the server "MUST either process the request using a
/// pre-defined default value or fail the request indicating an invalid scope".
pub fn requested_scope(params: &Params, allowed: &Scopes) -> Result<Scopes, OAuthError> {
    let Some(raw) = params.one("scope")? else {
        return Ok(allowed.clone());
    };
    let requested = Scopes::parse(raw).map_err(OAuthError::invalid_scope)?;
    if let Some(denied) = requested.not_in(allowed).next() {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{denied}' is not allowed for this client"
        )));
    }
    Ok(requested)
}

/// The `aud` of the token: the client's configured audiences, or the server
/// default, narrowed by RFC 8707 `resource` parameters (which may repeat).
pub fn requested_audience(
    params: &Params,
    client: &Client,
    default: &str,
) -> Result<Vec<String>, OAuthError> {
    let allowed: Vec<String> = if client.audiences.is_empty() {
        vec![default.to_owned()]
    } else {
        client.audiences.clone()
    };
    let mut audience = Vec::new();
    for resource in params.all("resource") {
        // RFC 8707 §2: "an absolute URI ... MUST NOT include a fragment component".
        let is_absolute = Url::parse(resource).is_ok();
        if !is_absolute || resource.contains('#') {
            return Err(OAuthError::invalid_target(format!(
                "resource '{resource}' must be an absolute URI without a fragment"
            )));
        }
        if !allowed.iter().any(|a| a == resource) {
            return Err(OAuthError::invalid_target(format!(
                "resource '{resource}' is not an audience of this client"
            )));
        }
        if !audience.iter().any(|a| a == resource) {
            audience.push(resource.to_owned());
        }
    }
    Ok(if audience.is_empty() {
        allowed
    } else {
        audience
    })
}

/// Who and what an access token is for.
pub struct AccessGrant<'a> {
    pub client: &'a Client,
    /// The subject; for client_credentials, the client itself.
    pub subject: String,
    pub scope: &'a Scopes,
    pub audience: Vec<String>,
}

/// Issues an access token in the client's format (else the server default):
/// an RFC 9068 JWT, or an opaque 256-bit value stored as its SHA-256.
pub async fn issue_access_token(
    app: &App,
    grant: AccessGrant<'_>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let ttl = app.config.access_token_ttl;
    let format = grant
        .client
        .access_token_format
        .unwrap_or(app.config.access_token_format);
    let jti = tokens::new_jti();
    let access_token = match format {
        TokenFormat::Jwt => {
            let claims = AccessClaims {
                iss: app.config.issuer.as_str().to_owned(),
                sub: grant.subject,
                aud: Audience::from_list(grant.audience),
                exp: now + ttl,
                iat: now,
                nbf: now,
                jti,
                client_id: grant.client.client_id.clone(),
                scope: grant.scope.to_string(),
            };
            app.keys
                .get()
                .sign(app.config.signing_alg, ACCESS_TOKEN_TYP, &claims)
                .map_err(|e| OAuthError::server_error(&e))?
        }
        TokenFormat::Opaque => {
            let (token, hash) = tokens::random_secret();
            let row = AccessToken {
                token_hash: hash,
                jti,
                client_id: grant.client.client_id.clone(),
                user_id: None,
                grant_id: None,
                scope: grant.scope.to_string(),
                audiences: sqlx::types::Json(grant.audience),
                issued_at: now,
                expires_at: now + ttl,
                revoked_at: None,
            };
            app.access_tokens
                .insert(row)
                .await
                .map_err(|e| OAuthError::server_error(&e))?;
            token.expose().to_owned()
        }
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: (!grant.scope.is_empty()).then(|| grant.scope.to_string()),
    })
}
