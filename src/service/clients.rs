//! OAuth clients as operators change them (the CLI, the admin API, the
//! admin pages): each change is checked by the settings' one rule
//! (`ClientSettings::check`), refreshes this server's client cache (other
//! instances within 5 seconds), and is audited. A secret is returned once,
//! to the change that made it.

use serde_json::json;

use super::{Operator, Outcome, Refused};
use crate::audit::{Actor, Kind, Origin};
use crate::clients::{self, ClientSettings};
use crate::paging::{Page, PageQuery};
use crate::state::App;
use crate::store::clients::{Client, ServiceLimit};
use crate::store::groups::Membership;
use crate::store::{self, Db};
use crate::tokens;
use crate::types::{ADMIN_SCOPE, ClientOrigin, GrantType, Secret};

impl From<clients::Invalid> for Refused {
    fn from(e: clients::Invalid) -> Refused {
        Refused::invalid(e.field, e.message)
    }
}

/// A page of clients in client_id order.
pub async fn page(db: &Db, paging: &PageQuery) -> Outcome<Page<Client>> {
    let limit = paging.limit()?;
    let rows = store::clients::page(db, paging.after()?.as_deref(), limit + 1).await?;
    Ok(Page::of(rows, limit, |c| c.client_id.clone()))
}

/// The client `client_id`.
pub async fn find(db: &Db, client_id: &str) -> Outcome<Client> {
    store::clients::find(db, client_id)
        .await?
        .ok_or_else(|| Refused::NotFound(format!("no client {client_id:?}")))
}

/// A client to register.
pub struct NewClient<'a> {
    /// Chosen, or generated when `None`.
    pub client_id: Option<&'a str>,
    pub settings: ClientSettings,
    /// The groups of a service client (each must exist).
    pub groups: &'a [String],
    /// The hash of a secret the operator keeps elsewhere (`monban apply`'s
    /// reference), instead of one generated and returned.
    pub secret_hash: Option<Vec<u8>>,
}

/// Registers a client; a confidential one's secret comes back once.
pub async fn create(
    op: &Operator<'_>,
    new: NewClient<'_>,
    now: i64,
) -> Outcome<(Client, Option<Secret>)> {
    let db = op.db();
    new.settings.check()?;
    super::groups::all_exist(db, new.groups).await?;
    let (mut client, mut secret) = clients::new_client(new.settings, now);
    if let Some(id) = new.client_id {
        if !clients::is_client_id(id) {
            return Err(Refused::invalid("client_id", clients::CLIENT_ID_RULE));
        }
        // The gateway session's upstream JWTs name it: no client may be it.
        if id == crate::gateway_session::CLIENT_ID {
            return Err(Refused::invalid("client_id", "monban-gateway is reserved"));
        }
        id.clone_into(&mut client.client_id);
    }
    if let Some(hash) = new.secret_hash {
        supplied_secret(&mut client, hash)?;
        secret = None;
    }
    store::clients::insert(db, &client).await.map_err(|e| {
        Refused::taken(e, format!("a client {:?} already exists", client.client_id))
    })?;
    let event = op.event(Kind::ClientCreated).client(&client.client_id);
    op.log(event.detail(json!({"name": client.name})), now)
        .await;
    set_groups(op, &client.client_id, new.groups, now).await?;
    let client = reload(op, &client.client_id).await?;
    Ok((client, secret))
}

/// A client registering itself (RFC 7591 §3).
pub struct Registration {
    pub settings: ClientSettings,
    /// All it may get without a user: what its initial access token grants
    /// (nothing, when registration is open).
    pub limit: ServiceLimit,
    /// The hash of the initial access token it presented, which this
    /// registration spends.
    pub initial_token: Option<Vec<u8>>,
}

/// What a registration answers, once.
pub struct Registered {
    pub client: Client,
    pub secret: Option<Secret>,
    /// Its credential for RFC 7592 (only the hash is kept).
    pub registration_token: Secret,
}

/// Registers a client that asked for itself (RFC 7591): the operator of
/// the change is the new client, from where the request came.
pub async fn register(
    app: &App,
    origin: &Origin,
    registration: Registration,
    now: i64,
) -> Outcome<Registered> {
    let Registration {
        settings,
        limit,
        initial_token,
    } = registration;
    settings.check()?;
    // Tokens without a user carry only what the operator's token granted:
    // without an audience from it, there is nothing to ask for.
    if settings.grant_types.contains(&GrantType::ClientCredentials) && limit.audiences.is_empty() {
        return Err(Refused::invalid(
            "grant_types",
            "client_credentials needs an initial access token that grants APIs \
             (monban client registration-token create --audience …)",
        ));
    }
    let (mut client, secret) = clients::new_client(settings, now);
    client.origin = ClientOrigin::Registration;
    client.service_limit = Some(limit);
    let (registration_token, registration_hash) = tokens::random_secret();
    client.registration_token_hash = Some(registration_hash);
    let op = Operator::client_itself(app, &client.client_id, origin);
    if let Some(hash) = &initial_token
        && !store::registration::spend(&app.db, hash, now).await?
    {
        return Err(Refused::NotFound(
            "the initial access token is used up".into(),
        ));
    }
    store::clients::insert(&app.db, &client).await?;
    let detail = json!({
        "name": client.name,
        "initial_access_token": initial_token.is_some(),
    });
    let event = op.event(Kind::ClientCreated).client(&client.client_id);
    op.log(event.detail(detail), now).await;
    let client = reload(&op, &client.client_id).await?;
    Ok(Registered {
        client,
        secret,
        registration_token,
    })
}

