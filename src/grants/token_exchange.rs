//! Token exchange, RFC 8693: a client trades a token it was given (a user's
//! access token, or its own ID token) for an access token to another
//! audience, acting for that token's user. The new token names who acts in
//! its `act` claim (§4.1), never widens the scope (beyond the subject
//! token's, the client's or the target APIs'), belongs to the same grant (so
//! it is revoked with it), and never outlives the token it came from.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::authorization::client_may_request;
use crate::error::OAuthError;
use crate::form::Params;
use crate::service::tokens::{self, ActiveToken};
use crate::state::App;
use crate::store::{self, clients::Client};
use crate::tokens::{PresentedToken, TypeHint};
use crate::types::{ClientType, GrantType, Scopes};

use super::{AccessGrant, TokenResponse, issue_access_token, token_response};

/// RFC 8693 §3 token type identifiers monban reads and issues.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// A presented token found valid and acceptable from this client.
struct Holder {
    sub: String,
    /// The user it stands for; `None` for a service's own token.
    user_id: Option<Uuid>,
    /// The grant (refresh family) it belongs to, if known.
    grant_id: Option<Uuid>,
    /// An ID token's SSO session: its exchanged token gets a grant of its
    /// own that ends with the session.
    sid: Option<String>,
    scope: Scopes,
    groups: Option<Vec<String>>,
    /// The token's own `act`, when it was exchanged before.
    act: Option<Value>,
    exp: i64,
    /// Issued to the exchanging client itself (its own access token or ID
    /// token), not handed to it by another app as the token's audience.
    own: bool,
}

pub async fn exchange(
    app: &App,
    client: &Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::TokenExchange)
        || client.client_type != ClientType::Confidential
    {
        return Err(OAuthError::unauthorized_client(
            "this client may not exchange tokens",
        ));
    }
    if let Some(requested) = params.one("requested_token_type")?
        && requested != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type '{requested}' is not supported; monban issues {ACCESS_TOKEN_TYPE}"
        )));
    }
    let subject = read(
        app,
        client,
        params.required("subject_token")?,
        params.required("subject_token_type")?,
        now,
    )
    .await?
    .and_then(|holder| match holder.user_id {
        Some(_) => Ok(holder),
        // A service acting for itself has client_credentials.
        None => Err("does not stand for a user".to_owned()),
    })
    .map_err(|why| OAuthError::invalid_request(format!("subject_token {why}")))?;
    let actor = match (params.one("actor_token")?, params.one("actor_token_type")?) {
        (Some(token), Some(kind)) => Some(
            read(app, client, token, kind, now)
                .await?
                .map_err(|why| OAuthError::invalid_request(format!("actor_token {why}")))?,
        ),
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type is required with actor_token",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type without actor_token",
            ));
        }
        (None, None) => None,
    };
    let audience = target(params, client)?;
    let refs: Vec<&str> = audience.iter().map(String::as_str).collect();
    let apis = app.apis.for_resources(&app.db, &refs).await?;
    let target =
        crate::apis::Target::for_audience(audience, &apis).map_err(OAuthError::invalid_target)?;
    let explicit = params.one("scope")?.is_some();
    let scope = target
        .scope(narrowed_scope(params, &subject.scope, client)?, explicit)
        .map_err(OAuthError::invalid_scope)?;
    // The `groups` claim comes with the `groups` scope only.
    let groups = subject.groups.filter(|_| scope.contains("groups"));
    // §4.1: the acting party (the actor token's subject, else the client
    // itself), with earlier actors nested inside.
    let actor_sub = actor.map_or_else(|| client.client_id.clone(), |a| a.sub);
    let act = match subject.act {
        Some(prior) => json!({ "sub": actor_sub, "act": prior }),
        None => json!({ "sub": actor_sub }),
    };
    // A third-party app trading a token of its own reaches only APIs the
    // user consented to it using: the exchange must not widen what the
    // consent screen showed (an ID token stands for who signed in, not for
    // access). A token another app handed it, naming it as audience, is
    // delegation the operator configured.
    if subject.own
        && !client.first_party
        && let Some(user_id) = subject.user_id
    {
        let consent = store::consents::get(&app.db, user_id, &client.client_id).await?;
        let needed = crate::consents::Needed::of(
            &scope,
            &target.audience,
            &apis,
            app.config.issuer.as_str(),
        );
        if !needed.covered_by(consent.as_ref()) {
            return Err(OAuthError::invalid_target(
                "the user has not allowed this client that API with that scope",
            ));
        }
    }
    // An ID token belongs to no grant; what it is exchanged for lives with
    // its session, recorded now that the exchange is granted.
    let grant_id = match (subject.grant_id, &subject.sid, subject.user_id) {
        (None, Some(sid), Some(user_id)) => {
            let grant = store::grants::Grant {
                grant_id: Uuid::now_v7(),
                user_id,
                client_id: client.client_id.clone(),
                sid: Some(sid.clone()),
                created_at: now,
            };
            // §2.2.2: a subject token no longer good is invalid_request.
            if let Some(why) = super::record_grant(app, &grant, !client.first_party, now).await? {
                return Err(OAuthError::invalid_request(format!("subject_token: {why}")));
            }
            Some(grant.grant_id)
        }
        (grant_id, _, _) => grant_id,
    };
    let access = issue_access_token(
        app,
        AccessGrant {
            client,
            subject: subject.sub,
            user_id: subject.user_id,
            grant_id,
            scope: &scope,
            audience: target.audience,
            authentication: None,
            groups,
            jti: None,
            act: Some(act),
            not_after: Some(subject.exp),
        },
        now,
    )
    .await?;
    // §2.2.1: no refresh token; `issued_token_type` is required.
    let mut response = token_response(access, &scope);
    response.issued_token_type = Some(ACCESS_TOKEN_TYPE);
    Ok(response)
}

