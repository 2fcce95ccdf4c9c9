//! Refresh token grant, RFC 6749 §6, with rotation and reuse detection
//! (RFC 9700 §4.14.2): every use returns a new refresh token; presenting a
//! rotated one again revokes the whole family, unless it comes within the
//! configured leeway of its rotation (apps that race two refreshes).

use serde_json::json;

use crate::audit::{self, Event, Kind, Origin};
use crate::authorization::client_may_request;
use crate::error::OAuthError;
use crate::form::Params;
use crate::state::App;
use crate::store::{self, clients::Client, tokens::RefreshToken};
use crate::tokens::sha256;
use crate::types::{GrantType, Scopes};

use super::{
    Authentication, IssueError, Parent, TokenResponse, UserGrant, issue_user_tokens,
    narrowed_audience,
};

pub async fn exchange(
    app: &App,
    client: &Client,
    params: &Params,
    origin: &Origin,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use refresh tokens",
        ));
    }
    let raw = params.required("refresh_token")?;
    let hash = sha256(raw.as_bytes());
    // The request is checked before anything changes: a refused request
    // must not use the token up.
    let Some(presented) = store::tokens::find_refresh(&app.db, &hash).await? else {
        return Err(OAuthError::invalid_grant("unknown refresh token"));
    };
    if presented.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let stored = Scopes::parse(&presented.scope).map_err(|e| OAuthError::server_error(&e))?;
    let apis = app.apis.current(&app.db).await?;
    let (granted, kept_audience) =
        still_allowed(app, client, &stored, &presented.audiences.0, &apis)?;
    // §6: the scope "MUST NOT include any scope not originally granted";
    // a narrower scope is for this access token only: the new refresh token
    // keeps the original one ("MUST be identical") — less what the client
    // has lost since.
    let scope = super::requested_scope(params, &granted)?;
    let (Some(user_id), Some(auth_time), Some(acr), Some(amr), Some(sid)) = (
        presented.user_id,
        presented.auth_time,
        &presented.acr,
        &presented.amr,
        &presented.sid,
    ) else {
        return Err(OAuthError::invalid_grant("refresh token without a login"));
    };
    let Some(user) = store::users::find_by_id(&app.db, user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Err(OAuthError::invalid_grant("the user can no longer sign in"));
    };
    // A refresh token without offline_access lives with its SSO session,
    // and using it keeps that session alive.
    let until = now + app.config.session_idle_ttl;
    if !presented.offline && !store::sessions::keep_alive(&app.db, sid, now, until).await? {
        return Err(OAuthError::invalid_grant(
            "the session this refresh token belongs to has ended",
        ));
    }
    // Checked before rotating: a bad `resource` must not cost the token.
    let audience = narrowed_audience(params, &kept_audience)?;
    // A token used before is a reuse (refused, its family revoked) or,
    // within the leeway, a retry that gets a fresh pair.
    let live = presented.rotated_at.is_none()
        && presented.revoked_at.is_none()
        && presented.expires_at > now;
    let mut parent = if live {
        Parent::Rotate(hash.clone())
    } else {
        reuse_or_refuse(app, &hash, client, origin, now).await?;
        Parent::Retry(hash.clone())
    };
    let authentication = Authentication {
        auth_time,
        acr: acr.clone(),
        amr: amr.0.clone(),
        sid: sid.clone(),
    };
    // The rotation is the last write, conditional and in one transaction
    // with the new refresh token: of concurrent requests exactly one
    // rotates, and a failure before it leaves the presented token usable.
    let response = loop {
        let issued = issue_user_tokens(
            app,
            UserGrant {
                client,
                user: &user,
                scope: &scope,
                refresh_scope: &granted,
                audience: audience.clone(),
                refresh_audience: kept_audience.clone(),
                authentication: &authentication,
                grant_id: presented.family_id,
                parent: Some(parent.clone()),
                offline: presented.offline,
                // OIDC Core §12.2: no nonce in ID tokens from a refresh.
                nonce: None,
                access_jti: None,
                rests_on_consent: false,
            },
            now,
        )
        .await;
        match issued {
            Ok(response) => break response,
            // Another request used it since it was checked.
            Err(IssueError::RotationLost) if matches!(parent, Parent::Rotate(_)) => {
                reuse_or_refuse(app, &hash, client, origin, now).await?;
                parent = Parent::Retry(hash.clone());
            }
            Err(e) => return Err(e.into()),
        }
    };
    // Nothing may fail after the rotation committed: the client would be
    // left with a used token and no new one. A reuse racing this one is
    // ordered against it by the rotation itself (`rotate_into` holds the
    // grant row): its revocation either came first, and this rotation was
    // lost, or comes after and revokes what this one issued (RFC 9700
    // §4.14.2).
    Ok(response)
}

/// What of the grant the client may still have: a refresh re-checks the
/// client as it is now, so scopes and audiences an operator has taken
/// away since are dropped from the new tokens — and a grant of which
/// nothing is left is refused.
fn still_allowed(
    app: &App,
    client: &Client,
    scope: &Scopes,
    audience: &[String],
    apis: &crate::apis::Apis,
) -> Result<(Scopes, Vec<String>), OAuthError> {
    let kept_scope = Scopes::from_tokens(scope.iter().filter(|s| client_may_request(client, s)))
        .map_err(|e| OAuthError::server_error(&e))?;
    let default_audience = &app.config.default_audience;
    let kept_audience: Vec<String> = audience
        .iter()
        .filter(|a| crate::apis::may_name(&client.audiences, a, default_audience, apis))
        .cloned()
        .collect();
    if kept_audience.is_empty() || (kept_scope.is_empty() && !scope.is_empty()) {
        return Err(OAuthError::invalid_grant(
            "the client is no longer allowed what this grant gave it",
        ));
    }
    Ok((kept_scope, kept_audience))
}

/// A token that could not be rotated: unknown, another client's, revoked,
/// expired, or already rotated — a reuse.
async fn reuse_or_refuse(
    app: &App,
    hash: &[u8],
    client: &Client,
    origin: &Origin,
    now: i64,
) -> Result<RefreshToken, OAuthError> {
    let Some(token) = store::tokens::find_refresh(&app.db, hash).await? else {
        return Err(OAuthError::invalid_grant("unknown refresh token"));
    };
    if token.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if token.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant(
            "the refresh token has been revoked",
        ));
    }
    if token.expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let Some(rotated_at) = token.rotated_at else {
        return Err(OAuthError::invalid_grant(
            "the refresh token cannot be used",
        ));
    };
    let leeway = app.config.refresh_reuse_leeway;
    if leeway > 0 && now - rotated_at <= leeway {
        tracing::info!(client_id = %client.client_id, "refresh token reused within the leeway: issuing a fresh pair");
        return Ok(token);
    }
    tracing::warn!(client_id = %client.client_id, "refresh token reused: revoking its family (RFC 9700 §4.14.2)");
    crate::service::tokens::revoke_grant(app, token.family_id, now).await?;
    let mut event = Event::new(Kind::RefreshTokenReused)
        .client(&client.client_id)
        .from(origin)
        .detail(json!({"grant_id": token.family_id, "rotated_at": rotated_at}));
    if let Some(user) = token.user_id {
        event = event.user(user);
    }
    audit::record(&app.db, event, now).await;
    Err(OAuthError::invalid_grant(
        "the refresh token has already been used",
    ))
}
