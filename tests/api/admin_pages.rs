//! The admin pages (`/admin`): signed in through monban's own login,
//! members of the admin group only, CSRF-protected forms, English and
//! Japanese, acting through the same operations as the admin API and the
//! CLI (src/service: the same rules and audit events).
//! Chromium drives them too (tests/api/chromium.rs).

use monban::store;

use crate::browser::{Browser, Step, hidden};
use crate::db_test;
use crate::helpers::{TestApp, TestClient};

const PASSWORD: &str = "correct horse battery staple";

/// A browser signed in to the admin pages as `username` (an admin when
/// `admin`), on `page`.
pub async fn signed_in(app: &TestApp, username: &str, admin: bool, page: &str) -> (Browser, Step) {
    let id = app.user(username, PASSWORD).await;
    if admin {
        let _ = store::groups::insert(&app.db, "admin", monban::unix_now()).await;
        store::groups::add_member(&app.db, id, "admin")
            .await
            .unwrap();
    }
    let browser = Browser::new();
    let login = browser.follow(app, browser.get(&app.url(page)).await).await;
    assert!(login.is_login(), "{login:?}");
    let step = browser.submit_login(app, &login, username, PASSWORD).await;
    (browser, step)
}

/// Posts a form of the page at `step` and follows where it leads.
pub async fn post(
    app: &TestApp,
    browser: &Browser,
    step: &Step,
    path: &str,
    form: &[(&str, &str)],
) -> Step {
    let csrf = hidden(step.page_body(), "csrf");
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    let r = browser.post_form(&app.url(path), &fields).await;
    browser.follow(app, r).await
}