/// What an update changes besides the settings.
#[derive(Default)]
pub struct Also<'a> {
    /// The client's groups, made exactly these (`None`: kept).
    pub groups: Option<&'a [String]>,
    /// What a client that registered itself may get without a user.
    pub service_limit: Option<ServiceLimit>,
    /// The hash of a secret the operator keeps elsewhere (`monban apply`).
    pub secret_hash: Option<Vec<u8>>,
}

/// Gives `client` new settings. A client that comes to need a secret gets
/// one (returned once); a client cannot take the admin scope from itself.
pub async fn update(
    op: &Operator<'_>,
    mut client: Client,
    settings: ClientSettings,
    also: Also<'_>,
    now: i64,
) -> Outcome<(Client, Option<Secret>)> {
    let db = op.db();
    settings.check()?;
    builtin(op, &client.client_id, "changed")?;
    let itself = op.actor == Actor::Client(client.client_id.clone());
    if itself && client.scopes.contains(ADMIN_SCOPE) && !settings.scopes.contains(ADMIN_SCOPE) {
        return Err(Refused::Conflict(format!(
            "a client cannot take {ADMIN_SCOPE} from itself: another admin must"
        )));
    }
    if let Some(groups) = also.groups {
        super::groups::all_exist(db, groups).await?;
    }
    if let Some(limit) = &also.service_limit {
        if client.service_limit.is_none() {
            return Err(Refused::invalid(
                "service_limit",
                "only a client that registered itself has one",
            ));
        }
        clients::check_service_limit(limit)?;
    }
    let mut changed = ClientSettings::of(&client).changed(&settings);
    let secret_replaced = also
        .secret_hash
        .as_ref()
        .is_some_and(|hash| client.secret_hash.as_ref() != Some(hash));
    if secret_replaced {
        changed.push("client_secret");
    }
    let mut secret = clients::apply(&mut client, settings, now);
    if let Some(hash) = also.secret_hash {
        supplied_secret(&mut client, hash)?;
        secret = None;
    }
    if !store::clients::update(db, &client).await? {
        return Err(gone(&client.client_id));
    }
    if let Some(limit) = &also.service_limit {
        store::clients::set_service_limit(db, &client.client_id, limit, now).await?;
    }
    if let Some(groups) = also.groups
        && set_groups(op, &client.client_id, groups, now).await?
    {
        changed.push("groups");
    }
    let client = reload(op, &client.client_id).await?;
    let event = op.event(Kind::ClientUpdated).client(&client.client_id);
    let detail = json!({"changed": changed, "new_secret": secret.is_some()});
    op.log(event.detail(detail), now).await;
    if secret_replaced {
        let rotated = op
            .event(Kind::ClientSecretRotated)
            .client(&client.client_id);
        op.log(rotated, now).await;
    }
    Ok((client, secret))
}

/// Gives `client` the secret whose hash the operator supplies.
fn supplied_secret(client: &mut Client, hash: Vec<u8>) -> Outcome<()> {
    if !client.token_endpoint_auth_method.uses_secret() {
        return Err(Refused::invalid(
            "client_secret",
            format!(
                "is given, but the client authenticates with {}",
                client.token_endpoint_auth_method
            ),
        ));
    }
    client.secret_hash = Some(hash);
    Ok(())
}

/// Deletes a client and every token issued to it. A client holding the
/// admin scope cannot delete itself (another admin must); one that
/// registered itself may (RFC 7592 §2.3), and never holds that scope.
pub async fn delete(op: &Operator<'_>, client_id: &str, now: i64) -> Outcome<()> {
    builtin(op, client_id, "deleted")?;
    if op.actor == Actor::Client(client_id.to_owned())
        && find(op.db(), client_id).await?.scopes.contains(ADMIN_SCOPE)
    {
        return Err(Refused::Conflict(
            "a client cannot delete itself: another admin must".into(),
        ));
    }
    if !store::clients::delete(op.db(), client_id).await? {
        return Err(gone(client_id));
    }
    op.reload_client(client_id).await?;
    // Its tokens went with it: this server's cached phantoms of them too.
    op.forget_phantoms().await;
    op.log(op.event(Kind::ClientDeleted).client(client_id), now)
        .await;
    Ok(())
}

