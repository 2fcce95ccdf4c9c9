//! The gateway session over HTTP, as a gateway and a browser see it: the
//! cookie a sign-in sets for the parent domain, `/forward_auth` answering
//! with `Remote-*` headers, the login redirect (302, or 401 with `Location`
//! for nginx), step-up for a route's `acr`, the 403 page, sign-out, the
//! return targets allowed, binding to the SSO session and the idle timer.
//! The same journey through real gateways and Chromium is in
//! `gateway_apps`.

use monban::store::{self, Db};
use serde_json::Value;

use crate::browser::{Browser, Step, hidden};
use crate::db_test;
use crate::helpers::TestApp;
use crate::token::verify_with_jwks;

/// The policy file the docs show for apps without OIDC.
pub const APPS_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/gateways/apps-policy.toml"
);
/// monban's host, and the parent domain its gateway cookie is for (names
/// the tests' HTTP clients and Chromium map to 127.0.0.1).
pub const AUTH_HOST: &str = "auth.monban.test";
pub const DOMAIN: &str = "monban.test";
pub const PASSWORD: &str = "correct horse battery staple";
const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";
const APP_ONE: &str = "http://app1.monban.test:8000";

/// What the gateway asks about a request for `url`: its method and
/// forwarded headers, the browser's `Accept` and cookies.
async fn ask(
    app: &TestApp,
    url: &str,
    accept: &str,
    cookie: Option<&str>,
    query: &str,
) -> reqwest::Response {
    let u = url::Url::parse(url).unwrap();
    let host = match u.port() {
        Some(port) => format!("{}:{port}", u.host_str().unwrap()),
        None => u.host_str().unwrap().to_owned(),
    };
    let uri = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    let mut request = app
        .http
        .get(format!("{}{query}", app.url("/forward_auth")))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", uri)
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Proto", u.scheme())
        .header("Accept", accept);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// The gateway cookie `browser` holds for the apps.
fn gateway_cookie(browser: &Browser) -> String {
    let cookies = browser.cookies_for(&format!("{APP_ONE}/"));
    let value = cookies
        .split("; ")
        .find_map(|c| c.strip_prefix("monban_gateway="))
        .unwrap_or_else(|| panic!("no gateway cookie in {cookies:?}"));
    format!("monban_gateway={value}")
}

pub fn browser_for(app: &TestApp) -> Browser {
    Browser::resolving(&[AUTH_HOST], app.addr)
}

/// Opens `url` of an app as a browser not signed in would: sent to the
/// login page, signs in, and comes back to `url`.
async fn sign_in(app: &TestApp, browser: &Browser, url: &str, username: &str) {
    let r = ask(app, url, HTML, None, "").await;
    assert_eq!(r.status(), 302, "not signed in: to the login page");
    let login = location(&r);
    let step = browser.follow(app, browser.get(&login).await).await;
    assert!(step.is_login(), "{step:?}");
    let step = browser.submit_login(app, &step, username, PASSWORD).await;
    match step {
        Step::Redirect(to) => assert_eq!(to, url, "back where the browser was going"),
        other => panic!("expected the way back to {url}: {other:?}"),
    }
}

async fn gateway_tokens(db: &Db) -> i64 {
    const SQL: &str = "SELECT COUNT(*) FROM gateway_sessions";
    match db {
        Db::Postgres(p) => sqlx::query_scalar(SQL).fetch_one(p).await.unwrap(),
        Db::Sqlite(p) => sqlx::query_scalar(SQL).fetch_one(p).await.unwrap(),
    }
}

async fn session_expiry(db: &Db) -> i64 {
    const SQL: &str = "SELECT MAX(expires_at) FROM sessions WHERE sid IS NOT NULL";
    match db {
        Db::Postgres(p) => sqlx::query_scalar(SQL).fetch_one(p).await.unwrap(),
        Db::Sqlite(p) => sqlx::query_scalar(SQL).fetch_one(p).await.unwrap(),
    }
}

db_test!(
    a_browser_signs_in_once_for_every_app_and_out_of_all,
    [
        ("TEST_ISSUER_HOST", AUTH_HOST),
        ("MONBAN_GATEWAY_COOKIE_DOMAIN", DOMAIN),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("MONBAN_POLICY_FILE", APPS_POLICY),
    ],
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let dashboard = format!("{APP_ONE}/dashboard?tab=1");

        // Not signed in: a browser navigation goes to the login page with
        // the URL to come back to; nginx's auth_request gets a 401 with the
        // same Location; an API call a 401 with a challenge.
        let r = ask(&app, &dashboard, HTML, None, "").await;
        assert_eq!(r.status(), 302);
        let login = location(&r);
        let expected: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("rd", &dashboard)
            .finish();
        assert_eq!(login, format!("{}?{expected}", app.url("/login")));
        assert_eq!(r.headers()["cache-control"], "no-store");
        let r = ask(&app, &dashboard, HTML, None, "?login_status=401").await;
        assert_eq!(r.status(), 401);
        assert_eq!(location(&r), login);
        let r = ask(&app, &dashboard, "application/json", None, "").await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("location").is_none());
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Cookie realm=\"monban\"")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "login_required");
        // A bearer token does not open a session route.
        let r = app
            .http
            .get(app.url("/forward_auth"))
            .bearer_auth("anything")
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", "/dashboard")
            .header("X-Forwarded-Host", "app1.monban.test")
            .header("X-Forwarded-Proto", "http")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);

        // Signing in sets the gateway cookie for the parent domain.
        let browser = browser_for(&app);
        sign_in(&app, &browser, &dashboard, "alice").await;
        let cookie = gateway_cookie(&browser);
        let again = browser.get(&login).await;
        assert_eq!(again.status(), 303, "signed in: straight back");
        let set: Vec<&str> = again
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .filter(|v| v.starts_with("monban_gateway="))
            .collect();
        assert_eq!(set.len(), 1, "{set:?}");
        for part in ["Domain=monban.test", "Path=/", "HttpOnly", "SameSite=Lax"] {
            assert!(set[0].contains(part), "{} lacks {part}", set[0]);
        }
        assert!(!set[0].contains("Secure"), "http: not Secure");
        let cookie_after = gateway_cookie(&browser);
        assert_ne!(cookie_after, cookie, "a new token, the old one withdrawn");
        let r = ask(&app, &dashboard, HTML, Some(&cookie), "").await;
        assert_eq!(r.status(), 302, "the replaced token is gone");
        let cookie = cookie_after;

        // Signed in: who it is, for every app under the domain.
        for url in [&dashboard, "http://app2.monban.test:8000/"] {
            let r = ask(&app, url, HTML, Some(&cookie), "").await;
            assert_eq!(r.status(), 200, "{url}");
            let h = r.headers();
            assert_eq!(h["remote-user"], "alice");
            assert_eq!(h["remote-name"], "Some One");
            assert_eq!(h["remote-email"], "alice@example.com");
            assert_eq!(h["remote-groups"], "");
            assert_eq!(h["x-monban-subject"], alice.to_string().as_str());
            assert_eq!(h["authorization"], "", "no JWT unless asked for");
        }
        // A route that asks for one gets a JWT for its audience.
        let r = ask(
            &app,
            &format!("{APP_ONE}/reports/q3"),
            HTML,
            Some(&cookie),
            "",
        )
        .await;
        assert_eq!(r.status(), 200);
        let jwt = r.headers()["authorization"].to_str().unwrap();
        let jwt = jwt.strip_prefix("Bearer ").unwrap().to_owned();
        let claims = verify_with_jwks(&app, &jwt, "https://reports.example.com").await;
        assert_eq!(claims["sub"], alice.to_string().as_str());
        assert_eq!(claims["client_id"], "monban-gateway");
        assert_eq!(claims["acr"], "1");
        let r = ask(
            &app,
            &format!("{APP_ONE}/reports/q4"),
            HTML,
            Some(&cookie),
            "",
        )
        .await;
        let second = r.headers()["authorization"].to_str().unwrap();
        assert_eq!(second, format!("Bearer {jwt}"), "reused while fresh");

        // The gateway cookie is nothing on monban's own pages.
        let stranger = browser_for(&app);
        let r = stranger
            .http
            .get(app.url("/account"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        let step = stranger.follow(&app, r).await;
        assert!(step.is_login(), "{step:?}");

        // Outside the staff group: a 403 page in the browser's language,
        // JSON for an API.
        let staff = format!("{APP_ONE}/staff/rota");
        let r = app
            .http
            .get(app.url("/forward_auth"))
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", "/staff/rota")
            .header("X-Forwarded-Host", "app1.monban.test:8000")
            .header("X-Forwarded-Proto", "http")
            .header("Accept", HTML)
            .header("Accept-Language", "ja")
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let body = r.text().await.unwrap();
        assert!(body.contains("アクセスできません"), "{body}");
        assert!(body.contains("alice"), "{body}");
        let r = ask(&app, &staff, "application/json", Some(&cookie), "").await;
        assert_eq!(r.status(), 403);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "access_denied");

        // A route that needs a second factor sends a password session to
        // step up, keeping the URL.
        let billing = format!("{APP_ONE}/billing");
        let r = ask(&app, &billing, HTML, Some(&cookie), "").await;
        assert_eq!(r.status(), 302);
        let step_up = location(&r);
        assert!(step_up.ends_with("&acr=mfa"), "{step_up}");
        let r = ask(&app, &billing, "application/json", Some(&cookie), "").await;
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "insufficient_user_authentication");

        // No open redirect: a return target outside the gateway's domains
        // is refused at sign-in and at sign-out, and /forward_auth does not
        // send a browser to sign in for it.
        for path in ["/login", "/logout"] {
            for rd in [
                "https://evil.example.net/",
                "https://monban.test.evil.example.net/",
                "http://app1.monban.test@evil.example.net/",
                "javascript:alert(1)",
            ] {
                let url = format!("{}?rd={}", app.url(path), crate::helpers::urlencode(rd));
                let r = browser.get(&url).await;
                assert_eq!(r.status(), 400, "{path} {rd}");
                assert!(r.headers().get("location").is_none());
            }
        }
        let r = ask(&app, "http://evil.example.net/", HTML, None, "").await;
        assert_eq!(
            r.status(),
            401,
            "no sign-in for a host of no gateway domain"
        );

        // A sign-out link of another site, an image of any page, a browser
        // that says nothing: each only asks.
        let logout = format!(
            "{}?rd={}",
            app.url("/logout"),
            crate::helpers::urlencode(&format!("{APP_ONE}/"))
        );
        let app_page = format!("{APP_ONE}/dashboard");
        let elsewhere = "https://blog.example.org/post";
        for metadata in [
            &[
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "navigate"),
                ("Sec-Fetch-Dest", "document"),
            ][..],
            &[
                ("Sec-Fetch-Site", "same-site"),
                ("Sec-Fetch-Mode", "no-cors"),
                ("Sec-Fetch-Dest", "image"),
                ("Referer", &app_page),
            ][..],
            &[
                ("Sec-Fetch-Site", "same-site"),
                ("Sec-Fetch-Mode", "navigate"),
                ("Sec-Fetch-Dest", "iframe"),
                ("Referer", &app_page),
            ][..],
            &[
                ("Sec-Fetch-Site", "same-site"),
                ("Sec-Fetch-Mode", "navigate"),
                ("Sec-Fetch-Dest", "document"),
                ("Referer", elsewhere),
            ][..],
            &[],
        ] {
            let mut request = browser.http.get(&logout);
            for (name, value) in metadata {
                request = request.header(*name, *value);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 303, "{metadata:?}");
            assert!(
                location(&r).contains("/logout?rid="),
                "asks first: {metadata:?}"
            );
        }
        let r = ask(&app, &dashboard, HTML, Some(&cookie), "").await;
        assert_eq!(r.status(), 200, "still signed in");

        // Signing out on one app signs the browser out of all of them.
        let r = browser
            .http
            .get(&logout)
            .header("Sec-Fetch-Site", "same-site")
            .header("Sec-Fetch-Mode", "navigate")
            .header("Sec-Fetch-Dest", "document")
            .header("Referer", &app_page)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), format!("{APP_ONE}/"));
        let removal = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with("monban_gateway="))
            .expect("the gateway cookie is removed");
        assert!(removal.contains("Max-Age=0"), "{removal}");
        for url in [&dashboard, "http://app2.monban.test:8000/"] {
            let r = ask(&app, url, HTML, Some(&cookie), "").await;
            assert_eq!(r.status(), 302, "{url}: signed out");
        }
        assert!(
            browser.session_cookie(&app).is_none() || {
                let r = browser.get(&app.url("/account")).await;
                browser.follow(&app, r).await.is_login()
            }
        );
    }
);

