//! Who may call the admin API: a bearer access token of monban's own, for
//! monban (its `aud` names the issuer), with the scope `monban:admin` — a
//! service client's (client_credentials), or a person's who is in the
//! `admin` group now — from a client still allowed that scope (both
//! checked on every call, so leaving the group, being disabled or the
//! client losing the scope ends it at once).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::AdminError;
use crate::audit::{Actor, Origin};
use crate::error::bearer_token;
use crate::service::tokens::{self, ActiveToken};
use crate::state::App;
use crate::store;
use crate::tokens::{PresentedToken, TypeHint};
use crate::types::{ADMIN_GROUP, ADMIN_SCOPE, Scopes};

/// An authorised caller: who it is (for the audit log) and from where.
pub struct Admin {
    pub actor: Actor,
    pub origin: Origin,
}

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Admin, AdminError> {
        let now = crate::unix_now();
        let unauthenticated = |presented, message: &'static str| AdminError::Unauthenticated {
            presented,
            message: message.into(),
        };
        let Some(token) = bearer_token(&parts.headers) else {
            return Err(unauthenticated(false, "an access token is required"));
        };
        let presented = PresentedToken {
            token,
            hint: Some(TypeHint::AccessToken),
        };
        let (scope, subject, client_id, audience) =
            match tokens::find_active(app, &presented, now).await? {
                // A client's own token has the client as its subject; any
                // other subject must be a user.
                Some(ActiveToken::Jwt(c)) if c.sub == c.client_id => {
                    (c.scope, None, c.client_id, c.aud.into_list())
                }
                Some(ActiveToken::Jwt(c)) => match c.sub.parse() {
                    Ok(user) => (c.scope, Some(user), c.client_id, c.aud.into_list()),
                    Err(_) => {
                        return Err(unauthenticated(
                            true,
                            "the access token has no usable subject",
                        ));
                    }
                },
                Some(ActiveToken::Opaque(t)) => (t.scope, t.user_id, t.client_id, t.audiences.0),
                Some(ActiveToken::Refresh(_)) | None => {
                    return Err(unauthenticated(true, "the access token is not active"));
                }
            };
        // RFC 9068 §4: a resource server "MUST validate that the aud claim
        // contains a resource indicator value corresponding to an identifier
        // the resource server expects for itself" — here, monban's issuer;
        // a token minted for another API is no key to this one.
        if !audience.iter().any(|a| a == app.config.issuer.as_str()) {
            return Err(unauthenticated(
                true,
                "the access token is not meant for monban (its audience)",
            ));
        }
        if !Scopes::parse(&scope)
            .unwrap_or_default()
            .contains(ADMIN_SCOPE)
        {
            return Err(AdminError::Forbidden(
                format!("the access token lacks the scope {ADMIN_SCOPE}").into(),
            ));
        }
        // The client must still be allowed the scope, whoever the token is
        // for: taking it away ends the access of tokens already issued.
        let Some((client, _)) = app.clients.get(&app.db, &client_id).await? else {
            return Err(unauthenticated(true, "the client no longer exists"));
        };
        if !client.scopes.contains(ADMIN_SCOPE) {
            return Err(AdminError::Forbidden(
                format!("the client is no longer allowed {ADMIN_SCOPE}").into(),
            ));
        }
        let actor = match subject {
            None => Actor::Client(client_id),
            Some(user_id) => {
                let user = store::users::find_by_id(&app.db, user_id).await?;
                if user.is_none_or(|u| u.disabled) {
                    return Err(unauthenticated(true, "the user is disabled or gone"));
                }
                let groups = store::groups::of_user(&app.db, user_id).await?;
                if !groups.iter().any(|g| g == ADMIN_GROUP) {
                    return Err(AdminError::Forbidden(
                        format!("the user is not in the {ADMIN_GROUP} group").into(),
                    ));
                }
                Actor::User(user_id)
            }
        };
        let Ok(origin) = Origin::from_request_parts(parts, app).await;
        Ok(Admin { actor, origin })
    }
}

impl Admin {
    /// This caller as the operator of a shared operation.
    pub fn operator<'a>(&'a self, app: &'a App) -> crate::service::Operator<'a> {
        crate::service::Operator {
            actor: self.actor.clone(),
            via: crate::service::Via::AdminApi,
            origin: Some(&self.origin),
            runs_in: crate::service::RunsIn::Server(app),
        }
    }
}
