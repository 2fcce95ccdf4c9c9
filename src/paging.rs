//! Cursor paging: a page of items in a stable order and an opaque cursor
//! that continues after the last one (no offsets: inserts and deletes
//! between pages neither skip nor repeat items).

use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A `limit` or `cursor` that is not one.
#[derive(Debug)]
pub struct BadPage {
    pub field: &'static str,
    pub message: &'static str,
}

/// Cursors: base64url without padding, read leniently (left-over bits of
/// the last character ignored), so that every string of the documented
/// pattern is a cursor.
const CURSOR: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$")]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<i64, BadPage> {
        match self.limit.as_deref().map(str::parse::<i64>) {
            None => Ok(DEFAULT_LIMIT),
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(BadPage {
                field: "limit",
                message: "limit must be a number from 1 to 200",
            }),
        }
    }

    /// The key the page starts after (any cursor the document's pattern
    /// admits names one: the page after it, maybe empty).
    pub fn after(&self) -> Result<Option<String>, BadPage> {
        // Text keys hold no NUL (PostgreSQL's text refuses one).
        Ok(self.after_bytes()?.map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .chars()
                .filter(|c| *c != '\0')
                .collect()
        }))
    }

    /// The key the page starts after, as bytes.
    pub fn after_bytes(&self) -> Result<Option<Vec<u8>>, BadPage> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        CURSOR.decode(cursor).map(Some).map_err(|_| BadPage {
            field: "cursor",
            message: "not a cursor of this API",
        })
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
    pub fn of<K: AsRef<[u8]>>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more
            .then(|| rows.last().map(|last| CURSOR.encode(key(last))))
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
