//! Groups as operators change them: named sets of users and service
//! clients, which become the `groups` claim.

use serde_json::json;

use super::{Operator, Outcome, Refused};
use crate::audit::{Actor, Kind};
use crate::store::{self, Db};
use crate::types::{ADMIN_GROUP, is_group_name};

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
    if !store::groups::delete(op.db(), name).await? {
        return Err(no_such(name));
    }
    op.log(
        op.event(Kind::GroupDeleted).detail(json!({"group": name})),
        now,
    )
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
