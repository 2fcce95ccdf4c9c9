//! The audit log as operators search it: newest first, filtered, paged.

use uuid::Uuid;

use super::{Outcome, Refused};
use crate::audit::Kind;
use crate::paging::{Page, PageQuery};
use crate::store::Db;
use crate::store::audit::{self as store, AuditRow, Filter};

/// What to look for, as typed (each checked, and named when it is wrong).
#[derive(Default)]
pub struct Search<'a> {
    /// At or after (Unix seconds).
    pub since: Option<&'a str>,
    /// Before (Unix seconds).
    pub until: Option<&'a str>,
    /// An event type, e.g. `login.failed`.
    pub kind: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
}

pub async fn search(db: &Db, search: &Search<'_>, paging: &PageQuery) -> Outcome<Page<AuditRow>> {
    if let Some(client_id) = search.client_id
        && !crate::clients::is_client_id(client_id)
    {
        return Err(Refused::invalid(
            "client_id",
            crate::clients::CLIENT_ID_RULE,
        ));
    }
    if let Some(kind) = search.kind
        && Kind::parse(kind).is_none()
    {
        return Err(Refused::invalid(
            "type",
            format!("{kind:?} is not an event type"),
        ));
    }
    let limit = paging.limit()?;
    let before_id = paging
        .after_bytes()?
        .map(|id| Uuid::from_slice(&id))
        .transpose()
        .map_err(|_| Refused::invalid("cursor", "not a cursor of this API"))?;
    let filter = Filter {
        since: unix_time("since", search.since)?,
        until: unix_time("until", search.until)?,
        user_id: parsed("user_id", search.user_id)?,
        kind: search.kind.map(str::to_owned),
        client_id: search.client_id.map(str::to_owned),
        before_id,
    };
    let rows = store::list(db, &filter, limit + 1).await?;
    Ok(Page::of(rows, limit, |row| *row.id.as_bytes()))
}

/// A time in Unix seconds (not before 1970), named when it is not one.
fn unix_time(field: &'static str, raw: Option<&str>) -> Outcome<Option<i64>> {
    match parsed::<i64>(field, raw)? {
        Some(t) if t < 0 => Err(Refused::invalid(
            field,
            format!("{field} must be a Unix time from 0"),
        )),
        t => Ok(t),
    }
}

/// A value that must parse, named when it does not.
fn parsed<T: std::str::FromStr>(field: &'static str, raw: Option<&str>) -> Outcome<Option<T>> {
    raw.map(|v| {
        v.parse()
            .map_err(|_| Refused::invalid(field, format!("{field} is not valid: {v:?}")))
    })
    .transpose()
}
