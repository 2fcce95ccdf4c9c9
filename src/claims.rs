//! Claims about a user, released by scope (OIDC Core §5.4): `profile` gives
//! `name`, `preferred_username` and `updated_at`; `email` gives `email` and
//! `email_verified`; `groups` gives `groups`. Used by ID tokens and userinfo.

use serde::Serialize;

use crate::store::{self, Db, users::User};
use crate::types::Scopes;

#[derive(Debug, Clone, Default, Serialize)]
pub struct UserClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

pub async fn for_scope(db: &Db, user: &User, scope: &Scopes) -> Result<UserClaims, sqlx::Error> {
    let mut claims = UserClaims::default();
    if scope.contains("profile") {
        claims.name = user.name.clone();
        claims.preferred_username = Some(user.username.clone());
        claims.updated_at = Some(user.updated_at);
    }
    if scope.contains("email")
        && let Some(email) = &user.email
    {
        claims.email = Some(email.clone());
        claims.email_verified = Some(user.email_verified);
    }
    if scope.contains("groups") {
        claims.groups = Some(store::groups::of_user(db, user.id).await?);
    }
    Ok(claims)
}
