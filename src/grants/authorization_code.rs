//! Authorization code grant, RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and
//! OpenID Connect (Core §3.1.3): a code becomes tokens once, for the client
//! and redirect URI it was issued to.

use subtle::ConstantTimeEq;

use crate::audit::{self, Event, Kind};
use crate::error::OAuthError;
use crate::form::Params;
use crate::pkce;
use crate::state::App;
use crate::store::{self, clients::Client, codes::Code};
use crate::tokens::sha256;
use crate::types::{ClientType, GrantType, Scopes};

use super::{Authentication, TokenResponse, UserGrant, issue_user_tokens, narrowed_audience};

pub async fn exchange(
    app: &App,
    client: &Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let code = params.required("code")?;
    let redirect_uri = params.one("redirect_uri")?;
    let verifier = params.one("code_verifier")?;
    redeem(app, client, code, redirect_uri, verifier, Some(params), now).await
}

/// Redeems a code (also used in-process by the account page, itself a
/// client of monban).
pub async fn redeem(
    app: &App,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    params: Option<&Params>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the authorization code grant",
        ));
    }
    let hash = sha256(code.as_bytes());
    // The request is checked against the code before the code is spent: a
    // wrong redirect_uri or verifier must not use it up (the client's own
    // redemption would then look like a replay).
    let Some(found) = store::codes::find(&app.db, &hash).await? else {
        return Err(OAuthError::invalid_grant("unknown authorization code"));
    };
    // §4.1.3: "ensure that the authorization code was issued to the
    // authenticated confidential client, or if the client is public, ensure
    // that the code was issued to "client_id" in the request". Another
    // client's attempt changes nothing, spent code or not.
    if found.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if found.used_at.is_some() {
        return Err(replayed(app, client, &found, verifier, now).await?);
    }
    if found.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    // §4.1.3: redirect_uri "REQUIRED, if the "redirect_uri" parameter was
    // included in the authorization request ... their values MUST be identical".
    if redirect_uri != Some(found.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    check_pkce(&found, verifier)?;
    // RFC 8707 §2.2: a `resource` outside the grant is refused, before the
    // code is spent.
    let audience = match params {
        Some(params) => narrowed_audience(params, &found.audiences.0)?,
        None => found.audiences.0.clone(),
    };
    // One conditional UPDATE: of concurrent redemptions, exactly one wins;
    // the others, which passed the same checks, are replays.
    let Some(code) = store::codes::take(&app.db, &hash, &client.client_id, now).await? else {
        return Err(replayed(app, client, &found, verifier, now).await?);
    };
    let Some(user) = store::users::find_by_id(&app.db, code.user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Err(OAuthError::invalid_grant("the user can no longer sign in"));
    };
    let scope = Scopes::parse(&code.scope).map_err(|e| OAuthError::server_error(&e))?;
    let authentication = Authentication {
        auth_time: code.auth_time,
        acr: code.acr.clone(),
        amr: code.amr.0.clone(),
        sid: code.sid.clone(),
    };
    let response = issue_user_tokens(
        app,
        UserGrant {
            client,
            user: &user,
            scope: &scope,
            refresh_scope: &scope,
            audience,
            refresh_audience: code.audiences.0.clone(),
            authentication: &authentication,
            grant_id: code.grant_id,
            parent: None,
            offline: code.offline,
            nonce: code.nonce.as_deref(),
            // Decided with the code, so that a replay can revoke the JWT.
            access_jti: Some(code.access_jti.clone()),
            rests_on_consent: !client.first_party,
        },
        now,
    )
    .await?;
    // A replay of the code while these were being issued could not revoke
    // them yet: it marked the code, so they are revoked now.
    if store::codes::is_revoked(&app.db, &code.code_hash).await? {
        crate::service::tokens::revoke_grant(app, code.grant_id, now).await?;
        return Err(OAuthError::invalid_grant(
            "the authorization code has already been used",
        ));
    }
    Ok(response)
}

/// A code used before, presented again by its own client. RFC 6749 §4.1.2:
/// "If an authorization code is used more than once, the authorization
/// server MUST deny the request and SHOULD revoke (when possible) all tokens
/// previously issued based on that authorization code." Revoked only when
/// the request proves it holds what redeeming needs — a confidential
/// client's credentials, or a public client's PKCE verifier — so that a
/// spent code that leaked (a URL in a log, a Referer) does not let a
/// stranger revoke its owner's grant.
async fn replayed(
    app: &App,
    client: &Client,
    code: &Code,
    verifier: Option<&str>,
    now: i64,
) -> Result<OAuthError, OAuthError> {
    let used = || OAuthError::invalid_grant("the authorization code has already been used");
    let proven =
        client.client_type == ClientType::Confidential || check_pkce(code, verifier).is_ok();
    if !proven {
        return Ok(used());
    }
    tracing::warn!(client_id = %code.client_id, "authorization code used twice: revoking the tokens issued from it");
    store::codes::revoke(&app.db, &code.code_hash, now).await?;
    crate::service::tokens::revoke_grant(app, code.grant_id, now).await?;
    let event = Event::new(Kind::AuthorizationCodeReused)
        .client(&code.client_id)
        .user(code.user_id)
        .detail(serde_json::json!({"grant_id": code.grant_id}));
    audit::record(&app.db, event, now).await;
    // The JWT issued at the first use lives until then + its lifetime (its
    // APIs' when the code names some).
    let apis = app.apis.current(&app.db).await?;
    let lifetime = crate::apis::token_settings(&code.audiences.0, &apis)
        .1
        .unwrap_or(app.config.access_token_ttl);
    let until = code.used_at.unwrap_or(now) + lifetime;
    store::tokens::revoke_jti(&app.db, &code.access_jti, &code.client_id, until).await?;
    Ok(used())
}

/// RFC 7636 §4.6, and RFC 9700 §2.1.1: a verifier for a code issued without
/// a challenge is a downgrade attempt and refused.
fn check_pkce(code: &Code, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (&code.code_challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent for a code issued without code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        (Some(challenge), Some(verifier)) => {
            if !pkce::is_valid_verifier(verifier) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier must be 43 to 128 unreserved characters",
                ));
            }
            let computed = pkce::s256(verifier);
            if bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match code_challenge",
                ))
            }
        }
    }
}
