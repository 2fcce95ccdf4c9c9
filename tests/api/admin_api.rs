//! The admin REST API (`/admin/api/v1`): who may call it, every resource,
//! validation, paging, and the OpenAPI document it is described by.

use monban::clients::ClientSettings;
use monban::store;
use monban::types::Scopes;
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::{AuthRequest, Browser, web_app_settings};
use crate::db_test;
use crate::helpers::{TestApp, TestClient, password_matches};

const PASSWORD: &str = "correct horse battery staple";
const ADMIN_SCOPE: &str = "monban:admin";

/// A request to the admin API (path below `/admin/api/v1`).
async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .http
        .request(method, app.url(&format!("/admin/api/v1{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Status and JSON body (`null` when there is none).
async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let r = call(app, Some(token), method, path, body).await;
    let status = r.status().as_u16();
    assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
    };
    (status, body)
}

/// A validation error: 422 naming `field`.
fn assert_invalid((status, body): (u16, Value), field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert_eq!(body["field"], field, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// Every operation of the OpenAPI document, with example path parameters.
async fn operations(app: &TestApp) -> Vec<(Method, String)> {
    let doc = app.get_json("/admin/api/openapi.json").await;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "0190a0b0-0000-7000-8000-000000000000")
            .replace("{group}", "some-group")
            .replace("{name}", "some-group")
            .replace("{sid}", "some-sid")
            .replace("{client_id}", "some-client");
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            ops.push((method, concrete.clone()));
        }
    }
    ops
}

db_test!(every_operation_needs_an_admin, async |app: TestApp| {
    let ops = operations(&app).await;
    assert!(ops.len() >= 26, "{ops:?}");
    // A person's token with the admin scope, not (yet) in the admin group.
    store::groups::insert(&app.db, "admin", monban::unix_now())
        .await
        .unwrap();
    let alice = app.user("alice", PASSWORD).await;
    let console = app
        .register(ClientSettings {
            first_party: true,
            scopes: Scopes::parse(ADMIN_SCOPE).unwrap(),
            ..web_app_settings()
        })
        .await;
    let browser = Browser::new();
    let request = AuthRequest::new(&console).scope(&format!("openid {ADMIN_SCOPE}"));
    let body = browser
        .tokens_as(&app, &console, &request, "alice", PASSWORD)
        .await;
    let person = body["access_token"].as_str().unwrap().to_owned();
    assert!(body["scope"].as_str().unwrap().contains(ADMIN_SCOPE));
    let unscoped = {
        let service = app.service_client("").await;
        app.access_token(&service, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (method, path) in &ops {
        let r = call(&app, None, method.clone(), path, None).await;
        assert_eq!(r.status(), 401, "{method} {path} without a token");
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"monban\"");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");

        let r = call(&app, Some("not-a-token"), method.clone(), path, None).await;
        assert_eq!(r.status(), 401, "{method} {path} with a bad token");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

        let r = call(&app, Some(&unscoped), method.clone(), path, None).await;
        assert_eq!(r.status(), 403, "{method} {path} without the scope");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"insufficient_scope\"")
                && challenge.contains("scope=\"monban:admin\""),
            "{challenge}"
        );

        let r = call(&app, Some(&person), method.clone(), path, None).await;
        assert_eq!(r.status(), 403, "{method} {path} by someone not in admin");
    }
    // In the admin group, the same token works; out of it, or disabled, not.
    store::groups::add_member(&app.db, alice, "admin")
        .await
        .unwrap();
    let (status, _) = send(&app, &person, Method::GET, "/users", None).await;
    assert_eq!(status, 200);
    store::groups::remove_member(&app.db, alice, "admin")
        .await
        .unwrap();
    let (status, _) = send(&app, &person, Method::GET, "/users", None).await;
    assert_eq!(status, 403, "membership is checked on every call");
    store::groups::add_member(&app.db, alice, "admin")
        .await
        .unwrap();
    // An admin cannot lock themselves out.
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/users/{alice}"),
            Some(json!({"disabled": true})),
        ),
        (Method::DELETE, format!("/users/{alice}"), None),
        (Method::DELETE, format!("/users/{alice}/groups/admin"), None),
    ] {
        let (status, answer) = send(&app, &person, method, &path, body).await;
        assert_eq!(status, 409, "{path}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains("yourself"));
    }
    // Only the flag (disabling through monban also revokes the token): the
    // user is checked on every call.
    app.execute("UPDATE users SET disabled = TRUE").await;
    let (status, _) = send(&app, &person, Method::GET, "/users", None).await;
    assert_eq!(status, 401, "a disabled admin's token is dead");
    // Neither a refresh token nor an ID token is an access token.
    for other in [&body["refresh_token"], &body["id_token"]] {
        let r = call(
            &app,
            Some(other.as_str().unwrap()),
            Method::GET,
            "/users",
            None,
        )
        .await;
        assert_eq!(r.status(), 401);
    }
});

