//! Client credentials grant, RFC 6749 §4.4: a confidential client gets an
//! access token for itself.

use crate::error::OAuthError;
use crate::form::Params;
use crate::state::App;
use crate::store::clients::Client;
use crate::types::{ClientType, GrantType, Scopes};

use super::{AccessGrant, TokenResponse, issue_access_token, requested_scope, token_response};

pub async fn exchange(
    app: &App,
    client: &Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    // §4.4: "The client credentials grant type MUST only be used by
    // confidential clients."
    if client.client_type != ClientType::Confidential {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use client_credentials",
        ));
    }
    let (allowed_scopes, allowed_audiences) = without_a_user(client)?;
    let resources: Vec<&str> = params.all("resource").collect();
    let apis = app.apis.for_resources(&app.db, &resources).await?;
    let target = crate::apis::target(
        &resources,
        &allowed_audiences,
        &app.config.default_audience,
        &apis,
    )
    .map_err(OAuthError::invalid_target)?;
    let scope = target
        .scope(
            requested_scope(params, &allowed_scopes)?,
            params.one("scope")?.is_some(),
        )
        .map_err(OAuthError::invalid_scope)?;
    let audience = target.audience;
    // §4.4.3: "A refresh token SHOULD NOT be included."
    let access = issue_access_token(
        app,
        AccessGrant {
            client,
            subject: client.client_id.clone(),
            user_id: None,
            grant_id: None,
            scope: &scope,
            audience,
            authentication: None,
            // A service client's groups, which the operator assigned (there
            // is no user whose consent the `groups` scope would stand for).
            groups: (!client.groups.is_empty()).then(|| client.groups.clone()),
            jti: None,
            act: None,
            not_after: None,
        },
        now,
    )
    .await?;
    Ok(token_response(access, &scope))
}

/// The scopes and audiences the client may have with no user to consent:
/// its own — within its service limit, for a client that registered itself
/// (what its initial access token granted, and nothing else).
fn without_a_user(client: &Client) -> Result<(Scopes, Vec<String>), OAuthError> {
    let Some(limit) = &client.service_limit else {
        return Ok((client.scopes.clone(), client.audiences.clone()));
    };
    if limit.audiences.is_empty() {
        return Err(OAuthError::unauthorized_client(
            "this client was registered without APIs for client_credentials",
        ));
    }
    let scopes = Scopes::from_tokens(client.scopes.iter().filter(|s| limit.scopes.contains(s)))
        .map_err(|e| OAuthError::server_error(&e))?;
    // An operator may narrow the audiences further, never widen them.
    let audiences = if client.audiences.is_empty() {
        limit.audiences.clone()
    } else {
        client
            .audiences
            .iter()
            .filter(|a| limit.audiences.contains(a))
            .cloned()
            .collect()
    };
    if audiences.is_empty() {
        return Err(OAuthError::unauthorized_client(
            "this client has no API left for client_credentials",
        ));
    }
    Ok((scopes, audiences))
}
