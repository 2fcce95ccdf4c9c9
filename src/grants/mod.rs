//! Token-endpoint grants (RFC 6749 §4), one file each, and the rules they
//! share: scope and audience selection, and issuing access, refresh and ID
//! tokens.

use serde::Serialize;
use uuid::Uuid;

use crate::claims;
use crate::error::OAuthError;
use crate::form::Params;
use crate::id_token::{self, IdClaims};
use crate::state::App;
use crate::store::{self, clients::Client, tokens::AccessToken, tokens::RefreshToken, users::User};
use crate::tokens::{self, ACCESS_TOKEN_TYP, AccessClaims, Audience};
use crate::types::{GrantType, Scopes, TokenFormat};

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;
pub mod token_exchange;

/// RFC 6749 §5.1 successful token response.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1, for token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
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

/// RFC 8707 §2.2: `resource` at the token endpoint narrows the audience a
/// code or refresh token was granted; anything outside it is refused.
pub fn narrowed_audience(params: &Params, granted: &[String]) -> Result<Vec<String>, OAuthError> {
    let mut audience: Vec<String> = Vec::new();
    for resource in params.all("resource") {
        if !granted.iter().any(|g| g == resource) {
            return Err(OAuthError::invalid_target(format!(
                "resource '{resource}' was not granted to this code or refresh token"
            )));
        }
        if !audience.iter().any(|a| a == resource) {
            audience.push(resource.to_owned());
        }
    }
    Ok(if audience.is_empty() {
        granted.to_vec()
    } else {
        audience
    })
}

/// How and when the user logged in, carried from the login into every token
/// of the grant.
#[derive(Debug, Clone)]
pub struct Authentication {
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    /// The SSO session.
    pub sid: String,
}

/// Who and what an access token is for.
pub struct AccessGrant<'a> {
    pub client: &'a Client,
    /// The subject: the user, or for client_credentials the client itself.
    pub subject: String,
    pub user_id: Option<Uuid>,
    /// The grant (refresh family) the token belongs to, if any.
    pub grant_id: Option<Uuid>,
    pub scope: &'a Scopes,
    pub audience: Vec<String>,
    pub authentication: Option<&'a Authentication>,
    pub groups: Option<Vec<String>>,
    /// A `jti` decided beforehand (a code knows its token's), else a new one.
    pub jti: Option<String>,
    /// RFC 8693 §4.1 `act`: who acts for the subject (token exchange).
    pub act: Option<serde_json::Value>,
    /// The token may not live past this (an exchanged token never outlives
    /// the token it was exchanged for).
    pub not_after: Option<i64>,
}

pub struct IssuedAccessToken {
    pub token: String,
    pub jti: String,
    pub format: TokenFormat,
    pub expires_at: i64,
    /// Seconds, for `expires_in`.
    pub lifetime: i64,
}

/// Issues an access token in the format of the registered APIs it is for
/// (RFC 8707), else the client's, else the server default: an RFC 9068
/// JWT, or an opaque 256-bit value stored as its SHA-256. Its lifetime is
/// the APIs' shortest, else `MONBAN_ACCESS_TOKEN_TTL`.
pub async fn issue_access_token(
    app: &App,
    grant: AccessGrant<'_>,
    now: i64,
) -> Result<IssuedAccessToken, OAuthError> {
    let apis = app.apis.current(&app.db).await?;
    let (api_format, api_ttl) = crate::apis::token_settings(&grant.audience, &apis);
    let ttl = api_ttl.unwrap_or(app.config.access_token_ttl);
    let lifetime = grant.not_after.map_or(ttl, |end| ttl.min(end - now).max(1));
    let expires_at = now + lifetime;
    let format = api_format
        .or(grant.client.access_token_format)
        .unwrap_or(app.config.access_token_format);
    let jti = grant.jti.unwrap_or_else(tokens::new_jti);
    let token = match format {
        TokenFormat::Jwt => {
            let auth = grant.authentication;
            let claims = AccessClaims {
                iss: app.config.issuer.as_str().to_owned(),
                sub: grant.subject,
                aud: Audience::from_list(grant.audience),
                exp: expires_at,
                iat: now,
                nbf: now,
                jti: jti.clone(),
                client_id: grant.client.client_id.clone(),
                scope: grant.scope.to_string(),
                auth_time: auth.map(|a| a.auth_time),
                acr: auth.map(|a| a.acr.clone()),
                amr: auth.map(|a| a.amr.clone()),
                groups: grant.groups,
                act: grant.act,
                grant_id: grant.grant_id,
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
                jti: jti.clone(),
                client_id: grant.client.client_id.clone(),
                user_id: grant.user_id,
                grant_id: grant.grant_id,
                scope: grant.scope.to_string(),
                audiences: sqlx::types::Json(grant.audience),
                groups: grant.groups.map(sqlx::types::Json),
                act: grant.act.map(sqlx::types::Json),
                auth_time: grant.authentication.map(|a| a.auth_time),
                acr: grant.authentication.map(|a| a.acr.clone()),
                amr: grant
                    .authentication
                    .map(|a| sqlx::types::Json(a.amr.clone())),
                issued_at: now,
                expires_at,
                revoked_at: None,
            };
            app.access_tokens
                .insert(row)
                .await
                .map_err(|e| match e.unavailable {
                    true => OAuthError::unavailable(),
                    false => OAuthError::server_error(&e),
                })?;
            token.expose().to_owned()
        }
    };
    Ok(IssuedAccessToken {
        token,
        jti,
        format,
        expires_at,
        lifetime,
    })
}

