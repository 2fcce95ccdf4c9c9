//! Groups as operators change them: named sets of users and service
//! clients, which become the `groups` claim.

use serde_json::json;
use uuid::Uuid;

use super::{Operator, Outcome, Refused};
use crate::audit::{Actor, Kind};
use crate::store::groups::Group;
use crate::store::{self, Db};
use crate::types::{ADMIN_GROUP, is_group_name};

/// Every group, with its member count, by name.
pub async fn list(db: &Db) -> Outcome<Vec<Group>> {
    Ok(store::groups::list(db).await?)
}

/// Who is in a group.
pub struct Members {
    /// Users, as (id, username).
    pub users: Vec<(Uuid, String)>,
    /// Service clients, by client_id.
    pub clients: Vec<String>,
}

/// The members of the group `name`.
pub async fn members(db: &Db, name: &str) -> Outcome<Members> {
    if !list(db).await?.iter().any(|g| g.name == name) {
        return Err(no_such(name));
    }
    Ok(Members {
        users: store::groups::users_in(db, name).await?,
        clients: store::groups::clients_in(db, name).await?,
    })
}

pub const NAME_RULE: &str = "1 to 64 characters of letters, digits and . _ - :";

/// Creates the group `name`.
pub async fn create(op: &Operator<'_>, name: &str, now: i64) -> Outcome<()> {
    if !is_group_name(name) {
        return Err(Refused::invalid("name", NAME_RULE));
    }
    store::groups::insert(op.db(), name, now)
        .await
        .map_err(|e| Refused::taken(e, format!("group {name:?} already exists")))?;
    op.log(
        op.event(Kind::GroupCreated).detail(json!({"group": name})),
        now,
    )
    .await;
    Ok(())
}

/// Makes sure the group `name` exists (`monban apply`); whether it was
/// created.
pub async fn ensure(op: &Operator<'_>, name: &str, now: i64) -> Outcome<bool> {
    if !is_group_name(name) {
        return Err(Refused::invalid("name", NAME_RULE));
    }
    let created = store::groups::ensure(op.db(), name, now).await?;
    if created {
        let event = op.event(Kind::GroupCreated).detail(json!({"group": name}));
        op.log(event, now).await;
    }
    Ok(created)
}

/// Deletes the group `name`; its memberships go with it. The admin group
/// only from the command line: from the API or the pages it would lock
/// every person out of them at once.
pub async fn delete(op: &Operator<'_>, name: &str, now: i64) -> Outcome<()> {
    if name == ADMIN_GROUP && op.actor != Actor::Cli {
        return Err(Refused::Conflict(format!(
            "the {ADMIN_GROUP} group cannot be deleted here: it would lock every admin out \
             (monban group delete {ADMIN_GROUP} can)"
        )));
    }
    let clients = store::groups::clients_in(op.db(), name).await?;
    if !store::groups::delete(op.db(), name).await? {
        return Err(no_such(name));
    }
    // Its service clients' tokens stop carrying it here at once.
    for client_id in &clients {
        op.reload_client(client_id).await?;
    }
    op.log(
        op.event(Kind::GroupDeleted).detail(json!({"group": name})),
        now,
    )
    .await;
    Ok(())
}

/// Whether the members of the group `name` must sign in with a second
/// factor (those without one set one up at their next sign-in).
pub async fn set_require_mfa(
    op: &Operator<'_>,
    name: &str,
    require: bool,
    now: i64,
) -> Outcome<()> {
    if !store::groups::set_require_mfa(op.db(), name, require).await? {
        return Err(no_such(name));
    }
    let detail = json!({"group": name, "require_mfa": require});
    op.log(op.event(Kind::GroupUpdated).detail(detail), now)
        .await;
    Ok(())
}

/// Refuses a list that names a group that does not exist.
pub async fn all_exist(db: &Db, groups: &[String]) -> Outcome<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let existing = store::groups::list(db).await?;
    match groups
        .iter()
        .find(|g| !existing.iter().any(|e| &e.name == *g))
    {
        Some(missing) => Err(Refused::invalid(
            "groups",
            format!("no group named {missing:?}"),
        )),
        None => Ok(()),
    }
}

pub fn no_such(group: &str) -> Refused {
    Refused::NotFound(format!("no group named {group:?}"))
}
