//! Device access token request, RFC 8628 §3.4–3.5: the device polls with
//! its device code until the user has answered on `/device`.

use uuid::Uuid;

use crate::error::{ErrorCode, OAuthError};
use crate::form::Params;
use crate::state::App;
use crate::store::{self, clients::Client};
use crate::tokens::sha256;
use crate::types::{DeviceStatus, GrantType, Scopes};

use super::{Authentication, TokenResponse, UserGrant, issue_user_tokens};

/// §3.5: a device that polls too fast waits this much longer from then on.
const SLOW_DOWN_STEP: i64 = 5;

pub async fn exchange(
    app: &App,
    client: &Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the device authorization grant",
        ));
    }
    let hash = sha256(params.required("device_code")?.as_bytes());
    let Some(request) = store::devices::find(&app.db, &hash, &client.client_id).await? else {
        return Err(OAuthError::invalid_grant("unknown device_code"));
    };
    if request.expires_at <= now {
        return Err(OAuthError::with_code(
            ErrorCode::ExpiredToken,
            "the device code has expired; start again",
        ));
    }
    match request.status {
        DeviceStatus::Pending => {
            let too_soon = request
                .polled_at
                .is_some_and(|at| now - at < request.poll_interval);
            let interval = request.poll_interval + if too_soon { SLOW_DOWN_STEP } else { 0 };
            store::devices::polled(&app.db, &hash, now, interval).await?;
            Err(if too_soon {
                OAuthError::with_code(
                    ErrorCode::SlowDown,
                    format!("poll at most every {interval} seconds"),
                )
            } else {
                OAuthError::with_code(
                    ErrorCode::AuthorizationPending,
                    "the user has not answered yet",
                )
            })
        }
        DeviceStatus::Denied => {
            store::devices::take(&app.db, &hash, DeviceStatus::Denied).await?;
            Err(OAuthError::with_code(
                ErrorCode::AccessDenied,
                "the user denied the request",
            ))
        }
        DeviceStatus::Approved => {
            // Redeemed once: a second poll finds nothing.
            if !store::devices::take(&app.db, &hash, DeviceStatus::Approved).await? {
                return Err(OAuthError::invalid_grant("unknown device_code"));
            }
            let user = match request.user_id {
                Some(id) => store::users::find_by_id(&app.db, id)
                    .await?
                    .filter(|u| !u.disabled),
                None => None,
            };
            let Some(user) = user else {
                return Err(OAuthError::invalid_grant("the user can no longer sign in"));
            };
            let scope = Scopes::parse(&request.scope).map_err(|e| OAuthError::server_error(&e))?;
            let authentication = Authentication {
                auth_time: request.auth_time.unwrap_or(now),
                acr: request.acr.clone().unwrap_or_default(),
                amr: request.amr.map(|a| a.0).unwrap_or_default(),
                sid: request.sid.clone().unwrap_or_default(),
            };
            issue_user_tokens(
                app,
                UserGrant {
                    client,
                    user: &user,
                    scope: &scope,
                    refresh_scope: &scope,
                    audience: request.audiences.0.clone(),
                    refresh_audience: request.audiences.0,
                    authentication: &authentication,
                    grant_id: Uuid::now_v7(),
                    parent: None,
                    // The device has its own session: its refresh token is
                    // not bound to the browser session that approved it.
                    offline: true,
                    nonce: None,
                    access_jti: None,
                    rests_on_consent: false,
                },
                now,
            )
            .await
            .map_err(OAuthError::from)
        }
    }
}