/// The §5.1 response for an access token (refresh and ID tokens added by the
/// grants that issue them).
pub fn token_response(access: IssuedAccessToken, scope: &Scopes) -> TokenResponse {
    TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.lifetime,
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        refresh_token: None,
        id_token: None,
        issued_token_type: None,
    }
}

/// Everything a user's grant (code or refresh) issues: an access token, a
/// refresh token when the client may refresh, and an ID token for `openid`.
pub struct UserGrant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    /// The scope of this access (and ID) token.
    pub scope: &'a Scopes,
    /// The scope the grant's refresh token carries (RFC 6749 §6: a refresh
    /// never narrows it).
    pub refresh_scope: &'a Scopes,
    /// The audience of this access token…
    pub audience: Vec<String>,
    /// …and the one the grant's refresh token keeps (RFC 8707 §2.2: a
    /// refresh may narrow the former, never the latter).
    pub refresh_audience: Vec<String>,
    pub authentication: &'a Authentication,
    pub grant_id: Uuid,
    /// The refresh token this grant replaces, if any.
    pub parent: Option<Parent>,
    /// `offline_access` was granted: the refresh token outlives the session.
    pub offline: bool,
    pub nonce: Option<&'a str>,
    pub access_jti: Option<String>,
    /// It stands on the user's stored consent (a third-party app's code),
    /// so a withdrawal that came meanwhile ends it. A device approval is a
    /// consent of its own; a refresh continues a grant a withdrawal revokes.
    pub rests_on_consent: bool,
}

/// The refresh token a refresh replaces (by its hash).
#[derive(Debug, Clone)]
pub enum Parent {
    /// Unused when checked: rotated into the new one as the last write, in
    /// one transaction with it.
    Rotate(Vec<u8>),
    /// Rotated already, and used again within the reuse leeway: the new one
    /// is added beside the first successor.
    Retry(Vec<u8>),
}

impl Parent {
    fn hash(&self) -> &[u8] {
        match self {
            Parent::Rotate(hash) | Parent::Retry(hash) => hash,
        }
    }
}

/// Why a user's tokens were not issued.
#[derive(Debug)]
pub enum IssueError {
    Refused(OAuthError),
    /// `Parent::Rotate`'s token was used, revoked or expired by another
    /// request since it was checked; none of the new tokens is handed out.
    RotationLost,
}

impl From<OAuthError> for IssueError {
    fn from(e: OAuthError) -> IssueError {
        IssueError::Refused(e)
    }
}

impl From<sqlx::Error> for IssueError {
    fn from(e: sqlx::Error) -> IssueError {
        IssueError::Refused(e.into())
    }
}

impl From<IssueError> for OAuthError {
    fn from(e: IssueError) -> OAuthError {
        match e {
            IssueError::Refused(e) => e,
            IssueError::RotationLost => {
                OAuthError::invalid_grant("the refresh token has already been used")
            }
        }
    }
}

