//! Revocation (RFC 7009): a client revokes its own tokens; opaque tokens
//! stop at once, JWTs are recorded by `jti`, refresh tokens take their grant
//! with them.

use monban::clients::ClientSettings;
use monban::store::{self, tokens::AccessToken};
use monban::tokens::random_secret;
use monban::types::TokenFormat;
use serde_json::{Value, json};
use sqlx::types::Json;

use crate::db_test;
use crate::helpers::{TestApp, insert_refresh_token, service_settings};

db_test!(
    revoked_opaque_token_is_inactive_at_once,
    async |app: TestApp| {
        let client = app
            .register(ClientSettings {
                access_token_format: Some(TokenFormat::Opaque),
                ..service_settings()
            })
            .await;
        let token = app.access_token(&client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(app.introspect(&client, &token).await["active"], true);
        let r = app
            .post_basic(
                "/revoke",
                &client,
                &[("token", &token), ("token_type_hint", "access_token")],
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(
            app.introspect(&client, &token).await,
            json!({"active": false})
        );
        // Revoking again is fine.
        let r = app
            .post_basic("/revoke", &client, &[("token", &token)])
            .await;
        assert_eq!(r.status(), 200);
    }
);

db_test!(revoked_jwt_is_recorded_by_jti, async |app: TestApp| {
    let client = app.service_client("").await;
    let token = app.access_token(&client, &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post_basic("/revoke", &client, &[("token", &token)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.count("revoked_jtis").await, 1);
    assert_eq!(
        app.introspect(&client, &token).await,
        json!({"active": false})
    );
    // Other tokens of the same client are unaffected.
    let other = app.access_token(&client, &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.introspect(&client, &other).await["active"], true);
});

db_test!(
    a_client_cannot_revoke_another_clients_token,
    async |app: TestApp| {
        let owner = app.service_client("").await;
        let intruder = app.service_client("").await;
        let token = app.access_token(&owner, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .post_basic("/revoke", &intruder, &[("token", &token)])
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unauthorized_client"
        );
        assert_eq!(app.count("revoked_jtis").await, 0);
        assert_eq!(app.introspect(&owner, &token).await["active"], true);
    }
);

db_test!(unknown_tokens_revoke_with_200, async |app: TestApp| {
    let client = app.service_client("").await;
    for token in ["nope", "a.b.c", random_secret().0.expose()] {
        let r = app
            .post_basic("/revoke", &client, &[("token", token)])
            .await;
        assert_eq!(r.status(), 200, "{token}");
    }
    let r = app.post_basic("/revoke", &client, &[]).await;
    assert_eq!(r.status(), 400, "token is required");
    let r = app.post_form("/revoke", &[("token", "x")]).await;
    assert_eq!(r.status(), 400, "client authentication is required");
});

db_test!(
    revoking_a_refresh_token_revokes_its_grant,
    async |app: TestApp| {
        let client = app.service_client("").await;
        let now = monban::unix_now();
        let family = uuid::Uuid::now_v7();
        let alice = app.user("alice", "correct horse battery staple").await;
        // As issuing a user's first tokens records it.
        store::grants::insert(
            &app.db,
            &store::grants::Grant {
                grant_id: family,
                user_id: alice,
                client_id: client.id.clone(),
                sid: None,
                created_at: now,
            },
        )
        .await
        .unwrap();
        let refresh = insert_refresh_token(&app, &client, family, "").await;
        let sibling = insert_refresh_token(&app, &client, family, "").await;
        let (access, access_hash) = random_secret();
        store::tokens::insert_access(
            &app.db,
            &AccessToken {
                token_hash: access_hash,
                jti: uuid::Uuid::new_v4().to_string(),
                client_id: client.id.clone(),
                user_id: Some(alice),
                grant_id: Some(family),
                scope: String::new(),
                audiences: Json(vec![app.issuer.clone()]),
                groups: None,
                act: None,
                auth_time: None,
                acr: None,
                amr: None,
                issued_at: now,
                expires_at: now + 300,
                revoked_at: None,
            },
        )
        .await
        .unwrap();
        let access = access.expose().to_owned();
        assert_eq!(app.introspect(&client, &access).await["active"], true);
        let r = app
            .post_basic(
                "/revoke",
                &client,
                &[
                    ("token", refresh.as_str()),
                    ("token_type_hint", "refresh_token"),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
        for token in [&refresh, &sibling, &access] {
            assert_eq!(app.introspect(&client, token).await["active"], false);
        }
    }
);
