//! Liveness and readiness probes for orchestrators and `monban healthcheck`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::state::App;
use crate::store;

/// The process is up.
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready to serve: the database answers and an access-token key is loaded.
pub async fn ready(State(app): State<Arc<App>>) -> (StatusCode, Json<serde_json::Value>) {
    if let Err(e) = app.db.ping().await {
        if !store::outage::noticed(&e) {
            tracing::warn!(error = %e, "readiness: database unavailable");
        }
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": "database"})),
        );
    }
    store::outage::back();
    if app.keys.get().active(app.config.signing_alg).is_none() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": "signing keys"})),
        );
    }
    (StatusCode::OK, Json(json!({"status": "ready"})))
}