/// Replaces a confidential client's secret; the old one stops working at
/// once here, within 5 seconds on other instances.
pub async fn rotate_secret(op: &Operator<'_>, client_id: &str, now: i64) -> Outcome<Secret> {
    let mut client = find(op.db(), client_id).await?;
    if !client.token_endpoint_auth_method.uses_secret() {
        return Err(Refused::Conflict(format!(
            "client {client_id} uses {} and has no secret",
            client.token_endpoint_auth_method
        )));
    }
    let secret = clients::rotate_secret(&mut client);
    client.updated_at = now;
    store::clients::update(op.db(), &client).await?;
    op.reload_client(client_id).await?;
    op.log(op.event(Kind::ClientSecretRotated).client(client_id), now)
        .await;
    Ok(secret)
}

/// Puts a service client in `group` (`adding`) or takes it out; `false`
/// when nothing changed.
pub async fn set_group(
    op: &Operator<'_>,
    client: &Client,
    group: &str,
    adding: bool,
    now: i64,
) -> Outcome<bool> {
    let db = op.db();
    let (result, kind) = if adding {
        let result = store::groups::add_client(db, &client.client_id, group).await?;
        (result, Kind::GroupMemberAdded)
    } else {
        let result = store::groups::remove_client(db, &client.client_id, group).await?;
        (result, Kind::GroupMemberRemoved)
    };
    match result {
        Membership::NoSuchGroup => Err(super::groups::no_such(group)),
        Membership::Unchanged => Ok(false),
        Membership::Changed => {
            op.reload_client(&client.client_id).await?;
            let event = op.event(kind).client(&client.client_id);
            op.log(event.detail(json!({"group": group})), now).await;
            Ok(true)
        }
    }
}

/// An initial access token to make.
pub struct RegistrationToken {
    /// What the clients it registers may get without a user.
    pub limit: ServiceLimit,
    /// How many clients it may register (`None`: unlimited).
    pub uses: Option<i64>,
    /// Seconds it lives (`None`: until revoked).
    pub expires_in: Option<i64>,
}

/// An initial access token for dynamic registration (RFC 7591 §3), shown
/// once, and when it expires.
pub async fn issue_registration_token(
    op: &Operator<'_>,
    request: &RegistrationToken,
    now: i64,
) -> Outcome<(Secret, Option<i64>)> {
    let RegistrationToken {
        limit,
        uses,
        expires_in,
    } = request;
    let uses = *uses;
    if expires_in.is_some_and(|s| !(1..=315_360_000).contains(&s)) {
        return Err(Refused::invalid("expires_in", "1 to 315360000 seconds"));
    }
    let expires_at = expires_in.map(|s| now + s);
    if uses.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
        return Err(Refused::invalid("uses", "1 to 1000000"));
    }
    clients::check_service_limit(limit)?;
    let token = clients::issue_initial_token(op.db(), limit, uses, expires_at, now).await?;
    let detail = json!({
        "expires_at": expires_at,
        "uses": uses,
        "scope": limit.scopes.to_string(),
        "audience": limit.audiences,
    });
    op.log(op.event(Kind::RegistrationTokenCreated).detail(detail), now)
        .await;
    Ok((token, expires_at))
}

/// monban's own pages sign in through the built-in account client: from
/// the API or the pages, changing or deleting it would lock every person
/// out of them (the CLI may: the next start makes it anew).
fn builtin(op: &Operator<'_>, client_id: &str, done: &str) -> Outcome<()> {
    if client_id == clients::ACCOUNT_CLIENT_ID && !matches!(op.actor, Actor::Cli | Actor::System) {
        return Err(Refused::Conflict(format!(
            "{client_id} is monban's own pages' client and cannot be {done} here"
        )));
    }
    Ok(())
}

fn gone(client_id: &str) -> Refused {
    Refused::NotFound(format!("no client {client_id:?}"))
}

/// The client as stored now, this server's cache refreshed with it.
async fn reload(op: &Operator<'_>, client_id: &str) -> Outcome<Client> {
    op.reload_client(client_id).await?;
    find(op.db(), client_id).await
}

/// Makes the client's groups exactly `groups`, each change audited;
/// whether any changed.
async fn set_groups(
    op: &Operator<'_>,
    client_id: &str,
    groups: &[String],
    now: i64,
) -> Outcome<bool> {
    let db = op.db();
    let current = store::groups::of_client(db, client_id).await?;
    let mut changes = Vec::new();
    for group in groups.iter().filter(|g| !current.contains(g)) {
        match store::groups::add_client(db, client_id, group).await? {
            Membership::NoSuchGroup => {
                return Err(Refused::invalid(
                    "groups",
                    format!("no group named {group:?}"),
                ));
            }
            Membership::Changed => changes.push((Kind::GroupMemberAdded, group)),
            Membership::Unchanged => {}
        }
    }
    for group in current.iter().filter(|g| !groups.contains(g)) {
        if store::groups::remove_client(db, client_id, group).await? == Membership::Changed {
            changes.push((Kind::GroupMemberRemoved, group));
        }
    }
    for (kind, group) in &changes {
        let event = op.event(*kind).client(client_id);
        op.log(event.detail(json!({"group": group})), now).await;
    }
    Ok(!changes.is_empty())
}
