//! JWK Set (RFC 7517 §5): the public keys that verify monban's tokens —
//! `next` keys before they sign, `active` ones, and `retired` ones until
//! their tokens expire.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::public_json;

use crate::state::App;

pub async fn handler(State(app): State<Arc<App>>) -> Response {
    public_json(app.keys.get().jwks(), app.config.jwks_max_age)
}
