//! CORS for the endpoints browsers call from apps (token, userinfo, revoke):
//! a response is readable from the web origins of the *calling* client's
//! redirect URIs (a SPA's own origin). A preflight, which names no client,
//! is answered for the origins of any registered client. Discovery and
//! JWKS allow any origin (set where they are served); monban's form pages
//! send no CORS headers at all.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::store::{self, Db, clients::Client};

/// How stale the set of allowed origins may be.
const TTL: Duration = Duration::from_secs(5);

/// The web origins of a client's redirect URIs.
fn web_origins<'a>(
    redirect_uris: impl Iterator<Item = &'a String>,
) -> impl Iterator<Item = String> {
    redirect_uris
        .filter_map(|uri| url::Url::parse(uri).ok())
        .filter(|u| u.scheme() == "https" || u.scheme() == "http")
        .map(|u| u.origin().ascii_serialization())
}

/// Filled in by the handler once it knows the client of the request.
#[derive(Clone, Default)]
pub struct CallingClient(Arc<std::sync::Mutex<Vec<String>>>);

impl CallingClient {
    pub fn set(&self, client: &Client) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) =
            web_origins(client.redirect_uris.iter()).collect();
    }

    fn allows(&self, origin: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|o| o == origin)
    }
}

/// The web origins of every registered client, cached for `TTL`.
pub struct WebOrigins {
    db: Db,
    cached: RwLock<Option<(Instant, Arc<HashSet<String>>)>>,
}

impl WebOrigins {
    pub fn new(db: Db) -> WebOrigins {
        WebOrigins {
            db,
            cached: RwLock::new(None),
        }
    }

    async fn get(&self) -> Arc<HashSet<String>> {
        let cached = self
            .cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, set)| Arc::clone(set));
        if let Some(set) = cached {
            return set;
        }
        let set: HashSet<String> = match store::clients::list(&self.db).await {
            Ok(clients) => {
                web_origins(clients.iter().flat_map(|c| c.redirect_uris.iter())).collect()
            }
            Err(e) => {
                if !store::outage::noticed(&e) {
                    tracing::warn!(error = %e, "could not load client origins for CORS");
                }
                HashSet::new()
            }
        };
        let set = Arc::new(set);
        *self.cached.write().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), Arc::clone(&set)));
        set
    }
}

/// Answers preflights and adds `Access-Control-Allow-Origin` for allowed
/// origins; other origins get no CORS headers (the browser then refuses).
pub async fn for_apps(
    State(web_origins): State<Arc<WebOrigins>>,
    mut request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let preflight = request.method() == Method::OPTIONS;
    let calling = CallingClient::default();
    request.extensions_mut().insert(calling.clone());
    let (allowed, mut response) = if preflight {
        let allowed = match &origin {
            Some(origin) => web_origins.get().await.contains(origin),
            None => false,
        };
        (allowed, StatusCode::NO_CONTENT.into_response())
    } else {
        let response = next.run(request).await;
        (
            origin.as_deref().is_some_and(|o| calling.allows(o)),
            response,
        )
    };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let (true, Some(origin)) = (allowed, origin)
        && let Ok(value) = HeaderValue::from_str(&origin)
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        // A browser app may read when to retry after a 429.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after"),
        );
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    response
}
