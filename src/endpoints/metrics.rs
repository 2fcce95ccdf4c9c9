//! `GET /metrics` (or on `MONBAN_METRICS_LISTEN`): Prometheus text format
//! 0.0.4, with the gauges read at each scrape.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::App;

pub async fn handler(State(app): State<Arc<App>>) -> Response {
    let body = app.metrics.render(&app.db, &app.keys.get()).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
