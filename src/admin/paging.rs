//! Cursor paging: a page of items in a stable order and an opaque cursor
//! that continues after the last one (no offsets: inserts and deletes
//! between pages neither skip nor repeat items).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::AdminError;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<i64, AdminError> {
        match self.limit.as_deref().map(str::parse::<i64>) {
            None => Ok(DEFAULT_LIMIT),
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(AdminError::invalid(
                "limit",
                "limit must be a number from 1 to 200",
            )),
        }
    }

    /// The key the page starts after.
    pub fn after(&self) -> Result<Option<String>, AdminError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(Some)
            .ok_or_else(|| AdminError::invalid("cursor", "not a cursor of this API"))
    }
}

/// A page of items; `next_cursor` is absent on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` was fetched with `limit + 1`: the extra row only says that
    /// there is more, after the key of the last item kept.
    pub fn of(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more
            .then(|| rows.last().map(|last| URL_SAFE_NO_PAD.encode(key(last))))
            .flatten();
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}
