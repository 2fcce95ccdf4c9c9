//! APIs (resource servers, RFC 8707) as operators change them (`monban
//! api`, `monban apply`): each change checked by the one rule
//! (`apis::validate`) and audited. Running servers see a change within the
//! API cache's `apis::TTL`.

use super::{Operator, Outcome, Refused};
use crate::audit::Kind;
use crate::store::{self, Db, apis::Api};

/// Every API, in identifier order.
pub async fn all(db: &Db) -> Outcome<Vec<Api>> {
    Ok(store::apis::all(db).await?)
}

/// The API `identifier`.
pub async fn find(db: &Db, identifier: &str) -> Outcome<Api> {
    all(db)
        .await?
        .into_iter()
        .find(|a| a.identifier == identifier)
        .ok_or_else(|| no_such(identifier))
}

/// Registers `api`.
pub async fn create(op: &Operator<'_>, api: &Api, now: i64) -> Outcome<()> {
    crate::apis::validate(api)?;
    store::apis::insert(op.db(), api)
        .await
        .map_err(|e| Refused::taken(e, format!("an API {:?} already exists", api.identifier)))?;
    op.log(op.event(Kind::ApiCreated).detail(described(api)), now)
        .await;
    Ok(())
}

/// Gives the API `api.identifier` the settings of `api`.
pub async fn update(op: &Operator<'_>, api: &Api, now: i64) -> Outcome<()> {
    crate::apis::validate(api)?;
    if !store::apis::update(op.db(), api).await? {
        return Err(no_such(&api.identifier));
    }
    op.log(op.event(Kind::ApiUpdated).detail(described(api)), now)
        .await;
    Ok(())
}

/// Deletes an API (tokens already issued for it stay valid until they
/// expire).
pub async fn delete(op: &Operator<'_>, identifier: &str, now: i64) -> Outcome<()> {
    if !store::apis::delete(op.db(), identifier).await? {
        return Err(no_such(identifier));
    }
    let detail = serde_json::json!({"identifier": identifier});
    op.log(op.event(Kind::ApiDeleted).detail(detail), now).await;
    Ok(())
}

/// Its settings as the audit log keeps them.
fn described(api: &Api) -> serde_json::Value {
    serde_json::to_value(api).unwrap_or_default()
}

fn no_such(identifier: &str) -> Refused {
    Refused::NotFound(format!("no API {identifier:?}"))
}