/// Reads a subject or actor token of the given type. `Ok(Err(why))` when it
/// is not valid or not this client's to exchange (§2.2.2: `invalid_request`).
async fn read(
    app: &App,
    client: &Client,
    token: &str,
    token_type: &str,
    now: i64,
) -> Result<Result<Holder, String>, OAuthError> {
    match token_type {
        ACCESS_TOKEN_TYPE => read_access_token(app, client, token, now).await,
        ID_TOKEN_TYPE => read_id_token(app, client, token, now).await,
        other => Ok(Err(format!(
            "type '{other}' is not supported; use {ACCESS_TOKEN_TYPE} or {ID_TOKEN_TYPE}"
        ))),
    }
}

/// An active monban access token that was issued to this client or names it
/// in its audience: a client exchanges only the tokens meant for it.
async fn read_access_token(
    app: &App,
    client: &Client,
    token: &str,
    now: i64,
) -> Result<Result<Holder, String>, OAuthError> {
    let presented = PresentedToken {
        token,
        hint: Some(TypeHint::AccessToken),
    };
    let (holder, issued_to, audience) = match tokens::find_active(app, &presented, now).await? {
        Some(ActiveToken::Jwt(c)) => {
            // A user's token has the user's id as `sub`; a service's, its
            // client id.
            let user_id = if c.sub == c.client_id {
                None
            } else {
                match Uuid::parse_str(&c.sub) {
                    Ok(id) => Some(id),
                    Err(_) => return Ok(Err("has a subject monban does not know".into())),
                }
            };
            let holder = Holder {
                user_id,
                grant_id: c.grant_id,
                sid: None,
                scope: Scopes::parse(&c.scope).unwrap_or_default(),
                groups: c.groups,
                act: c.act,
                exp: c.exp,
                own: c.client_id == client.client_id,
                sub: c.sub,
            };
            (holder, c.client_id, c.aud.into_list())
        }
        Some(ActiveToken::Opaque(t)) => {
            let holder = Holder {
                sub: t
                    .user_id
                    .map_or_else(|| t.client_id.clone(), |u| u.to_string()),
                user_id: t.user_id,
                grant_id: t.grant_id,
                sid: None,
                scope: Scopes::parse(&t.scope).unwrap_or_default(),
                groups: t.groups.map(|g| g.0),
                act: t.act.map(|a| a.0),
                exp: t.expires_at,
                own: t.client_id == client.client_id,
            };
            (holder, t.client_id, t.audiences.0)
        }
        Some(ActiveToken::Refresh(_)) | None => {
            return Ok(Err("is not an active access token".into()));
        }
    };
    if issued_to != client.client_id && !audience.contains(&client.client_id) {
        return Ok(Err(
            "was neither issued to this client nor has it in its audience".into(),
        ));
    }
    Ok(user_is_active(app, holder).await?)
}

