//! `/keys`: the signing keys, and rotating them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AdminJson;
use super::auth::Admin;
use super::error::{AdminError, ErrorBody};
use crate::keys::RotateMode;
use crate::service;
use crate::state::App;

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    /// `next` (published, not signing yet), `active` or `retired`
    /// (published until its tokens expire).
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// When a retired key leaves the JWKS.
    pub published_until: Option<i64>,
}

#[utoipa::path(get, path = "/keys", tag = "keys",
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Lists the signing keys (public information only).
pub async fn list(
    _admin: Admin,
    State(app): State<Arc<App>>,
) -> Result<Json<Vec<KeyView>>, AdminError> {
    let set = service::keys::list(&app.db, &app.config).await?;
    Ok(Json(
        set.keys()
            .iter()
            .map(|k| KeyView {
                kid: k.kid.clone(),
                alg: k.alg.to_string(),
                state: k.state.to_string(),
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
                published_until: k.remove_after,
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// `safe` (default: only once the next key has been published for a
    /// JWKS max-age), `force` (at once), or `now` (a compromised key: at
    /// once, and the old key is withdrawn: its tokens stop verifying).
    #[schema(schema_with = rotate_modes)]
    pub mode: Option<String>,
}

fn rotate_modes() -> utoipa::openapi::Object {
    super::one_of_or_null(["safe", "force", "now"])
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rotated {
    pub alg: String,
    pub active_kid: String,
    pub next_kid: String,
    pub retired_kid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotateDone {
    pub rotated: Vec<Rotated>,
    /// The old keys were withdrawn (`now`).
    pub withdrawn: bool,
}

#[utoipa::path(post, path = "/keys/rotate", tag = "keys", request_body = RotateRequest,
    responses((status = 200, body = RotateDone), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["monban:admin"])))]
/// Rotates the signing keys; every instance signs with the new ones within
/// 5 seconds (this one at once).
pub async fn rotate(
    admin: Admin,
    State(app): State<Arc<App>>,
    AdminJson(request): AdminJson<RotateRequest>,
) -> Result<Json<RotateDone>, AdminError> {
    let now = crate::unix_now();
    let mode = match request.mode.as_deref() {
        None => RotateMode::Safe,
        Some(raw) => RotateMode::parse(raw).map_err(|e| AdminError::invalid("mode", e))?,
    };
    let rotations = service::keys::rotate(&admin.operator(&app), mode, now).await?;
    let withdrawn = mode == RotateMode::Withdraw;
    Ok(Json(RotateDone {
        rotated: rotations
            .into_iter()
            .map(|r| Rotated {
                alg: r.alg.to_string(),
                active_kid: r.active_kid,
                next_kid: r.next_kid,
                retired_kid: r.retired_kid,
            })
            .collect(),
        withdrawn,
    }))
}