db_test!(
    the_admin_scope_is_the_operators_to_give,
    async |app: TestApp| {
        // A service client loses the right with the scope, at once.
        let ops = app.service_client(ADMIN_SCOPE).await;
        let token = app.access_token(&ops, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _) = send(&app, &token, Method::GET, "/users", None).await;
        assert_eq!(status, 200);
        let without = json!({"client_name": "Ops", "grant_types": ["client_credentials"]});
        // Not from itself (nobody locks the operators out by accident)…
        let path = format!("/clients/{}", ops.id);
        let (status, _) = send(&app, &token, Method::PUT, &path, Some(without.clone())).await;
        assert_eq!(status, 409);
        let (status, _) = send(&app, &token, Method::DELETE, &path, None).await;
        assert_eq!(status, 409);
        // …but from another admin.
        let other = app.admin_token().await;
        let (status, _) = send(&app, &other, Method::PUT, &path, Some(without)).await;
        assert_eq!(status, 200);
        let (status, _) = send(&app, &token, Method::GET, "/users", None).await;
        assert_eq!(status, 403, "the token outlived the client's right");

        // Dynamic registration cannot ask for it.
        let initial = app
            .cli(&["client", "registration-token", "create", "--json"])
            .ok_json();
        let r = app
            .http
            .post(app.url("/register"))
            .bearer_auth(initial["initial_access_token"].as_str().unwrap())
            .json(&json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic", "scope": "monban:admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata");

        // Errors keep their shape: wrong method, oversized body.
        let admin = app.admin_token().await;
        let (status, body) = send(&app, &admin, Method::PATCH, "/groups", None).await;
        assert_eq!(status, 405);
        assert_eq!(body["error"], "invalid_request");
        let big = json!({"username": "x".repeat(70_000)});
        let r = call(&app, Some(&admin), Method::POST, "/users", Some(big)).await;
        assert_eq!(r.status(), 413);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
);

/// `$ref`s in a JSON tree.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    found.push(v.as_str().unwrap().to_owned());
                }
                refs(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

db_test!(
    the_openapi_document_describes_every_route,
    async |app: TestApp| {
        let r = app.get("/admin/api/openapi.json").await;
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        // A valid OpenAPI 3.1 document, by a parser nobody here wrote.
        let spec = oas3::from_json(&text).unwrap();
        assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["servers"][0]["url"], app.url("/admin/api/v1"));
        let mut routes: Vec<String> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                routes.push(format!("{} {path}", method.to_uppercase()));
                assert_eq!(
                    op["security"][0]["bearer"][0], ADMIN_SCOPE,
                    "{method} {path}"
                );
                assert!(
                    op["responses"].as_object().unwrap().len() >= 2,
                    "{method} {path}"
                );
            }
        }
        routes.sort();
        let mut expected = vec![
            "GET /users",
            "POST /users",
            "GET /users/{id}",
            "PATCH /users/{id}",
            "DELETE /users/{id}",
            "POST /users/{id}/password",
            "GET /users/{id}/mfa",
            "POST /users/{id}/mfa/reset",
            "GET /users/{id}/groups",
            "PUT /users/{id}/groups/{group}",
            "DELETE /users/{id}/groups/{group}",
            "GET /users/{id}/sessions",
            "DELETE /users/{id}/sessions",
            "DELETE /users/{id}/sessions/{sid}",
            "GET /users/{id}/consents",
            "DELETE /users/{id}/consents/{client_id}",
            "GET /groups",
            "POST /groups",
            "GET /groups/{name}",
            "PATCH /groups/{name}",
            "DELETE /groups/{name}",
            "GET /clients",
            "POST /clients",
            "GET /clients/{client_id}",
            "PUT /clients/{client_id}",
            "DELETE /clients/{client_id}",
            "POST /clients/{client_id}/secret",
            "POST /registration-tokens",
            "GET /keys",
            "POST /keys/rotate",
            "GET /audit-events",
        ];
        expected.sort_unstable();
        assert_eq!(routes, expected);
        // Every route answers (401 without a token): none is documented
        // but missing, and an undocumented one would be a 404 here.
        for (method, path) in operations(&app).await {
            let r = call(&app, None, method.clone(), &path, None).await;
            assert_eq!(r.status(), 401, "{method} {path}");
        }
        let r = call(&app, None, Method::GET, "/no-such-thing", None).await;
        assert_eq!(r.status(), 404);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let name = reference.strip_prefix("#/components/schemas/").unwrap();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{reference} does not resolve"
            );
        }

        // The bundled Swagger UI loads nothing from elsewhere.
        let r = app.get("/admin/api/docs/").await;
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("http"),
            "{csp}"
        );
        let page = r.text().await.unwrap();
        assert!(page.contains("swagger-ui"));
        assert!(
            !page.contains("src=\"http") && !page.contains("href=\"http"),
            "{page}"
        );
        let init = app.get("/admin/api/docs/swagger-initializer.js").await;
        assert_eq!(init.status(), 200);
        let init = init.text().await.unwrap();
        assert!(init.contains(&app.url("/admin/api/openapi.json")), "{init}");
        let bundle = app.get("/admin/api/docs/swagger-ui-bundle.js").await;
        assert_eq!(bundle.status(), 200);
    }
);