/// An ID token monban issued to this client, unexpired, whose SSO session is
/// still going and whose user still consents to the client (an ID token
/// outlives logout and revocation otherwise). It stands for the user's
/// identity only, so it exchanges for no scope beyond `openid`.
async fn read_id_token(
    app: &App,
    client: &Client,
    token: &str,
    now: i64,
) -> Result<Result<Holder, String>, OAuthError> {
    let issuer = app.config.issuer.as_str();
    let Some(verified) =
        crate::id_token::verify(&app.keys.get(), issuer, &client.client_id, token, now)
    else {
        return Ok(Err("is not a valid ID token issued to this client".into()));
    };
    let session_active = match &verified.sid {
        Some(sid) => store::sessions::is_active(&app.db, sid, now).await?,
        None => false,
    };
    if !session_active {
        return Ok(Err("belongs to an SSO session that has ended".into()));
    }
    let Ok(user_id) = Uuid::parse_str(&verified.sub) else {
        return Ok(Err("has a subject monban does not know".into()));
    };
    if !client.first_party
        && store::consents::get(&app.db, user_id, &client.client_id)
            .await?
            .is_none()
    {
        return Ok(Err(
            "is from a user who no longer consents to this client".into()
        ));
    }
    let holder = Holder {
        user_id: Some(user_id),
        grant_id: None,
        sid: verified.sid,
        sub: verified.sub,
        scope: Scopes::parse("openid").unwrap_or_default(),
        groups: None,
        act: None,
        exp: verified.exp,
        own: true,
    };
    Ok(user_is_active(app, holder).await?)
}

/// A token of a deleted or disabled user is worth nothing (its JWTs may
/// still verify until they expire).
async fn user_is_active(app: &App, holder: Holder) -> Result<Result<Holder, String>, sqlx::Error> {
    let Some(user_id) = holder.user_id else {
        return Ok(Ok(holder));
    };
    Ok(match store::users::find_by_id(&app.db, user_id).await? {
        Some(user) if !user.disabled => Ok(holder),
        _ => Err("belongs to a disabled or deleted user".into()),
    })
}

/// `resource` (absolute URIs, RFC 8707) and `audience` (any name, §2.1)
/// together: each one of the client's configured audiences, which are also
/// the default (§2.2.2: otherwise `invalid_target`).
fn target(params: &Params, client: &Client) -> Result<Vec<String>, OAuthError> {
    let mut audience: Vec<String> = Vec::new();
    for resource in params.all("resource") {
        if !crate::apis::is_resource_uri(resource) {
            return Err(OAuthError::invalid_target(format!(
                "resource '{resource}' must be an absolute URI without a fragment"
            )));
        }
        audience.push(resource.to_owned());
    }
    audience.extend(params.all("audience").map(str::to_owned));
    if let Some(denied) = audience.iter().find(|a| !client.audiences.contains(a)) {
        return Err(OAuthError::invalid_target(format!(
            "'{denied}' is not an audience this client may exchange tokens for"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    audience.retain(|a| seen.insert(a.clone()));
    Ok(if audience.is_empty() {
        client.audiences.clone()
    } else {
        audience
    })
}

/// The requested scope, which must lie within the subject token's (§2.1:
/// exchange never widens) and what the exchanging client may have (its
/// scopes and OpenID Connect's); without `scope`, the subject token's
/// within the client's. No refresh token is issued, so `offline_access` is
/// dropped.
fn narrowed_scope(params: &Params, held: &Scopes, client: &Client) -> Result<Scopes, OAuthError> {
    let allowed = |s: &str| s != "offline_access" && client_may_request(client, s);
    let Some(raw) = params.one("scope")? else {
        return Ok(Scopes::from_tokens(held.iter().filter(|s| allowed(s))).unwrap_or_default());
    };
    let parsed = Scopes::parse(raw).map_err(OAuthError::invalid_scope)?;
    let requested = Scopes::from_tokens(parsed.iter().filter(|s| *s != "offline_access"))
        .map_err(OAuthError::invalid_scope)?;
    if let Some(wider) = requested.not_in(held).next() {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{wider}' is not in the subject token's scope"
        )));
    }
    if let Some(denied) = requested.iter().find(|s| !allowed(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{denied}' is not allowed for this client"
        )));
    }
    Ok(requested)
}
