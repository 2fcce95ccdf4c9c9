//! Token introspection, RFC 7662: tells an authenticated confidential client
//! (a resource server or gateway) whether a token is active and what it
//! carries. Anything not active — expired, revoked, unknown, forged,
//! garbage — is just `{"active": false}` (§2.2).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use uuid::Uuid;

use super::no_store;
use crate::app::App;
use crate::client_auth;
use crate::error::OAuthError;
use crate::form::OAuthForm;
use crate::tokens::{self, ActiveToken, Audience, PresentedToken};
use crate::types::ClientType;

pub const PATH: &str = "/introspect";

/// RFC 7662 §2.2 response members.
#[derive(Serialize, Default)]
pub struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// The `groups` the access token carries (RFC 9068 §2.2.3.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
}

pub async fn handler(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    let presented = PresentedToken::from_params(&params)?;
    let client = client_auth::authenticate_request(&app, &headers, &params).await?;
    // §2.1: the endpoint "MUST also require some form of authorization";
    // a public client cannot authenticate, so it cannot introspect.
    if client.client_type == ClientType::Public {
        return Err(OAuthError::invalid_client(
            "public clients cannot introspect tokens",
        ));
    }
    let issuer = app.config.issuer.as_str();
    let found = tokens::find_active(&app, &presented, now).await?;
    Ok(no_store(Json(describe(found, issuer))))
}

fn describe(token: Option<ActiveToken>, issuer: &str) -> Introspection {
    let iss = Some(issuer.to_owned());
    match token {
        None => Introspection::default(),
        Some(ActiveToken::Jwt(c)) => Introspection {
            active: true,
            scope: non_empty(c.scope),
            client_id: Some(c.client_id),
            token_type: Some("Bearer"),
            exp: Some(c.exp),
            iat: Some(c.iat),
            nbf: Some(c.nbf),
            sub: Some(c.sub),
            aud: Some(c.aud),
            iss,
            jti: Some(c.jti),
            groups: c.groups,
        },
        Some(ActiveToken::Opaque(t)) => Introspection {
            token_type: Some("Bearer"),
            nbf: Some(t.issued_at),
            aud: Some(Audience::from_list(t.audiences.0)),
            jti: Some(t.jti),
            groups: t.groups.map(|g| g.0),
            ..stored(
                t.scope,
                t.client_id,
                t.user_id,
                t.issued_at,
                t.expires_at,
                iss,
            )
        },
        Some(ActiveToken::Refresh(t)) => Introspection {
            token_type: Some("refresh_token"),
            ..stored(
                t.scope,
                t.client_id,
                t.user_id,
                t.issued_at,
                t.expires_at,
                iss,
            )
        },
    }
}

/// What every stored (opaque or refresh) token tells: its subject is the
/// user, or the client itself when no user took part.
fn stored(
    scope: String,
    client_id: String,
    user_id: Option<Uuid>,
    iat: i64,
    exp: i64,
    iss: Option<String>,
) -> Introspection {
    Introspection {
        active: true,
        scope: non_empty(scope),
        sub: Some(user_id.map_or_else(|| client_id.clone(), |u| u.to_string())),
        client_id: Some(client_id),
        exp: Some(exp),
        iat: Some(iat),
        iss,
        ..Introspection::default()
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}
