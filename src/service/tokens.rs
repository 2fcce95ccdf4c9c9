//! Tokens as the endpoints and the admin API meet them: whether a presented
//! token is active (introspection, revocation, userinfo, token exchange,
//! forward_auth, the admin API), and revoking them, which keeps this
//! instance's phantom cache in step.

use crate::notices::{Change, announce};
use crate::state::App;
use crate::store::{self, Db, tokens::AccessToken, tokens::RefreshToken};
use crate::tokens::{AccessClaims, PresentedToken, TypeHint, sha256, verify_access_jwt};

/// Revokes an opaque access token; its cached phantom goes at once, here
/// and on the other instances.
pub async fn revoke_access(app: &App, hash: &[u8], now: i64) -> Result<(), sqlx::Error> {
    store::tokens::revoke_access(&app.db, hash, now).await?;
    app.phantoms.forget(hash);
    announce(&app.db, Change::Token(hash.to_vec())).await;
    Ok(())
}

/// Revokes every token of a grant (refresh family and its access tokens);
/// cached phantoms go at once, everywhere (all of them: this is rare).
pub async fn revoke_grant(app: &App, family_id: uuid::Uuid, now: i64) -> Result<(), sqlx::Error> {
    store::tokens::revoke_grant(&app.db, family_id, now).await?;
    app.phantoms.clear();
    announce(&app.db, Change::Tokens).await;
    Ok(())
}

/// How the user of a token signed in (none for a client's own token).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SignedIn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

/// A presented token found active.
#[derive(Debug)]
pub enum ActiveToken {
    Jwt(AccessClaims),
    Opaque(AccessToken),
    Refresh(RefreshToken),
}

impl ActiveToken {
    pub fn client_id(&self) -> &str {
        match self {
            ActiveToken::Jwt(c) => &c.client_id,
            ActiveToken::Opaque(t) => &t.client_id,
            ActiveToken::Refresh(t) => &t.client_id,
        }
    }

    /// How the user signed in (`auth_time`, `acr`, `amr`), for a user's
    /// token.
    pub fn authentication(&self) -> SignedIn {
        match self {
            ActiveToken::Jwt(c) => SignedIn {
                auth_time: c.auth_time,
                acr: c.acr.clone(),
                amr: c.amr.clone(),
            },
            ActiveToken::Opaque(t) => SignedIn {
                auth_time: t.auth_time,
                acr: t.acr.clone(),
                amr: t.amr.as_ref().map(|a| a.0.clone()),
            },
            ActiveToken::Refresh(t) => SignedIn {
                auth_time: t.auth_time,
                acr: t.acr.clone(),
                amr: t.amr.as_ref().map(|a| a.0.clone()),
            },
        }
    }

    /// The user the token was issued for; `None` for a client's own token.
    pub fn user_id(&self) -> Option<uuid::Uuid> {
        match self {
            // A service token's subject is its client.
            ActiveToken::Jwt(c) if c.sub != c.client_id => uuid::Uuid::parse_str(&c.sub).ok(),
            ActiveToken::Jwt(_) => None,
            ActiveToken::Opaque(t) => t.user_id,
            ActiveToken::Refresh(t) => t.user_id,
        }
    }
}

/// Finds the token if it is one of ours and still active: not expired,
/// revoked, rotated, forged, belonging to a deleted client, or of a grant
/// that was revoked (disabling a user revokes their grants, deleting one
/// deletes them).
/// Anything else, including garbage, is `None`.
pub async fn find_active(
    app: &App,
    presented: &PresentedToken<'_>,
    now: i64,
) -> Result<Option<ActiveToken>, sqlx::Error> {
    let (db, token, hint) = (&app.db, presented.token, presented.hint);
    if token.bytes().filter(|&b| b == b'.').count() == 2 {
        let Some(claims) =
            verify_access_jwt(&app.keys.get(), app.config.issuer.as_str(), token, now)
        else {
            return Ok(None);
        };
        if app.clients.get(db, &claims.client_id).await?.is_none()
            || store::tokens::is_jti_revoked(db, &claims.jti).await?
            || !grant_allows(db, claims.grant_id, Stored::Nowhere).await?
        {
            return Ok(None);
        }
        return Ok(Some(ActiveToken::Jwt(claims)));
    }
    let hash = sha256(token.as_bytes());
    Ok(if hint == Some(TypeHint::RefreshToken) {
        match find_refresh(db, &hash, now).await? {
            Some(t) => Some(t),
            None => find_opaque(db, &hash, now).await?,
        }
    } else {
        match find_opaque(db, &hash, now).await? {
            Some(t) => Some(t),
            None => find_refresh(db, &hash, now).await?,
        }
    })
}

async fn find_opaque(db: &Db, hash: &[u8], now: i64) -> Result<Option<ActiveToken>, sqlx::Error> {
    let token = store::tokens::find_access(db, hash).await?;
    let Some(token) = token.filter(|t| t.revoked_at.is_none() && now < t.expires_at) else {
        return Ok(None);
    };
    // Its grant may have ended with a session, which revokes no token row.
    Ok(grant_allows(db, token.grant_id, Stored::Row)
        .await?
        .then_some(ActiveToken::Opaque(token)))
}

/// Whether an opaque access token is active now (its row, its grant): the
/// phantom cache's re-check.
pub async fn is_opaque_active(db: &Db, hash: &[u8], now: i64) -> Result<bool, sqlx::Error> {
    Ok(find_opaque(db, hash, now).await?.is_some())
}

/// Where a token is kept, besides its grant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// A JWT: only its grant answers for it, which must be there (a user's
    /// JWT is signed after its grant is recorded; a deleted user's grants
    /// are gone).
    Nowhere,
    /// An opaque token's own row, revoked and deleted with its user: a
    /// grant row that was never written (the token came from an instance
    /// that did not record grants yet) does not end it.
    Row,
}

/// A token without a grant (a client's own, or one issued before grants
/// were recorded) answers for itself; one with a grant lives with it.
async fn grant_allows(
    db: &Db,
    grant_id: Option<uuid::Uuid>,
    stored: Stored,
) -> Result<bool, sqlx::Error> {
    let Some(id) = grant_id else {
        return Ok(true);
    };
    Ok(match store::grants::state(db, id).await? {
        store::grants::State::Live => true,
        store::grants::State::Revoked => false,
        store::grants::State::Unknown => stored == Stored::Row,
    })
}

async fn find_refresh(db: &Db, hash: &[u8], now: i64) -> Result<Option<ActiveToken>, sqlx::Error> {
    let token = store::tokens::find_refresh(db, hash).await?;
    Ok(token
        .filter(|t| t.revoked_at.is_none() && t.rotated_at.is_none() && now < t.expires_at)
        .map(ActiveToken::Refresh))
}