/// Issues what `grant` gives; the refresh token last, so that a refresh's
/// rotation commits only once everything else of the answer exists.
pub async fn issue_user_tokens(
    app: &App,
    grant: UserGrant<'_>,
    now: i64,
) -> Result<TokenResponse, IssueError> {
    // Recorded before any token of it exists: its tokens live with it.
    let recorded = store::grants::Grant {
        grant_id: grant.grant_id,
        user_id: grant.user.id,
        client_id: grant.client.client_id.clone(),
        sid: (!grant.offline).then(|| grant.authentication.sid.clone()),
        created_at: now,
    };
    if grant.parent.is_some() {
        // A refresh continues a recorded grant, whose session it has just
        // kept alive (by writing the row, as `still_active` would); a
        // logout revokes the grant. Its session row briefly missing (a
        // re-login re-keys it) must not end the grant for good.
        store::grants::insert(&app.db, &recorded).await?;
    } else {
        if let Some(why) = record_grant(app, &recorded, grant.rests_on_consent, now).await? {
            return Err(OAuthError::invalid_grant(why).into());
        }
    }
    let user_claims = claims::for_scope(&app.db, grant.user, grant.scope).await?;
    let access = issue_access_token(
        app,
        AccessGrant {
            client: grant.client,
            subject: grant.user.id.to_string(),
            user_id: Some(grant.user.id),
            grant_id: Some(grant.grant_id),
            scope: grant.scope,
            audience: grant.audience.clone(),
            authentication: Some(grant.authentication),
            groups: user_claims.groups.clone(),
            jti: grant.access_jti.clone(),
            act: None,
            not_after: None,
        },
        now,
    )
    .await?;
    let id_token = if grant.scope.contains("openid") {
        let claims = IdClaims {
            iss: app.config.issuer.as_str(),
            sub: grant.user.id.to_string(),
            aud: &grant.client.client_id,
            azp: &grant.client.client_id,
            exp: now + app.config.id_token_ttl,
            iat: now,
            auth_time: grant.authentication.auth_time,
            nonce: grant.nonce,
            acr: &grant.authentication.acr,
            amr: &grant.authentication.amr,
            at_hash: Some(id_token::at_hash(&access.token)),
            sid: Some(&grant.authentication.sid),
            user: user_claims,
        };
        Some(id_token::mint(&app.keys.get(), &claims).map_err(|e| OAuthError::server_error(&e))?)
    } else {
        None
    };
    let refresh_token = if grant.client.allows_grant(GrantType::RefreshToken) {
        Some(issue_refresh_token(app, &grant, now).await?)
    } else {
        None
    };
    let mut response = token_response(access, grant.scope);
    response.refresh_token = refresh_token;
    response.id_token = id_token;
    Ok(response)
}

/// Records a grant, and keeps it only if what it rests on still holds once
/// it is recorded: its session, when it is bound to one (a logout between
/// the code and its redemption ended it), and the user's consent when it
/// `rests_on_consent` (withdrawn meanwhile). Whatever ends either revokes the
/// grants it finds after it has ended it, so one recorded before this
/// check passes is found. `Some(why)` when the grant was revoked at once:
/// the caller answers with the error its grant type calls for.
pub async fn record_grant(
    app: &App,
    grant: &store::grants::Grant,
    rests_on_consent: bool,
    now: i64,
) -> Result<Option<&'static str>, OAuthError> {
    store::grants::insert(&app.db, grant).await?;
    let session_ended = match &grant.sid {
        Some(sid) => !store::sessions::still_active(&app.db, sid, now).await?,
        None => false,
    };
    let consent_withdrawn = rests_on_consent
        && store::consents::get(&app.db, grant.user_id, &grant.client_id)
            .await?
            .is_none();
    if !session_ended && !consent_withdrawn {
        return Ok(None);
    }
    crate::service::tokens::revoke_grant(app, grant.grant_id, now).await?;
    Ok(Some(if session_ended {
        "the session this grant belongs to has ended"
    } else {
        "the user no longer consents to this client"
    }))
}

async fn issue_refresh_token(
    app: &App,
    grant: &UserGrant<'_>,
    now: i64,
) -> Result<String, IssueError> {
    let (token, hash) = tokens::random_secret();
    let auth = grant.authentication;
    let row = RefreshToken {
        token_hash: hash,
        family_id: grant.grant_id,
        parent_hash: grant.parent.as_ref().map(|p| p.hash().to_vec()),
        client_id: grant.client.client_id.clone(),
        user_id: Some(grant.user.id),
        scope: grant.refresh_scope.to_string(),
        audiences: sqlx::types::Json(grant.refresh_audience.clone()),
        issued_at: now,
        expires_at: now + app.config.refresh_token_ttl,
        rotated_at: None,
        revoked_at: None,
        sid: Some(auth.sid.clone()),
        offline: grant.offline,
        auth_time: Some(auth.auth_time),
        acr: Some(auth.acr.clone()),
        amr: Some(sqlx::types::Json(auth.amr.clone())),
    };
    match &grant.parent {
        Some(Parent::Rotate(parent)) => {
            let client_id = &grant.client.client_id;
            if !store::tokens::rotate_into(&app.db, parent, client_id, &row, now).await? {
                return Err(IssueError::RotationLost);
            }
        }
        Some(Parent::Retry(_)) | None => store::tokens::insert_refresh(&app.db, &row).await?,
    }
    Ok(token.expose().to_owned())
}