db_test!(
    a_gateway_session_steps_up_and_is_allowed,
    [
        ("TEST_ISSUER_HOST", AUTH_HOST),
        ("MONBAN_GATEWAY_COOKIE_DOMAIN", DOMAIN),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("MONBAN_POLICY_FILE", APPS_POLICY),
    ],
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let now = monban::unix_now();
        store::groups::insert(&app.db, "staff", now).await.unwrap();
        store::groups::add_member(&app.db, alice, "staff")
            .await
            .unwrap();
        let browser = browser_for(&app);
        let page = crate::mfa::account(&app, &browser, "alice").await;
        let (totp, _) = crate::mfa::enrol(&app, &browser, &page).await;

        // Signed in to monban with a password: the apps open at once.
        let url = format!("{APP_ONE}/staff");
        let r = ask(&app, &url, HTML, None, "").await;
        let step = browser.follow(&app, browser.get(&location(&r)).await).await;
        let Step::Redirect(back) = step else {
            panic!("signed in already: straight back, {step:?}")
        };
        assert_eq!(back, url);
        let cookie = gateway_cookie(&browser);
        let r = ask(&app, &url, HTML, Some(&cookie), "").await;
        assert_eq!(r.status(), 200, "in the staff group");
        assert_eq!(r.headers()["remote-groups"], "staff");

        // Billing needs a second factor: a step-up asks for the code only,
        // and the browser comes back with a cookie that opens it.
        let billing = format!("{APP_ONE}/billing/invoices");
        let r = ask(&app, &billing, HTML, Some(&cookie), "").await;
        assert_eq!(r.status(), 302);
        let step = browser.follow(&app, browser.get(&location(&r)).await).await;
        assert!(!step.is_login(), "a step-up asks no password: {step:?}");
        crate::mfa::fresh_step().await;
        let step = crate::mfa::submit_code(&app, &browser, &step, &totp.code(1)).await;
        let Step::Redirect(back) = step else {
            panic!("after the code, back to billing: {step:?}")
        };
        assert_eq!(back, billing);
        let stepped = gateway_cookie(&browser);
        let r = ask(&app, &billing, HTML, Some(&stepped), "").await;
        assert_eq!(r.status(), 200, "stepped up");
        assert_eq!(r.headers()["authorization"], "", "no JWT here");
        let r = ask(
            &app,
            &format!("{APP_ONE}/reports"),
            HTML,
            Some(&stepped),
            "",
        )
        .await;
        let jwt = r.headers()["authorization"].to_str().unwrap();
        let claims =
            verify_with_jwks(&app, &jwt["Bearer ".len()..], "https://reports.example.com").await;
        assert_eq!(claims["acr"], "mfa");
        assert_eq!(claims["groups"], serde_json::json!(["staff"]));

        // RP-initiated logout (an OIDC app's sign-out) ends the gateway
        // session with the SSO session, and removes the cookie.
        let step = browser
            .follow(&app, browser.get(&app.url("/end_session")).await)
            .await;
        let body = step.page_body();
        let (csrf, rid) = (hidden(body, "csrf"), hidden(body, "rid"));
        let form = [
            ("csrf", csrf.as_str()),
            ("rid", rid.as_str()),
            ("decision", "logout"),
        ];
        let r = browser.post_form(&app.url("/logout"), &form).await;
        assert_eq!(r.status(), 200, "the signed-out page");
        let removed = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("monban_gateway=;"));
        assert!(removed, "the gateway cookie is removed");
        let r = ask(&app, &billing, HTML, Some(&stepped), "").await;
        assert_eq!(r.status(), 302, "signed out of the apps too");
    }
);

