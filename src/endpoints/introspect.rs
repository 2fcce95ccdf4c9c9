//! Token introspection, RFC 7662: tells an authenticated confidential client
//! (a resource server or gateway) whether a token is active and what it
//! carries. Anything not active — expired, revoked, unknown, forged,
//! garbage — is just `{"active": false}` (§2.2). A caller that accepts
//! `application/token-introspection+jwt` gets the same answer signed
//! (RFC 9701), to pass on or keep as proof.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use super::no_store;

use crate::client_auth::{ClientRequest, IntrospectionEndpoint};
use crate::error::OAuthError;
use crate::service::tokens::{self, ActiveToken};
use crate::state::App;
use crate::tokens::{Audience, PresentedToken};
use crate::types::{ClientType, SigningAlg};

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
    /// RFC 8693 §4.1: the actor of an exchanged token.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<serde_json::Value>,
    /// How the user signed in (`auth_time`, `acr`, `amr`: RFC 9068 §2.2.1).
    #[serde(flatten)]
    signed_in: tokens::SignedIn,
}

pub async fn handler(
    State(app): State<Arc<App>>,
    request: ClientRequest<IntrospectionEndpoint>,
) -> Result<Response, OAuthError> {
    let now = crate::unix_now();
    let ClientRequest {
        client,
        params,
        headers,
        ..
    } = request;
    let presented = PresentedToken::from_params(&params)?;
    // §2.1: the endpoint "MUST also require some form of authorization";
    // a public client cannot authenticate, so it cannot introspect.
    if client.client_type == ClientType::Public {
        return Err(OAuthError::invalid_client(
            "public clients cannot introspect tokens",
        ));
    }
    let issuer = app.config.issuer.as_str();
    let found = tokens::find_active(&app, &presented, now).await?;
    let answer = describe(found, issuer);
    if !accepts_jwt(&headers) {
        return Ok(no_store(Json(answer)));
    }
    let signed = SignedIntrospection {
        iss: issuer,
        aud: &client.client_id,
        iat: now,
        jti: crate::tokens::new_jti(),
        token_introspection: &answer,
    };
    let jwt = app
        .keys
        .get()
        .sign(SIGNED_ALG, JWT_TYP, &signed)
        .map_err(|e| OAuthError::server_error(&e))?;
    let mut response = no_store(jwt.into_response());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JWT_MEDIA_TYPE),
    );
    Ok(response)
}

/// RFC 9701 §4: the media type a caller asks for with `Accept`.
pub const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";
/// RFC 9701 §5: the `typ` header of the signed answer.
const JWT_TYP: &str = "token-introspection+jwt";
/// RFC 9701 §6: RS256 unless a client registers another algorithm (monban
/// offers only this one, advertised in the metadata).
pub const SIGNED_ALG: SigningAlg = SigningAlg::RS256;

/// RFC 9701 §5: `iss`, `aud` (the caller), `iat` and the RFC 7662 answer in
/// `token_introspection`; no `sub` or `exp`, so that it cannot pass for an
/// access token.
#[derive(Serialize)]
struct SignedIntrospection<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    jti: String,
    token_introspection: &'a Introspection,
}

fn accepts_jwt(headers: &HeaderMap) -> bool {
    accepts_jwt_in(
        headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// Whether `Accept` values ask for the signed answer, not refused with
/// `q=0`.
pub fn accepts_jwt_in<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    values.flat_map(|v| v.split(',')).any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        // RFC 9110 §12.5.1: `q=0` means "not acceptable".
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        media.eq_ignore_ascii_case(JWT_MEDIA_TYPE) && !refused
    })
}

fn describe(token: Option<ActiveToken>, issuer: &str) -> Introspection {
    let iss = Some(issuer.to_owned());
    let signed_in = token
        .as_ref()
        .map(ActiveToken::authentication)
        .unwrap_or_default();
    let described = match token {
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
            act: c.act,
            signed_in: tokens::SignedIn::default(),
        },
        Some(ActiveToken::Opaque(t)) => Introspection {
            token_type: Some("Bearer"),
            nbf: Some(t.issued_at),
            aud: Some(Audience::from_list(t.audiences.0)),
            jti: Some(t.jti),
            groups: t.groups.map(|g| g.0),
            act: t.act.map(|a| a.0),
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
    };
    Introspection {
        signed_in,
        ..described
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