db_test!(only_admins_get_in, async |app: TestApp| {
    let (browser, step) = signed_in(&app, "mallory", false, "/admin/users").await;
    assert_eq!(step.status(), 403, "{step:?}");
    assert!(step.page_body().contains("not in the admin group"));
    let r = browser.get(&app.url("/admin/clients")).await;
    assert_eq!(r.status(), 403);
    // Posting changes nothing either (with the session's valid CSRF token).
    let account = browser
        .follow(&app, browser.get(&app.url("/account")).await)
        .await;
    let csrf = hidden(account.page_body(), "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("action", "create"),
        ("name", "evil"),
    ];
    let r = browser.post_form(&app.url("/admin/groups"), &form).await;
    assert_eq!(r.status(), 403);
    let groups = store::groups::list(&app.db).await.unwrap();
    assert!(groups.iter().all(|g| g.name != "evil"));
    // Posting changes nothing either (the session's CSRF token is valid).
    let account = browser
        .follow(&app, browser.get(&app.url("/account")).await)
        .await;
    let csrf = hidden(account.page_body(), "csrf");
    let r = browser
        .post_form(
            &app.url("/admin/groups"),
            &[("csrf", &csrf), ("action", "create"), ("name", "evil")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert!(
        store::groups::list(&app.db)
            .await
            .unwrap()
            .iter()
            .all(|g| g.name != "evil")
    );
    // Not signed in: to the login, which comes back here.
    let stranger = Browser::new();
    let step = stranger
        .follow(&app, stranger.get(&app.url("/admin/keys")).await)
        .await;
    assert!(step.is_login());
});

db_test!(
    admins_manage_users_groups_and_keys_through_the_pages,
    async |app: TestApp| {
        let (browser, users) = signed_in(&app, "root", true, "/admin/users").await;
        assert!(users.is_page("/admin/users"), "{users:?}");
        assert!(users.page_body().contains("root"));

        // A user, with a generated password shown once.
        let created = post(
            &app,
            &browser,
            &users,
            "/admin/users",
            &[("username", "dana"), ("email", "dana@example.com")],
        )
        .await;
        assert_eq!(created.status(), 200, "{created:?}");
        let body = created.page_body();
        assert!(body.contains("id=\"password-once\""), "{body}");
        let dana = store::users::find(&app.db, "dana").await.unwrap().unwrap();
        let again = browser
            .follow(
                &app,
                browser
                    .get(&app.url(&format!("/admin/users/{}", dana.id)))
                    .await,
            )
            .await;
        assert!(
            !again.page_body().contains("password-once"),
            "shown once only"
        );
        // A bad one: the API's message, nothing created.
        let refused = post(
            &app,
            &browser,
            &users,
            "/admin/users",
            &[
                ("username", "has space"),
                ("email", "space@example.com"),
                ("name", "Spacey"),
                ("password", "typed but never echoed"),
            ],
        )
        .await;
        assert_eq!(refused.status(), 422, "{refused:?}");
        assert!(
            refused.page_body().contains("class=\"alert\""),
            "{refused:?}"
        );
        // The form comes back as typed, the password excepted.
        let body = refused.page_body();
        assert_eq!(input_value(body, "username"), "has space");
        assert_eq!(input_value(body, "email"), "space@example.com");
        assert_eq!(input_value(body, "name"), "Spacey");
        assert!(!body.contains("typed but never echoed"));
        assert!(
            store::users::find(&app.db, "has space")
                .await
                .unwrap()
                .is_none()
        );

        // A refused profile change keeps what was typed, changes nothing.
        let path = format!("/admin/users/{}", dana.id);
        let bad = [
            ("action", "profile"),
            ("email", "not an email"),
            ("name", "Dana D."),
        ];
        let refused = post(&app, &browser, &again, &path, &bad).await;
        assert_eq!(refused.status(), 422, "{refused:?}");
        assert_eq!(input_value(refused.page_body(), "email"), "not an email");
        assert_eq!(input_value(refused.page_body(), "name"), "Dana D.");
        let still = store::users::find(&app.db, "dana").await.unwrap().unwrap();
        assert_eq!(still.email.as_deref(), Some("dana@example.com"));

        // Disable her, from her page.
        let done = post(&app, &browser, &again, &path, &[("action", "disable")]).await;
        assert!(done.page_body().contains("Saved."), "{done:?}");
        assert!(
            store::users::find_by_id(&app.db, dana.id)
                .await
                .unwrap()
                .unwrap()
                .disabled
        );

        // Groups and keys.
        let groups = browser
            .follow(&app, browser.get(&app.url("/admin/groups")).await)
            .await;
        let done = post(
            &app,
            &browser,
            &groups,
            "/admin/groups",
            &[("action", "create"), ("name", "finance")],
        )
        .await;
        assert!(done.page_body().contains("finance"));
        let keys = browser
            .follow(&app, browser.get(&app.url("/admin/keys")).await)
            .await;
        let unsure = post(&app, &browser, &keys, "/admin/keys", &[("mode", "safe")]).await;
        assert!(!unsure.page_body().contains("Saved."), "needs I am sure");
        let confirmed = [("mode", "safe"), ("confirm", "yes")];
        let rotated = post(&app, &browser, &keys, "/admin/keys", &confirmed).await;
        assert!(rotated.page_body().contains("Saved."), "{rotated:?}");

        // No form is taken without the session's CSRF token.
        let user_page = format!("/admin/users/{}", dana.id);
        for (path, action) in [
            ("/admin/users", ""),
            (user_page.as_str(), "enable"),
            ("/admin/groups", "create"),
            ("/admin/clients", ""),
            ("/admin/clients/monban-account", "rotate"),
            ("/admin/keys", ""),
        ] {
            let form = [
                ("csrf", "forged"),
                ("action", action),
                ("name", "x"),
                ("username", "x"),
                ("client_name", "x"),
                ("mode", "now"),
                ("confirm", "yes"),
            ];
            let r = browser.post_form(&app.url(path), &form).await;
            assert_eq!(r.status(), 400, "{path}");
        }
        let groups = store::groups::list(&app.db).await.unwrap();
        assert!(groups.iter().all(|g| g.name != "x"));
        assert!(store::users::find(&app.db, "x").await.unwrap().is_none());
        let still = store::users::find_by_id(&app.db, dana.id).await.unwrap();
        assert!(still.unwrap().disabled);

        // Deleting asks "I am sure"; an admin cannot delete themselves.
        let page = browser
            .follow(&app, browser.get(&app.url(&user_page)).await)
            .await;
        let unsure = post(&app, &browser, &page, &user_page, &[("action", "delete")]).await;
        assert!(unsure.page_body().contains("I am sure"), "{unsure:?}");
        assert!(
            store::users::find_by_id(&app.db, dana.id)
                .await
                .unwrap()
                .is_some()
        );
        let root = store::users::find(&app.db, "root").await.unwrap().unwrap();
        let own = format!("/admin/users/{}", root.id);
        let page = browser
            .follow(&app, browser.get(&app.url(&own)).await)
            .await;
        let sure = [("action", "delete"), ("confirm", "yes")];
        let refused = post(&app, &browser, &page, &own, &sure).await;
        assert!(refused.page_body().contains("yourself"), "{refused:?}");
        let deleted = post(&app, &browser, &page, &user_page, &sure).await;
        assert!(deleted.is_page("/admin/users"), "{deleted:?}");
        assert!(deleted.page_body().contains("Saved."));
        assert!(
            store::users::find_by_id(&app.db, dana.id)
                .await
                .unwrap()
                .is_none()
        );

        // Everything was done as root, on the pages: in the audit log,
        // which the pages show.
        for kind in [
            "user.deleted",
            "user.created",
            "user.disabled",
            "group.created",
            "keys.rotated",
        ] {
            let events = app.audit(kind).await;
            assert_eq!(events.len(), 1, "{kind}");
            assert_eq!(events[0]["actor"], format!("user:{}", root.id), "{kind}");
            assert_eq!(events[0]["detail"]["via"], "admin pages", "{kind}");
            assert_eq!(
                events[0]["user_agent"],
                crate::browser::USER_AGENT,
                "{kind}"
            );
        }
        let audit = browser
            .follow(
                &app,
                browser
                    .get(&app.url("/admin/audit?type=user.created"))
                    .await,
            )
            .await;
        assert!(events_of(audit.page_body()).contains("user.created"));
        assert!(
            !events_of(audit.page_body()).contains("keys.rotated"),
            "filtered"
        );
    }
);

db_test!(
    admins_create_clients_and_see_the_secret_once,
    async |app: TestApp| {
        let (browser, clients) = signed_in(&app, "root", true, "/admin/clients").await;
        let created = post(
            &app,
            &browser,
            &clients,
            "/admin/clients",
            &[
                ("client_name", "Billing"),
                ("client_id", "billing"),
                ("token_endpoint_auth_method", "client_secret_basic"),
                ("redirect_uris", ""),
                ("scope", ""),
            ],
        )
        .await;
        let body = created.page_body();
        let marker = "id=\"client-secret\">";
        let start = body.find(marker).unwrap_or_else(|| panic!("{body}")) + marker.len();
        let secret = body[start..body[start..].find('<').unwrap() + start].to_owned();
        let billing = TestClient {
            id: "billing".into(),
            secret: secret.clone(),
        };
        assert_eq!(
            app.token(&billing, &[]).await.status(),
            200,
            "the secret works"
        );
        let shown = browser
            .follow(&app, browser.get(&app.url("/admin/clients/billing")).await)
            .await;
        assert!(shown.page_body().contains("billing"));
        assert!(!shown.page_body().contains(&secret), "never shown again");
        // A new secret, shown once; the old one stops working.
        let rotated = post(
            &app,
            &browser,
            &shown,
            "/admin/clients/billing",
            &[("action", "rotate")],
        )
        .await;
        assert!(rotated.page_body().contains("client-secret"));
        assert_eq!(app.token(&billing, &[]).await.status(), 401);
    }
);

/// The rows of the audit log's table (the filter lists every type).
fn events_of(body: &str) -> &str {
    match (body.find("<tbody>"), body.find("</tbody>")) {
        (Some(start), Some(end)) => &body[start..end],
        _ => "",
    }
}

/// The value of the input `name` on a page (its `value` attribute).
fn input_value(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"));
    let tag = &body[at..at + body[at..].find('>').unwrap()];
    let start = tag.find("value=\"").unwrap_or_else(|| panic!("{tag}")) + "value=\"".len();
    tag[start..start + tag[start..].find('"').unwrap()].to_owned()
}

/// The text of the textarea `name` on a page.
fn textarea(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"));
    let start = at + body[at..].find('>').unwrap() + 1;
    let end = start + body[start..].find("</textarea>").unwrap();
    body[start..end].to_owned()
}

db_test!(
    admins_create_and_edit_every_client_setting_on_the_pages,
    async |app: TestApp| {
        let (browser, clients) = signed_in(&app, "root", true, "/admin/clients").await;
        monban::store::groups::insert(&app.db, "services", monban::unix_now())
            .await
            .unwrap();
        // Refused (a redirect URI with a fragment): 422, and the form comes
        // back as typed, saying why.
        let typed = [
            ("client_name", "Team Wiki"),
            ("client_id", "wiki"),
            ("token_endpoint_auth_method", "client_secret_post"),
            ("grant_types", "authorization_code"),
            ("grant_types", "refresh_token"),
            ("application_type", "web"),
            ("redirect_uris", "https://wiki.example.com/cb#frag"),
            ("post_logout_redirect_uris", "https://wiki.example.com/"),
            ("scope", "openid profile wiki:read"),
            ("audience", "https://api.example.com/wiki"),
            ("access_token_format", "opaque"),
            ("groups", "services"),
            ("backchannel_logout_uri", "https://wiki.example.com/bcl"),
            ("first_party", "true"),
            ("require_pushed_authorization_requests", "true"),
        ];
        let refused = post(&app, &browser, &clients, "/admin/clients", &typed).await;
        assert_eq!(refused.status(), 422, "{refused:?}");
        let body = refused.page_body();
        assert!(body.contains("role=\"alert\""), "{body}");
        assert!(body.contains("fragment"), "says why: {body}");
        assert_eq!(input_value(body, "client_name"), "Team Wiki");
        assert_eq!(input_value(body, "client_id"), "wiki");
        assert_eq!(
            textarea(body, "redirect_uris"),
            "https://wiki.example.com/cb#frag"
        );
        assert_eq!(textarea(body, "audience"), "https://api.example.com/wiki");
        assert!(
            body.contains("<option value=\"client_secret_post\" selected>"),
            "{body}"
        );
        assert!(
            body.contains("<option value=\"opaque\" selected>"),
            "{body}"
        );
        assert!(body.contains("value=\"refresh_token\" checked"), "{body}");
        assert!(
            !body.contains("value=\"client_credentials\" checked"),
            "{body}"
        );
        assert!(
            store::clients::find(&app.db, "wiki")
                .await
                .unwrap()
                .is_none()
        );

        // Corrected: every setting lands as typed.
        let mut fixed = typed.to_vec();
        fixed[6] = (
            "redirect_uris",
            "https://wiki.example.com/cb\r\nhttps://wiki.example.com/cb2",
        );
        let created = post(&app, &browser, &refused, "/admin/clients", &fixed).await;
        assert_eq!(created.status(), 200, "{created:?}");
        assert!(created.page_body().contains("id=\"client-secret\""));
        let wiki = store::clients::find(&app.db, "wiki")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(wiki.name, "Team Wiki");
        assert_eq!(
            wiki.token_endpoint_auth_method.to_string(),
            "client_secret_post"
        );
        assert_eq!(
            wiki.redirect_uris,
            [
                "https://wiki.example.com/cb",
                "https://wiki.example.com/cb2"
            ]
        );
        assert_eq!(
            wiki.post_logout_redirect_uris,
            ["https://wiki.example.com/"]
        );
        assert_eq!(wiki.audiences, ["https://api.example.com/wiki"]);
        assert_eq!(
            wiki.access_token_format.map(|f| f.to_string()).as_deref(),
            Some("opaque")
        );
        assert_eq!(
            wiki.backchannel_logout_uri.as_deref(),
            Some("https://wiki.example.com/bcl")
        );
        assert!(wiki.first_party && wiki.require_pushed_authorization_requests);
        assert_eq!(wiki.scopes.to_string(), "openid profile wiki:read");
        assert_eq!(
            store::groups::of_client(&app.db, "wiki").await.unwrap(),
            ["services"]
        );

        // Its page shows every setting as a value (no form wording), the
        // groups by name, and an edit form filled with them.
        let page = browser
            .follow(&app, browser.get(&app.url("/admin/clients/wiki")).await)
            .await;
        let body = page.page_body();
        let facts = &body[..body.find("id=\"edit-client\"").unwrap()];
        assert!(
            !facts.contains("one per line") && !facts.contains("One per line"),
            "{facts}"
        );
        assert!(
            facts.contains("<code>https://wiki.example.com/cb2</code>"),
            "{facts}"
        );
        assert!(facts.contains(">services</a>"), "{facts}");
        assert!(facts.contains("client_secret_post"), "{facts}");
        let form = &body[body.find("id=\"edit-client\"").unwrap()..];
        assert_eq!(input_value(form, "client_name"), "Team Wiki");
        assert_eq!(
            textarea(form, "post_logout_redirect_uris"),
            "https://wiki.example.com/"
        );
        assert!(!form.contains("name=\"client_id\""), "the id cannot change");

        // Edited: a public SPA now, with the server's default token format
        // and no groups; the change is audited with what changed.
        let edit = [
            ("action", "update"),
            ("client_name", "Team Wiki SPA"),
            ("token_endpoint_auth_method", "none"),
            ("grant_types", "authorization_code"),
            ("application_type", "web"),
            ("redirect_uris", "https://wiki.example.com/cb"),
            ("post_logout_redirect_uris", ""),
            ("scope", "openid"),
            ("audience", ""),
            ("access_token_format", ""),
            ("groups", ""),
            ("backchannel_logout_uri", ""),
        ];
        let saved = post(&app, &browser, &page, "/admin/clients/wiki", &edit).await;
        assert!(saved.is_page("/admin/clients/wiki"), "{saved:?}");
        assert!(saved.page_body().contains("role=\"status\""), "saved");
        let wiki = store::clients::find(&app.db, "wiki")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(wiki.name, "Team Wiki SPA");
        assert_eq!(wiki.token_endpoint_auth_method.to_string(), "none");
        assert!(
            wiki.secret_hash.is_none(),
            "a public client keeps no secret"
        );
        assert_eq!(wiki.access_token_format, None);
        assert!(!wiki.first_party && !wiki.require_pushed_authorization_requests);
        assert!(
            store::groups::of_client(&app.db, "wiki")
                .await
                .unwrap()
                .is_empty()
        );
        let updated = app.audit("client.updated").await;
        assert_eq!(updated[0]["detail"]["via"], "admin pages");
        let changed = updated[0]["detail"]["changed"].to_string();
        assert!(
            changed.contains("token_endpoint_auth_method") && changed.contains("\"name\""),
            "{changed}"
        );

        // A refused edit keeps what was typed and changes nothing.
        let bad = [
            ("action", "update"),
            ("client_name", "Renamed"),
            ("token_endpoint_auth_method", "none"),
            ("redirect_uris", "not a uri"),
        ];
        let refused = post(&app, &browser, &saved, "/admin/clients/wiki", &bad).await;
        assert_eq!(refused.status(), 422, "{refused:?}");
        let form = &refused.page_body()[refused.page_body().find("id=\"edit-client\"").unwrap()..];
        assert_eq!(input_value(form, "client_name"), "Renamed");
        assert_eq!(textarea(form, "redirect_uris"), "not a uri");
        let wiki = store::clients::find(&app.db, "wiki")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(wiki.name, "Team Wiki SPA", "nothing changed");

        // Back to confidential: a secret is made, shown once.
        let confidential = [
            ("action", "update"),
            ("client_name", "Team Wiki"),
            ("token_endpoint_auth_method", "client_secret_basic"),
            ("redirect_uris", "https://wiki.example.com/cb"),
        ];
        let page = browser
            .follow(&app, browser.get(&app.url("/admin/clients/wiki")).await)
            .await;
        let with_secret = post(&app, &browser, &page, "/admin/clients/wiki", &confidential).await;
        assert!(
            with_secret.page_body().contains("id=\"client-secret\""),
            "{with_secret:?}"
        );
    }
);

db_test!(
    the_audit_log_names_people_and_clients,
    async |app: TestApp| {
        let (browser, users) = signed_in(&app, "root", true, "/admin/users").await;
        let root = store::users::find(&app.db, "root").await.unwrap().unwrap();
        post(
            &app,
            &browser,
            &users,
            "/admin/users",
            &[("username", "erin")],
        )
        .await;
        let clients = browser
            .follow(&app, browser.get(&app.url("/admin/clients")).await)
            .await;
        post(
            &app,
            &browser,
            &clients,
            "/admin/clients",
            &[("client_name", "Reports"), ("client_id", "reports")],
        )
        .await;
        let erin = store::users::find(&app.db, "erin").await.unwrap().unwrap();

        let audit = browser
            .follow(&app, browser.get(&app.url("/admin/audit")).await)
            .await;
        let body = audit.page_body();
        // People and clients by name, linking to their pages; no raw ids.
        assert!(
            body.contains(&format!("<a href=\"/admin/users/{}\">root</a>", root.id)),
            "{body}"
        );
        assert!(
            body.contains(&format!("<a href=\"/admin/users/{}\">erin</a>", erin.id)),
            "{body}"
        );
        assert!(
            body.contains("<a href=\"/admin/clients/reports\">Reports (reports)</a>"),
            "{body}"
        );
        assert!(!body.contains(&format!("user:{}", root.id)), "{body}");
        // Details as key and value, not JSON.
        assert!(body.contains("<dt>via</dt><dd>admin pages</dd>"), "{body}");
        assert!(!body.contains("{&quot;"), "{body}");
        // Labelled filters, by name.
        for id in ["filter-type", "filter-user", "filter-client"] {
            assert!(
                body.contains(&format!("<label for=\"{id}\">")),
                "{id}: {body}"
            );
        }
        let by_user = browser
            .follow(&app, browser.get(&app.url("/admin/audit?user=erin")).await)
            .await;
        let body = by_user.page_body();
        assert!(events_of(body).contains("user.created"), "{body}");
        assert!(!events_of(body).contains("client.created"), "{body}");
        assert!(body.contains("value=\"erin\""), "the filter stays: {body}");
        let by_client = browser
            .follow(
                &app,
                browser
                    .get(&app.url("/admin/audit?client=reports&type=client.created"))
                    .await,
            )
            .await;
        let body = by_client.page_body();
        assert!(
            events_of(body).contains("client.created") && !events_of(body).contains("user.created"),
            "{body}"
        );
        assert!(
            body.contains("<option value=\"client.created\" selected>"),
            "{body}"
        );
        let nobody = browser
            .follow(
                &app,
                browser.get(&app.url("/admin/audit?user=nobody")).await,
            )
            .await;
        assert!(
            nobody.page_body().contains("No user has that username"),
            "{nobody:?}"
        );
        let ja = browser.page_in(&app.url("/admin/audit"), "ja").await;
        assert!(
            ja.contains("ユーザー（ユーザー名）") && !ja.contains("User (username)"),
            "{ja}"
        );
    }
);

db_test!(the_admin_pages_speak_japanese, async |app: TestApp| {
    let (browser, _) = signed_in(&app, "root", true, "/admin/users").await;
    let r = browser
        .http
        .get(app.url("/admin/users"))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("lang=\"ja\""));
    assert!(
        body.contains("ユーザー") && body.contains("監査ログ"),
        "{body}"
    );
    for english in [
        "Users",
        "Search",
        "New user",
        "Create",
        "Next page",
        "Signed in as",
    ] {
        assert!(!body.contains(english), "{english} in the Japanese page");
    }
    let r = browser
        .http
        .get(app.url("/admin/clients"))
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(
        body.contains("クライアント ID") && !body.contains("Client ID"),
        "{body}"
    );
    for english in [
        "Redirect URIs",
        "Grant types",
        "Audiences",
        "One per line",
        "Create",
    ] {
        assert!(!body.contains(english), "{english} in the Japanese page");
    }
    let unknown = browser.get(&app.url("/admin/clients/nope")).await;
    assert_eq!(unknown.status(), 404);
});

db_test!(
    an_admin_cannot_lock_themselves_out_on_the_pages_either,
    async |app: TestApp| {
        // The rule the API keeps (admin_api.rs), held by the one operation
        // the pages call too.
        let (browser, users) = signed_in(&app, "root", true, "/admin/users").await;
        let root = store::users::find(&app.db, "root").await.unwrap().unwrap();
        let page = format!("/admin/users/{}", root.id);
        let own = browser
            .follow(&app, browser.get(&app.url(&page)).await)
            .await;
        assert!(own.is_page(&page), "{own:?}");
        for form in [
            vec![("action", "disable")],
            vec![("action", "delete"), ("confirm", "yes")],
            vec![("action", "leave"), ("group", "admin")],
        ] {
            let refused = post(&app, &browser, &own, &page, &form).await;
            assert!(
                refused.page_body().contains("yourself"),
                "{form:?}: {refused:?}"
            );
        }
        // Nor delete the admin group, which would lock every admin out.
        let groups = browser
            .follow(&app, browser.get(&app.url("/admin/groups")).await)
            .await;
        let form = [("action", "delete"), ("name", "admin")];
        let refused = post(&app, &browser, &groups, "/admin/groups", &form).await;
        assert!(
            refused.page_body().contains("lock every admin out"),
            "{refused:?}"
        );
        let root = store::users::find(&app.db, "root").await.unwrap().unwrap();
        assert!(!root.disabled);
        let groups = store::groups::of_user(&app.db, root.id).await.unwrap();
        assert_eq!(groups, ["admin"]);
        // Still signed in and let in.
        let again = browser
            .follow(&app, browser.get(&app.url("/admin/users")).await)
            .await;
        assert!(again.is_page("/admin/users"), "{again:?} {users:?}");
    }
);
