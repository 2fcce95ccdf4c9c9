//! The admin REST API (`/admin/api/v1`): users, groups, clients, sessions,
//! consents, signing keys and the audit log, for people in the `admin`
//! group and service clients with the scope `monban:admin` (see `auth`).
//! The OpenAPI 3.1 document (`/admin/api/openapi.json`) is generated from
//! the handlers as they are routed, so the two cannot drift apart; Swagger
//! UI (`/admin/api/docs/`) is bundled in the binary. Every change is
//! audited as the caller's.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Server};
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Issuer;
use crate::routes::{ADMIN_API, ADMIN_API_DOCS, ADMIN_API_OPENAPI};
use crate::state::App;

pub mod audit_events;
pub mod auth;
pub mod clients;
pub mod error;
pub mod groups;
pub mod keys;
pub mod sessions;
pub mod users;

use error::AdminError;

/// Swagger UI's own script and styles, from this server only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "monban admin API",
        version = "1",
        description = "Manage monban's users, groups, clients, sessions, consents and signing keys, \
            and read its audit log. Authenticate with a monban access token carrying the scope \
            `monban:admin`: a service client's (client_credentials), or a member of the `admin` \
            group's. Errors are `{\"error\", \"message\", \"field\"?}`; lists are paged with \
            `limit` and the `next_cursor` of the previous page."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "People who log in"),
        (name = "sessions", description = "A user's SSO sessions"),
        (name = "consents", description = "What a user allowed which app"),
        (name = "groups", description = "Groups of users and service clients"),
        (name = "clients", description = "OAuth clients (RFC 7591 metadata)"),
        (name = "keys", description = "Signing keys"),
        (name = "audit", description = "The audit log")
    )
)]
struct ApiDoc;

/// The `bearer` security scheme every operation names.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("A monban access token with the scope monban:admin"))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// A string schema of these values only.
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values))
        .build()
}

/// The same for an optional field: one of these values, or `null`.
pub fn one_of_or_null<'a>(values: impl IntoIterator<Item = &'a str>) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    let values: Vec<serde_json::Value> = values
        .into_iter()
        .map(serde_json::Value::from)
        .chain([serde_json::Value::Null])
        .collect();
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .build()
}

/// Every operation's document names the answers any operation may give:
/// 401 (no token, or not a usable one), 403 (not an admin), 405 (another
/// method); with input (a path, query or body), 422 (it is not valid); with
/// a path parameter, 404; with a body, 413 (too large).
struct StandardResponses;

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let in_path = path.contains('{');
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let takes_input = in_path
                    || operation.request_body.is_some()
                    || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let has_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description));
                };
                add(
                    "401",
                    "No access token, or one that is not active or not for monban",
                );
                add("403", "The token or its client is not allowed monban:admin");
                add("405", "The route does not take this method");
                if takes_input {
                    add(
                        "422",
                        "A parameter or field is not valid (`field` names it)",
                    );
                }
                if in_path {
                    add("404", "Nothing by that name");
                }
                if has_body {
                    add("413", "The body is larger than 64 KiB");
                }
            }
        }
    }
}

/// The API's routes with their OpenAPI document (servers set to this
/// issuer).
pub fn api() -> (Router<Arc<App>>, OpenApi) {
    let (router, mut openapi) = routes().split_for_parts();
    StandardResponses.modify(&mut openapi);
    (router, openapi)
}

fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update, users::delete))
        .routes(routes!(users::reset_password))
        .routes(routes!(users::mfa))
        .routes(routes!(users::reset_mfa))
        .routes(routes!(users::groups))
        .routes(routes!(users::join, users::leave))
        .routes(routes!(sessions::list, sessions::end_all))
        .routes(routes!(sessions::end_one))
        .routes(routes!(sessions::consents))
        .routes(routes!(sessions::revoke_consent))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::show, groups::update, groups::delete))
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::show, clients::replace, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(clients::create_registration_token))
        .routes(routes!(keys::list))
        .routes(routes!(keys::rotate))
        .routes(routes!(audit_events::list))
}

/// Everything under `/admin/api`: the API, its document and Swagger UI.
pub fn router(issuer: &Issuer) -> Router<Arc<App>> {
    let (api, mut openapi) = api();
    openapi.servers = Some(vec![Server::new(issuer.endpoint(ADMIN_API))]);
    let document = Bytes::from(openapi.to_json().unwrap_or_default());
    // No validator badge: it would send the document's URL to swagger.io.
    let docs_config =
        utoipa_swagger_ui::Config::new([issuer.endpoint(ADMIN_API_OPENAPI)]).validator_url("none");
    let docs: Router<Arc<App>> = utoipa_swagger_ui::SwaggerUi::new(ADMIN_API_DOCS)
        .config(docs_config)
        .into();
    let docs = docs.layer(axum::middleware::map_response(docs_csp));
    Router::new()
        .nest(
            ADMIN_API,
            api.fallback(not_found)
                .method_not_allowed_fallback(method_not_allowed)
                .layer(axum::middleware::map_response(no_store)),
        )
        .route(
            ADMIN_API_OPENAPI,
            get(move || {
                let document = document.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        document,
                    )
                }
            }),
        )
        .merge(docs)
}

async fn docs_csp(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    response
}

async fn not_found() -> AdminError {
    AdminError::not_found("route")
}

async fn method_not_allowed() -> Response {
    let body = error::ErrorBody {
        error: error::Code::InvalidRequest,
        message: "this route does not take that method".into(),
        field: None,
    };
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// A JSON body whose problems are answered as admin errors naming the
/// field. An empty body reads as `{}` (for operations whose fields are all
/// optional).
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AdminError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AdminError::TooLarge
            } else {
                AdminError::Invalid {
                    field: None,
                    message: e.body_text(),
                }
            }
        })?;
        // No body (or JSON `null`): an empty object, so that operations
        // whose fields are all optional take none.
        if bytes.is_empty() || bytes.as_ref() == b"null" {
            return serde_json::from_slice(b"{}")
                .map(AdminJson)
                .map_err(|e| error::body_error(&e));
        }
        if !json {
            return Err(AdminError::Invalid {
                field: None,
                message: "send the body as application/json".into(),
            });
        }
        serde_json::from_slice(&bytes)
            .map(AdminJson)
            .map_err(|e| error::body_error(&e))
    }
}

/// A path parameter whose problems are answered as admin errors.
pub struct AdminPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AdminPath<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(AdminPath(value))
    }
}

/// Responses of the admin API are never cached.
pub async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.into_response()
}