db_test!(
    a_gateway_cookie_lives_and_ends_with_its_sso_session,
    [
        ("TEST_ISSUER_HOST", AUTH_HOST),
        ("MONBAN_GATEWAY_COOKIE_DOMAIN", DOMAIN),
        ("MONBAN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("MONBAN_POLICY_FILE", APPS_POLICY),
    ],
    async |app: TestApp| {
        let alice = app.user("alice", PASSWORD).await;
        let url = format!("{APP_ONE}/");
        let browser = browser_for(&app);
        sign_in(&app, &browser, &url, "alice").await;
        let cookie = gateway_cookie(&browser);
        assert_eq!(ask(&app, &url, HTML, Some(&cookie), "").await.status(), 200);

        // The idle timer: a request pushes it back when a minute or more
        // has gone, and does not write again within the minute.
        app.execute("UPDATE sessions SET expires_at = expires_at - 3000 WHERE sid IS NOT NULL")
            .await;
        // Seen afresh (the cache re-reads after RECHECK, or when it
        // thinks the session ended).
        let before = session_expiry(&app.db).await;
        tokio::time::sleep(monban::gateway_session::RECHECK).await;
        assert_eq!(ask(&app, &url, HTML, Some(&cookie), "").await.status(), 200);
        let pushed = session_expiry(&app.db).await;
        assert!(pushed >= before + 2900, "pushed back: {before} → {pushed}");
        app.execute("UPDATE sessions SET expires_at = expires_at - 30 WHERE sid IS NOT NULL")
            .await;
        for _ in 0..3 {
            assert_eq!(ask(&app, &url, HTML, Some(&cookie), "").await.status(), 200);
        }
        assert_eq!(
            session_expiry(&app.db).await,
            pushed - 30,
            "no write within the minute"
        );

        // Ended by an operator (every session of the user): the cookie
        // stops at once, on this instance without waiting for a re-read.
        let admin = app.admin_token().await;
        let r = app
            .http
            .delete(app.url(&format!("/admin/api/v1/users/{alice}/sessions")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        assert_eq!(ask(&app, &url, HTML, Some(&cookie), "").await.status(), 302);

        // A token is bound to its SSO session: a session row of the same
        // sid is what keeps it; made up, it is nothing.
        assert_eq!(
            ask(&app, &url, HTML, Some("monban_gateway=forged"), "")
                .await
                .status(),
            302
        );

        // Two sessions' cookies in one request (a sibling host planted its
        // own): neither is believed. One session's, twice, is fine.
        app.user("mallory", PASSWORD).await;
        let (one, two) = (browser_for(&app), browser_for(&app));
        sign_in(&app, &one, &url, "alice").await;
        sign_in(&app, &two, &url, "mallory").await;
        let (alice_cookie, mallory_cookie) = (gateway_cookie(&one), gateway_cookie(&two));
        let both = format!("{mallory_cookie}; {alice_cookie}");
        let r = ask(&app, &url, HTML, Some(&both), "").await;
        assert_eq!(r.status(), 403, "a page saying so, not a sign-in round");
        assert!(r.text().await.unwrap().contains("more than one session"));
        let three = format!("{alice_cookie}; monban_gateway=x; {alice_cookie}");
        let r = ask(&app, &url, "application/json", Some(&three), "").await;
        assert_eq!(r.status(), 403, "more cookies than a browser holds");
        let twice = format!("{alice_cookie}; {alice_cookie}");
        let r = ask(&app, &url, HTML, Some(&twice), "").await;
        assert_eq!(r.headers()["remote-user"], "alice");

        // A browser signing in through the gateway again and again (its
        // cookie never sent back, so never replaced) keeps a few tokens per
        // session, not one per visit.
        let again = format!(
            "{}?rd={}",
            app.url("/login"),
            crate::helpers::urlencode(&url)
        );
        let session = format!("monban_session={}", one.session_cookie(&app).unwrap());
        let before = gateway_tokens(&app.db).await;
        for _ in 0..12 {
            let r = app
                .http
                .get(&again)
                .header("Cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303);
        }
        let most = monban::gateway_session::TOKENS_PER_SESSION;
        let after = gateway_tokens(&app.db).await;
        assert!(
            after - before < most,
            "bounded per session: {before} → {after}"
        );
        // Its cache entry goes within RECHECK.
        tokio::time::sleep(monban::gateway_session::RECHECK).await;
        assert_eq!(
            ask(&app, &url, HTML, Some(&alice_cookie), "")
                .await
                .status(),
            302,
            "the oldest went"
        );
    }
);
