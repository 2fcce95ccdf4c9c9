//! UserInfo endpoint, OIDC Core §5.3: the claims of the user an access token
//! was issued for, limited to its scopes. Protected per RFC 6750.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use super::no_store;

use crate::claims::{self, UserClaims};
use crate::cors::CallingClient;
use crate::error::{BearerError, bearer_token};
use crate::service::tokens::{self, ActiveToken};
use crate::state::App;
use crate::store;
use crate::tokens::{PresentedToken, TypeHint};
use crate::types::Scopes;

#[derive(Serialize)]
struct UserInfo {
    sub: String,
    /// How the user signed in for this token (`acr`, `amr`): what the ID
    /// token told, for clients that read userinfo instead.
    #[serde(flatten)]
    signed_in: tokens::SignedIn,
    #[serde(flatten)]
    claims: UserClaims,
}

/// GET and POST alike (§5.3.1).
pub async fn handler(
    State(app): State<Arc<App>>,
    Extension(calling): Extension<CallingClient>,
    headers: HeaderMap,
) -> Result<Response, BearerError> {
    let now = crate::unix_now();
    let token = bearer_token(&headers).ok_or_else(BearerError::missing)?;
    let presented = PresentedToken {
        token,
        hint: Some(TypeHint::AccessToken),
    };
    let active = tokens::find_active(&app, &presented, now).await?;
    let signed_in = active
        .as_ref()
        .map(ActiveToken::authentication)
        .unwrap_or_default();
    let (scope, user_id, client_id) = match active {
        Some(ActiveToken::Jwt(c)) => (c.scope, c.sub.parse::<uuid::Uuid>().ok(), c.client_id),
        Some(ActiveToken::Opaque(t)) => (t.scope, t.user_id, t.client_id),
        Some(ActiveToken::Refresh(_)) | None => {
            return Err(BearerError::invalid_token("the access token is not active"));
        }
    };
    if let Some((client, _)) = app.clients.get(&app.db, &client_id).await? {
        calling.set(&client);
    }
    let scope = Scopes::parse(&scope).unwrap_or_default();
    // §5.3: the access token must have been obtained with `openid`.
    if !scope.contains("openid") {
        return Err(BearerError::insufficient_scope("openid"));
    }
    let Some(user_id) = user_id else {
        return Err(BearerError::invalid_token(
            "the access token was not issued for a user",
        ));
    };
    let Some(user) = store::users::find_by_id(&app.db, user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Err(BearerError::invalid_token("the user no longer exists"));
    };
    let claims = claims::for_scope(&app.db, &user, &scope).await?;
    Ok(no_store(Json(UserInfo {
        sub: user.id.to_string(),
        signed_in: tokens::SignedIn {
            // `auth_time` stays in the ID token (OIDC Core §5.3.2 lists
            // userinfo's claims; `acr` and `amr` are asked for here).
            auth_time: None,
            ..signed_in
        },
        claims,
    })))
}
