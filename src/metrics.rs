//! Prometheus metrics (`GET /metrics`, or on `MONBAN_METRICS_LISTEN`):
//! requests and their latency per route and status, tokens issued per grant
//! type, logins by outcome, rate-limit refusals, and, read at each scrape,
//! active SSO sessions, the database pool, database errors and signing-key
//! age. Each server has its own recorder (no global state), so several
//! servers in one process count apart.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Key, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::error::DatabaseFailure;
use crate::keys::KeySet;
use crate::rate_limit::Class;
use crate::store::{self, Db};
use crate::types::KeyState;

const METADATA: Metadata<'static> = Metadata::new("monban", Level::INFO, Some(module_path!()));

const REQUESTS: &str = "monban_http_requests_total";
const REQUEST_SECONDS: &str = "monban_http_request_duration_seconds";
const TOKENS_ISSUED: &str = "monban_tokens_issued_total";
const LOGINS: &str = "monban_logins_total";
const SIGN_INS: &str = "monban_sign_ins_total";
const PASSWORD_CHECKS: &str = "monban_password_checks_total";
const RATE_LIMITED: &str = "monban_rate_limited_total";
const ACTIVE_SESSIONS: &str = "monban_active_sessions";
const POOL_CONNECTIONS: &str = "monban_db_pool_connections";
const POOL_MAX: &str = "monban_db_pool_max_connections";
const DB_ERRORS: &str = "monban_db_errors_total";
const KEY_AGE: &str = "monban_signing_key_age_seconds";

/// Latency buckets, seconds: from a cached JWKS to an argon2 login.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Metrics {
        // Buckets, not summaries: they aggregate across instances.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.into()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics { recorder, handle };
        metrics.describe();
        metrics
    }
}

fn labels(pairs: &[(&'static str, String)]) -> Vec<Label> {
    pairs
        .iter()
        .map(|(k, v)| Label::new(*k, v.clone()))
        .collect()
}

impl Metrics {
    fn describe(&self) {
        let r = &self.recorder;
        for (name, unit, help) in [
            (
                REQUESTS,
                Unit::Count,
                "HTTP requests by route, method and status",
            ),
            (TOKENS_ISSUED, Unit::Count, "Token responses by grant type"),
            (LOGINS, Unit::Count, "Login attempts by outcome"),
            (
                SIGN_INS,
                Unit::Count,
                "Completed sign-ins by how the user proved who they are (amr, RFC 8176)",
            ),
            (
                PASSWORD_CHECKS,
                Unit::Count,
                "argon2id verifications of a password (logins, password changes)",
            ),
            (
                RATE_LIMITED,
                Unit::Count,
                "Requests refused by a rate limit, by limit",
            ),
            (
                DB_ERRORS,
                Unit::Count,
                "Database errors met by requests (process-wide)",
            ),
        ] {
            r.describe_counter(name.into(), Some(unit), help.into());
        }
        r.describe_histogram(
            REQUEST_SECONDS.into(),
            Some(Unit::Seconds),
            "HTTP request latency by route, method and status".into(),
        );
        for (name, help) in [
            (
                ACTIVE_SESSIONS,
                "Logged-in SSO sessions that have not expired",
            ),
            (POOL_CONNECTIONS, "Database pool connections by state"),
            (POOL_MAX, "Database pool size limit"),
            (
                KEY_AGE,
                "Seconds since the active key of each algorithm began to sign",
            ),
        ] {
            r.describe_gauge(name.into(), None, help.into());
        }
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> metrics::Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> metrics::Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let labels = labels(&[
            ("route", route.to_owned()),
            ("method", method.to_owned()),
            ("status", status.to_string()),
        ]);
        self.counter(REQUESTS, labels.clone()).increment(1);
        self.recorder
            .register_histogram(&Key::from_parts(REQUEST_SECONDS, labels), &METADATA)
            .record(seconds);
    }

    pub fn token_issued(&self, grant_type: &str) {
        self.counter(
            TOKENS_ISSUED,
            labels(&[("grant_type", grant_type.to_owned())]),
        )
        .increment(1);
    }

    /// `outcome`: `succeeded`, or why the password check refused.
    pub fn login(&self, outcome: &'static str) {
        self.counter(LOGINS, labels(&[("outcome", outcome.to_owned())]))
            .increment(1);
    }

    /// A sign-in completed with these `amr` values (joined by `+`).
    pub fn signed_in(&self, amr: &[String]) {
        self.counter(SIGN_INS, labels(&[("amr", amr.join("+"))]))
            .increment(1);
    }

    /// One argon2id verification of a typed password.
    pub fn password_checked(&self) {
        self.counter(PASSWORD_CHECKS, Vec::new()).increment(1);
    }

    pub fn rate_limited(&self, class: Class) {
        self.counter(
            RATE_LIMITED,
            labels(&[("limit", class.as_str().to_owned())]),
        )
        .increment(1);
    }

    /// The exposition text, with the gauges read now.
    pub async fn render(&self, db: &Db, keys: &KeySet) -> String {
        let now = crate::unix_now();
        match store::sessions::count_active(db, now).await {
            Ok(n) => self.gauge(ACTIVE_SESSIONS, Vec::new()).set(n as f64),
            Err(e) if store::outage::noticed(&e) => {}
            Err(e) => tracing::warn!(error = %e, "metrics: could not count sessions"),
        }
        let (open, idle, max) = pool_state(db);
        let state = |s: &str| labels(&[("state", s.to_owned())]);
        self.gauge(POOL_CONNECTIONS, state("idle")).set(idle as f64);
        self.gauge(POOL_CONNECTIONS, state("in_use"))
            .set(open.saturating_sub(idle) as f64);
        self.gauge(POOL_MAX, Vec::new()).set(f64::from(max));
        // Present from the first scrape, before any error.
        self.counter(DB_ERRORS, Vec::new()).increment(0);
        for key in keys.keys() {
            if let Some(activated) = key.activated_at.filter(|_| key.state == KeyState::Active) {
                let labels = labels(&[("alg", key.alg.to_string())]);
                self.gauge(KEY_AGE, labels).set((now - activated) as f64);
            }
        }
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// Folds the latencies recorded since into their histogram buckets.
    /// The recorder keeps every sample until then: without a scrape (no
    /// Prometheus configured) memory would grow with every request.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// (open connections, idle connections, limit) of the pool.
fn pool_state(db: &Db) -> (usize, usize, u32) {
    store::on_db!(db, p => (p.size() as usize, p.num_idle(), p.options().get_max_connections()))
}

/// Middleware: counts every routed request and its latency, labelled with
/// the route's pattern (never the raw path: bounded label values), and the
/// responses made from database errors.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    metrics.request(&route, &method, response.status().as_u16(), seconds);
    if response.extensions().get::<DatabaseFailure>().is_some() {
        metrics.counter(DB_ERRORS, Vec::new()).increment(1);
    }
    response
}

/// Methods as label values: the standard ones, anything else `other` (a
/// client may send any token as a method; labels must stay bounded).
fn method_label(method: &Method) -> String {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    if KNOWN.contains(method) {
        method.as_str().to_owned()
    } else {
        "other".to_owned()
    }
}