db_test!(users_are_managed_through_the_api, async |app: TestApp| {
    let token = app.admin_token().await;
    let t = token.as_str();
    let (status, _) = send(
        &app,
        t,
        Method::POST,
        "/groups",
        Some(json!({"name": "staff"})),
    )
    .await;
    assert_eq!(status, 201);

    // Create: a generated password, shown once.
    let (status, created) = send(
        &app,
        t,
        Method::POST,
        "/users",
        Some(json!({"username": "Carol", "email": "carol@example.com", "name": "Carol C", "groups": ["staff"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["username"], "carol", "stored lower-case");
    assert_eq!(created["groups"], json!(["staff"]));
    let id = created["id"].as_str().unwrap().to_owned();
    let password = created["password"].as_str().unwrap();
    let carol: uuid::Uuid = id.parse().unwrap();
    assert!(password_matches(&app.db, carol, password).await);
    let (status, again) = send(
        &app,
        t,
        Method::POST,
        "/users",
        Some(json!({"username": "carol"})),
    )
    .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"], "conflict");

    // Validation errors name the field, and change nothing.
    let users_before = app.count("users").await;
    for (body, field) in [
        (json!({"username": "has space"}), "username"),
        (
            json!({"username": "dave", "email": "not-an-email"}),
            "email",
        ),
        (json!({"username": "dave", "password": "short"}), "password"),
        (json!({"username": "dave", "groups": ["nope"]}), "groups"),
        (json!({"username": "dave", "colour": "blue"}), "colour"),
        (json!({"email": "dave@example.com"}), "username"),
        (json!({"username": 7}), ""),
    ] {
        let answer = send(&app, t, Method::POST, "/users", Some(body.clone())).await;
        if field.is_empty() {
            assert_eq!(answer.0, 422, "{body}");
        } else {
            assert_invalid(answer, field);
        }
    }
    let r = app
        .http
        .post(app.url("/admin/api/v1/users"))
        .bearer_auth(t)
        .header("content-type", "text/plain")
        .body("username=dave")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(app.count("users").await, users_before);
    let (status, bad_id) = send(&app, t, Method::GET, "/users/not-a-uuid", None).await;
    assert_eq!(status, 422, "{bad_id}");
    assert_eq!(bad_id["error"], "invalid_request");

    // Show, update, clear a field.
    let (status, shown) = send(&app, t, Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["groups"], json!(["staff"]));
    assert_eq!(shown["failed_logins"], 0);
    assert!(shown.get("password").is_none(), "never shown again");
    let (status, patched) = send(
        &app,
        t,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({"email": "c@example.org", "name": null})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["email"], "c@example.org");
    assert_eq!(
        patched["email_verified"], false,
        "a new address is not verified"
    );
    assert!(patched["name"].is_null());
    assert_invalid(
        send(
            &app,
            t,
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({"email": "nope"})),
        )
        .await,
        "email",
    );

    // Disable: her session ends and she cannot log in; enable again.
    let client = app.first_party_web_app().await;
    let browser = Browser::new();
    browser
        .sign_in(&app, &AuthRequest::new(&client), "carol", password)
        .await;
    assert_eq!(app.count("sessions").await, 1);
    let (status, disabled) = send(
        &app,
        t,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(disabled["disabled"], true);
    assert_eq!(app.count("sessions").await, 0);
    let other = Browser::new();
    let step = other.authorize(&app, &AuthRequest::new(&client)).await;
    let refused = other.submit_login(&app, &step, "carol", password).await;
    assert!(
        refused.is_login(),
        "a disabled user cannot log in: {refused:?}"
    );
    assert_eq!(
        app.audit("login.failed").await[0]["detail"]["reason"],
        "disabled"
    );
    send(
        &app,
        t,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({"disabled": false})),
    )
    .await;

    // Reset the password: a new one, generated, that works.
    let issued = {
        let browser = Browser::new();
        let request = AuthRequest::new(&client).scope("openid offline_access");
        browser
            .tokens_as(&app, &client, &request, "carol", password)
            .await
    };
    let (status, reset) = send(
        &app,
        t,
        Method::POST,
        &format!("/users/{id}/password"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["sessions_ended"], 1);
    let offline = issued["refresh_token"].as_str().unwrap();
    let active = app.introspect(&client, offline).await["active"].clone();
    assert_eq!(active, false, "offline access ends too");
    let new_password = reset["password"].as_str().unwrap();
    assert!(password_matches(&app.db, carol, new_password).await);
    assert!(!password_matches(&app.db, carol, password).await);
    assert_invalid(
        send(
            &app,
            t,
            Method::POST,
            &format!("/users/{id}/password"),
            Some(json!({"password": "short"})),
        )
        .await,
        "password",
    );

    // Groups.
    send(
        &app,
        t,
        Method::POST,
        "/groups",
        Some(json!({"name": "ops"})),
    )
    .await;
    let (status, _) = send(
        &app,
        t,
        Method::PUT,
        &format!("/users/{id}/groups/ops"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, groups) = send(&app, t, Method::GET, &format!("/users/{id}/groups"), None).await;
    assert_eq!(groups, json!(["ops", "staff"]));
    let (status, _) = send(
        &app,
        t,
        Method::DELETE,
        &format!("/users/{id}/groups/staff"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &app,
        t,
        Method::PUT,
        &format!("/users/{id}/groups/nope"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, groups) = send(&app, t, Method::GET, &format!("/users/{id}/groups"), None).await;
    assert_eq!(groups, json!(["ops"]));

    // Every change is audited as the admin client's.
    let events = app.audit("user.created").await;
    assert!(events[0]["actor"].as_str().unwrap().starts_with("client:"));
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert_eq!(app.audit("user.disabled").await.len(), 1);
    assert_eq!(app.audit("password.changed").await.len(), 1);
    assert_eq!(
        app.audit("group.member_added").await.len(),
        2,
        "staff at creation, then ops"
    );

    // Delete.
    let (status, _) = send(&app, t, Method::DELETE, &format!("/users/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, gone) = send(&app, t, Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(status, 404);
    assert_eq!(gone["error"], "not_found");
});

db_test!(
    users_are_listed_in_pages_and_searched,
    async |app: TestApp| {
        let token = app.admin_token().await;
        for name in ["ann", "bob", "cat", "dan", "eve"] {
            app.user(name, PASSWORD).await;
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/users?limit=2".to_owned(),
                Some(c) => format!("/users?limit=2&cursor={c}"),
            };
            let (status, page) = send(&app, &token, Method::GET, &path, None).await;
            assert_eq!(status, 200, "{page}");
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(
                items
                    .iter()
                    .map(|u| u["username"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(
            seen,
            ["ann", "bob", "cat", "dan", "eve"],
            "each once, in order"
        );
        let (_, found) = send(&app, &token, Method::GET, "/users?q=AN", None).await;
        let names: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["ann", "dan"],
            "part of the username or email, any case"
        );
        let (_, by_email) = send(&app, &token, Method::GET, "/users?q=eve%40EXAMPLE", None).await;
        assert_eq!(by_email["items"][0]["username"], "eve");
        for wildcard in ["%25", "_", "%5C"] {
            let path = format!("/users?q={wildcard}");
            let (_, none) = send(&app, &token, Method::GET, &path, None).await;
            assert_eq!(none["items"], json!([]), "{wildcard} is not a wildcard");
        }
        assert_invalid(
            send(&app, &token, Method::GET, "/users?limit=0", None).await,
            "limit",
        );
        assert_invalid(
            send(&app, &token, Method::GET, "/users?cursor=!!!", None).await,
            "cursor",
        );
    }
);

db_test!(
    sessions_and_consents_are_listed_and_ended,
    async |app: TestApp| {
        let token = app.admin_token().await;
        let t = token.as_str();
        let alice = app.user("alice", PASSWORD).await;
        let third = app.register(web_app_settings()).await;
        let browser = Browser::new();
        let request = AuthRequest::new(&third);
        let issued = browser
            .tokens_as(&app, &third, &request, "alice", PASSWORD)
            .await;

        let (status, sessions) = send(
            &app,
            t,
            Method::GET,
            &format!("/users/{alice}/sessions"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let sessions = sessions.as_array().unwrap().clone();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["clients"], json!([third.id]));
        assert_eq!(sessions[0]["ip"], "127.0.0.1");
        let sid = sessions[0]["sid"].as_str().unwrap();

        let (_, consents) = send(
            &app,
            t,
            Method::GET,
            &format!("/users/{alice}/consents"),
            None,
        )
        .await;
        assert_eq!(consents[0]["client_id"], third.id);
        assert!(
            consents[0]["scopes"]
                .as_array()
                .unwrap()
                .contains(&json!("openid"))
        );
        let (status, _) = send(
            &app,
            t,
            Method::DELETE,
            &format!("/users/{alice}/consents/{}", third.id),
            None,
        )
        .await;
        assert_eq!(status, 204);
        let refresh = issued["refresh_token"].as_str().unwrap();
        assert_eq!(
            app.introspect(&third, refresh).await["active"],
            false,
            "its tokens go too"
        );
        let (status, _) = send(
            &app,
            t,
            Method::DELETE,
            &format!("/users/{alice}/consents/{}", third.id),
            None,
        )
        .await;
        assert_eq!(status, 404);

        let (status, _) = send(
            &app,
            t,
            Method::DELETE,
            &format!("/users/{alice}/sessions/not-hers"),
            None,
        )
        .await;
        assert_eq!(status, 404);
        let (status, _) = send(
            &app,
            t,
            Method::DELETE,
            &format!("/users/{alice}/sessions/{sid}"),
            None,
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(app.count("sessions").await, 0);
        let (status, ended) = send(
            &app,
            t,
            Method::DELETE,
            &format!("/users/{alice}/sessions"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(ended["sessions_ended"], 0);
        assert_eq!(app.audit("consent.revoked").await.len(), 1);
        assert_eq!(app.audit("sessions.ended").await.len(), 2);
    }
);

db_test!(groups_are_managed_through_the_api, async |app: TestApp| {
    let token = app.admin_token().await;
    let t = token.as_str();
    let (status, created) = send(
        &app,
        t,
        Method::POST,
        "/groups",
        Some(json!({"name": "readers"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = send(
        &app,
        t,
        Method::POST,
        "/groups",
        Some(json!({"name": "readers"})),
    )
    .await;
    assert_eq!(status, 409);
    assert_invalid(
        send(
            &app,
            t,
            Method::POST,
            "/groups",
            Some(json!({"name": "has space"})),
        )
        .await,
        "name",
    );
    assert_invalid(
        send(&app, t, Method::POST, "/groups", Some(json!({}))).await,
        "name",
    );
    let bob = app.user("bob", PASSWORD).await;
    send(
        &app,
        t,
        Method::PUT,
        &format!("/users/{bob}/groups/readers"),
        None,
    )
    .await;
    let (status, shown) = send(&app, t, Method::GET, "/groups/readers", None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["users"][0]["username"], "bob");
    let (_, list) = send(&app, t, Method::GET, "/groups", None).await;
    assert_eq!(list[0]["name"], "readers");
    assert_eq!(list[0]["members"], 1);
    let (status, _) = send(&app, t, Method::DELETE, "/groups/readers", None).await;
    assert_eq!(status, 204);
    let (status, _) = send(&app, t, Method::GET, "/groups/readers", None).await;
    assert_eq!(status, 404);
    let (status, _) = send(&app, t, Method::DELETE, "/groups/readers", None).await;
    assert_eq!(status, 404);
});

db_test!(clients_are_managed_through_the_api, async |app: TestApp| {
    let token = app.admin_token().await;
    let t = token.as_str();
    let metadata = json!({
        "client_id": "reports",
        "client_name": "Reports",
        "grant_types": ["client_credentials"],
        "scope": "orders:read",
        "audience": ["https://api.example.com"],
    });
    let (status, created) = send(&app, t, Method::POST, "/clients", Some(metadata.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["client_id"], "reports");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let reports = TestClient {
        id: "reports".into(),
        secret: secret.clone(),
    };
    assert_eq!(
        app.access_token(&reports, &[]).await["scope"],
        "orders:read"
    );
    let (status, _) = send(&app, t, Method::POST, "/clients", Some(metadata)).await;
    assert_eq!(status, 409);
    let (_, shown) = send(&app, t, Method::GET, "/clients/reports", None).await;
    assert!(shown.get("client_secret").is_none(), "shown once only");

    // Invalid metadata names the field and creates nothing.
    let before = app.count("clients").await;
    for (body, field) in [
        (
            json!({"client_name": "X", "redirect_uris": ["http://evil.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_name": "X", "grant_types": ["password"]}),
            "grant_types",
        ),
        (
            json!({"client_name": "X", "token_endpoint_auth_method": "magic"}),
            "token_endpoint_auth_method",
        ),
        (json!({"client_name": "X", "scope": "bad\"scope"}), "scope"),
        (
            json!({"client_name": "", "grant_types": ["client_credentials"]}),
            "client_name",
        ),
        (
            json!({"client_name": "X", "token_endpoint_auth_method": "none"}),
            "redirect_uris",
        ),
        (json!({"client_name": "X", "client_id": "a b"}), "client_id"),
        (
            json!({"client_name": "X", "client_id": "monban-gateway"}),
            "client_id",
        ),
        (json!({"client_name": "X", "groups": ["nope"]}), "groups"),
        (json!({"client_name": "X", "colour": "blue"}), "colour"),
        (json!({"redirect_uris": []}), "client_name"),
    ] {
        assert_invalid(
            send(&app, t, Method::POST, "/clients", Some(body)).await,
            field,
        );
    }
    assert_eq!(app.count("clients").await, before);

    // A public SPA; then replaced by a confidential web app (a secret is
    // made and shown).
    let (status, spa) = send(
        &app,
        t,
        Method::POST,
        "/clients",
        Some(json!({"client_name": "SPA", "token_endpoint_auth_method": "none", "redirect_uris": ["https://spa.example.com/cb"]})),
    )
    .await;
    assert_eq!(status, 201);
    assert!(spa.get("client_secret").is_none());
    assert_eq!(spa["client_type"], "public");
    assert_eq!(
        spa["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    let spa_id = spa["client_id"].as_str().unwrap();
    let (status, replaced) = send(
        &app,
        t,
        Method::PUT,
        &format!("/clients/{spa_id}"),
        Some(json!({"client_name": "Web", "redirect_uris": ["https://web.example.com/cb"], "first_party": true})),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["client_type"], "confidential");
    assert!(replaced["client_secret"].is_string());
    assert_eq!(replaced["first_party"], true);
    // The audit log says what the update changed.
    let updated = app.audit("client.updated").await;
    let update = updated.iter().find(|e| e["client_id"] == spa_id).unwrap();
    let changed = update["detail"]["changed"].as_array().unwrap();
    for field in ["name", "client_type", "first_party", "redirect_uris"] {
        assert!(changed.contains(&json!(field)), "{field}: {update}");
    }
    assert!(!changed.contains(&json!("scopes")), "{update}");
    assert_eq!(update["detail"]["new_secret"], true);
    let (status, _) = send(
        &app,
        t,
        Method::PUT,
        &format!("/clients/{spa_id}"),
        Some(json!({"client_name": "Web", "client_id": "other"})),
    )
    .await;
    assert_eq!(status, 422);

    // Rotate: the new secret works at once, the old one does not.
    let (status, rotated) = send(&app, t, Method::POST, "/clients/reports/secret", None).await;
    assert_eq!(status, 200);
    let fresh = TestClient {
        id: "reports".into(),
        secret: rotated["client_secret"].as_str().unwrap().to_owned(),
    };
    assert_eq!(app.token(&fresh, &[]).await.status(), 200);
    assert_eq!(app.token(&reports, &[]).await.status(), 401);

    // Paging by client_id.
    let (_, page) = send(&app, t, Method::GET, "/clients?limit=1", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());

    let (status, _) = send(&app, t, Method::DELETE, "/clients/reports", None).await;
    assert_eq!(status, 204);
    // monban's own pages sign in through the built-in client: it stays.
    let (status, refused) = send(&app, t, Method::DELETE, "/clients/monban-account", None).await;
    assert_eq!(status, 409, "{refused}");
    let (status, _) = send(
        &app,
        t,
        Method::PUT,
        "/clients/monban-account",
        Some(json!({"client_name": "Mine now", "redirect_uris": ["https://evil.example.com/cb"]})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(app.token(&fresh, &[]).await.status(), 401);
    let (status, _) = send(&app, t, Method::GET, "/clients/reports", None).await;
    assert_eq!(status, 404);
    for kind in [
        "client.created",
        "client.updated",
        "client.secret_rotated",
        "client.deleted",
    ] {
        let events = app.audit(kind).await;
        assert!(!events.is_empty(), "{kind}");
        assert!(
            events.iter().all(|e| e["detail"]["via"] == "admin api"),
            "{kind}: {events:?}"
        );
    }
    let everything = serde_json::to_string(&app.audit("client.created").await).unwrap();
    assert!(!everything.contains(&secret));
});

db_test!(
    keys_rotate_and_the_audit_log_is_read,
    async |app: TestApp| {
        let token = app.admin_token().await;
        let t = token.as_str();
        let (status, keys) = send(&app, t, Method::GET, "/keys", None).await;
        assert_eq!(status, 200);
        let active = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["state"] == "active" && k["alg"] == "RS256")
            .unwrap()["kid"]
            .clone();
        assert!(
            !keys.to_string().contains("\"d\""),
            "no private key material"
        );
        assert_invalid(
            send(
                &app,
                t,
                Method::POST,
                "/keys/rotate",
                Some(json!({"mode": "sideways"})),
            )
            .await,
            "mode",
        );
        let (status, rotated) = send(&app, t, Method::POST, "/keys/rotate", None).await;
        assert_eq!(status, 200, "{rotated}");
        let rs256 = rotated["rotated"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["alg"] == "RS256")
            .unwrap();
        assert_eq!(rs256["retired_kid"], active);
        // This instance signs with the new key at once.
        let service = app.service_client("").await;
        let jwt = app.access_token(&service, &[]).await;
        let header = jwt["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_owned();
        use base64::Engine;
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["kid"], rs256["active_kid"]);
        // A second safe rotation is refused: the new next key is too fresh.
        let (status, refused) = send(
            &app,
            t,
            Method::POST,
            "/keys/rotate",
            Some(json!({"mode": "safe"})),
        )
        .await;
        assert_eq!(status, 409, "{refused}");

        // The audit log: filtered by type, and paged.
        let (status, events) = send(
            &app,
            t,
            Method::GET,
            "/audit-events?type=keys.rotated",
            None,
        )
        .await;
        assert_eq!(status, 200);
        let items = events["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0]["actor"].as_str().unwrap().starts_with("client:"));
        for name in ["a", "b", "c"] {
            send(
                &app,
                t,
                Method::POST,
                "/groups",
                Some(json!({"name": name})),
            )
            .await;
        }
        let (_, first) = send(
            &app,
            t,
            Method::GET,
            "/audit-events?type=group.created&limit=2",
            None,
        )
        .await;
        assert_eq!(first["items"][0]["detail"]["group"], "c", "newest first");
        let cursor = first["next_cursor"].as_str().unwrap();
        let (_, rest) = send(
            &app,
            t,
            Method::GET,
            &format!("/audit-events?type=group.created&limit=2&cursor={cursor}"),
            None,
        )
        .await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert_eq!(rest["items"][0]["detail"]["group"], "a");
        assert!(rest["next_cursor"].is_null());
        let now = monban::unix_now();
        let (_, windowed) = send(
            &app,
            t,
            Method::GET,
            &format!("/audit-events?since={}&until={}", now + 60, now + 120),
            None,
        )
        .await;
        assert_eq!(windowed["items"], json!([]));
        assert_invalid(
            send(&app, t, Method::GET, "/audit-events?type=nope", None).await,
            "type",
        );
        assert_invalid(
            send(&app, t, Method::GET, "/audit-events?user_id=x", None).await,
            "user_id",
        );
    }
);

db_test!(
    whole_numbers_may_be_written_with_a_fraction,
    async |app: TestApp| {
        // JSON Schema's `integer` is any number with a zero fractional part
        // (found by schemathesis): `2.0` is taken as 2, `2.5` refused.
        let token = app.admin_token().await;
        let make = |body: Value| {
            send(
                &app,
                &token,
                Method::POST,
                "/registration-tokens",
                Some(body),
            )
        };
        let (status, made) = make(json!({"uses": 2.0, "expires_in": 3600.0})).await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["uses"], 2);
        for body in [json!({"uses": 2.5}), json!({"expires_in": 1e300})] {
            let (status, answer) = make(body).await;
            assert_eq!(status, 422, "{answer}");
            assert!(answer["message"].as_str().unwrap().contains("whole number"));
            // serde names no field for a value of the wrong kind; neither
            // does the answer (it once named the value).
            assert!(answer.get("field").is_none_or(Value::is_null), "{answer}");
        }
    }
);
