//! Signing-key lifecycle: rotation promotes the published `next` key, keeps
//! the retired one published for the tokens it signed, and every running
//! server picks the change up from the database.

use serde_json::Value;

use crate::db_test;
use crate::helpers::TestApp;
use crate::token::verify_with_jwks;

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

db_test!(
    rotation_keeps_old_tokens_verifiable_while_the_new_key_signs,
    async |app: TestApp| {
        let client = app.service_client("").await;
        let before = app.access_token(&client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let old_kid = kid(&before);
        let published_before = jwks_kids(&app.get_json("/jwks").await);

        let rotated = app.cli(&["keys", "rotate", "--json"]).ok_json();
        let step = &rotated["rotated"][0];
        assert_eq!(step["alg"], "RS256");
        assert_eq!(step["retired_kid"], old_kid.as_str());
        let new_kid = step["active_kid"].as_str().unwrap().to_owned();
        let next_kid = step["next_kid"].as_str().unwrap().to_owned();
        // The key that now signs was published before the rotation.
        assert!(published_before.contains(&new_kid));

        // The running server notices within its reload interval.
        let after = token_signed_by(&app, &client, &new_kid).await;
        let kids = jwks_kids(&app.get_json("/jwks").await);
        assert_eq!(
            kids,
            vec![new_kid.clone(), next_kid, old_kid.clone()],
            "active, next, retired"
        );
        verify_with_jwks(&app, &before, &app.issuer).await;
        verify_with_jwks(&app, &after, &app.issuer).await;
        assert_eq!(app.introspect(&client, &before).await["active"], true);

        let listed = app.cli(&["keys", "list", "--json"]).ok_json();
        let states: Vec<(&str, &str)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
            .collect();
        assert!(states.contains(&(old_kid.as_str(), "retired")));
        assert!(states.contains(&(new_kid.as_str(), "active")));
        let retired = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == old_kid.as_str())
            .unwrap();
        assert!(retired["published_until"].is_string());
    }
);

db_test!(
    rotation_waits_for_the_next_key_to_be_published_for_a_jwks_max_age,
    async |app: TestApp| {
        // The fixture's next key is old: the first rotation is allowed and makes
        // a brand-new next key, which the second must not promote yet.
        app.cli(&["keys", "rotate", "--json"]).ok_json();
        let refused = app.cli(&["keys", "rotate", "--json"]);
        assert_eq!(refused.code, 1);
        let error = refused.error();
        assert!(
            error.contains("MONBAN_JWKS_MAX_AGE") && error.contains("--force"),
            "{error}"
        );
        assert_eq!(app.count("signing_keys").await, 3, "nothing changed");
        let forced = app.cli(&["keys", "rotate", "--force", "--json"]).ok_json();
        assert_eq!(forced["rotated"].as_array().unwrap().len(), 1);
    }
);

db_test!(
    rotation_honours_a_short_jwks_max_age,
    [("MONBAN_JWKS_MAX_AGE", "0")],
    async |app: TestApp| {
        // With no JWKS caching to wait for, a new next key may sign as soon
        // as every running server has loaded it.
        app.cli(&["keys", "rotate", "--json"]).ok_json();
        let early = app.cli(&["keys", "rotate", "--json"]);
        assert_eq!(early.code, 1, "servers may not have loaded the new key yet");
        tokio::time::sleep(monban::keys::RELOAD_INTERVAL + std::time::Duration::from_millis(500))
            .await;
        app.cli(&["keys", "rotate", "--json"]).ok_json();
    }
);

db_test!(
    retired_keys_are_removed_once_their_tokens_expired,
    async |app: TestApp| {
        let first = app.cli(&["keys", "rotate", "--json"]).ok_json();
        let retired = first["rotated"][0]["retired_kid"]
            .as_str()
            .unwrap()
            .to_owned();
        // Pretend the retired key's tokens have all expired.
        let sql = "UPDATE signing_keys SET remove_after = 1 WHERE state = 'retired'";
        match &app.db {
            monban::store::Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(drop).unwrap(),
            monban::store::Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(drop).unwrap(),
        }
        app.cli(&["keys", "rotate", "--force", "--json"]).ok_json();
        let listed = app.cli(&["keys", "list", "--json"]).ok_json();
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["kid"] != retired.as_str())
        );
    }
);

/// The keys of a JWKS document, as a gateway caches them.
fn cached_keys(jwks: &Value) -> jsonwebtoken::jwk::JwkSet {
    serde_json::from_value(jwks.clone()).unwrap()
}

/// Verifies with a cached JWKS only, never fetching again; `None` when the
/// token's kid is not in it or the signature fails.
fn verify_cached(jwks: &jsonwebtoken::jwk::JwkSet, token: &str, issuer: &str) -> Option<Value> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref()?)?).ok()?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .ok()
        .map(|d| d.claims)
}

/// Waits until the server signs with `kid`.
async fn token_signed_by(app: &TestApp, client: &crate::helpers::TestClient, kid_: &str) -> String {
    let deadline = std::time::Instant::now() + monban::keys::RELOAD_INTERVAL * 3;
    loop {
        let token = app.access_token(client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        if kid(&token) == kid_ {
            return token;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server never switched keys"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

db_test!(
    a_gateway_with_a_cached_jwks_verifies_across_rotations,
    async |app: TestApp| {
        let client = app.service_client("").await;
        // The gateway fetched the JWKS once, before anything happened.
        let cached = cached_keys(&app.get_json("/jwks").await);
        let before = app.access_token(&client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(verify_cached(&cached, &before, &app.issuer).is_some());

        let rotated = app.cli(&["keys", "rotate", "--json"]).ok_json();
        let new_kid = rotated["rotated"][0]["active_kid"].as_str().unwrap();
        let after = token_signed_by(&app, &client, new_kid).await;
        // Both verify with the JWKS cached before the rotation: the key that
        // signs now was published before it signed anything.
        assert!(verify_cached(&cached, &before, &app.issuer).is_some());
        assert!(verify_cached(&cached, &after, &app.issuer).is_some());
        // The key made by the rotation is published but signs nothing yet.
        let next_kid = rotated["rotated"][0]["next_kid"].as_str().unwrap();
        assert!(jwks_kids(&app.get_json("/jwks").await).contains(&next_kid.to_owned()));
        for _ in 0..5 {
            let token = app.access_token(&client, &[]).await["access_token"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                cached.find(&kid(&token)).is_some(),
                "signed with an unpublished kid"
            );
        }
    }
);

db_test!(
    rotate_now_withdraws_a_compromised_key,
    [("MONBAN_ACCESS_TOKEN_FORMAT", "jwt")],
    async |app: TestApp| {
        let client = app.service_client("").await;
        let gateway = app.service_client("").await;
        let old = app.access_token(&client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let old_kid = kid(&old);
        assert_eq!(
            app.cli(&["keys", "rotate", "--now", "--force"]).code,
            2,
            "--now already implies --force"
        );
        let rotated = app.cli(&["keys", "rotate", "--now", "--json"]).ok_json();
        assert_eq!(rotated["withdrawn"], true);
        let new_kid = rotated["rotated"][0]["active_kid"].as_str().unwrap();
        // Gone from the database at once …
        let listed = app.cli(&["keys", "list", "--json"]).ok_json();
        assert!(!listed.to_string().contains(&old_kid));
        // … and from the running server within its reload interval.
        let fresh = token_signed_by(&app, &client, new_kid).await;
        assert!(!jwks_kids(&app.get_json("/jwks").await).contains(&old_kid));
        assert_eq!(app.introspect(&gateway, &old).await["active"], false);
        let r = app
            .http
            .get(app.url("/forward_auth"))
            .bearer_auth(&old)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        verify_with_jwks(&app, &fresh, &app.issuer).await;
        assert_eq!(app.introspect(&gateway, &fresh).await["active"], true);
    }
);

const ENCRYPTION_KEY: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

async fn stored_private_keys(db: &monban::store::Db) -> Vec<Vec<u8>> {
    let sql = "SELECT private_key FROM signing_keys";
    match db {
        monban::store::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
        monban::store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
    }
}

db_test!(
    private_keys_are_sealed_at_rest,
    [("MONBAN_KEY_ENCRYPTION_KEY", ENCRYPTION_KEY)],
    async |app: TestApp| {
        // The fixture keys were stored in plain; the start sealed them.
        let stored = stored_private_keys(&app.db).await;
        assert!(!stored.is_empty());
        for key in &stored {
            assert!(monban::key_encryption::KeyEncryption::is_sealed(key));
            assert_ne!(key.first(), Some(&0x30), "not plain PKCS#8");
        }
        let client = app.service_client("").await;
        let token = app.access_token(&client, &[]).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        verify_with_jwks(&app, &token, &app.issuer).await;
        // Rotation by the CLI (same settings) stores its new key sealed.
        app.cli(&["keys", "rotate", "--json"]).ok_json();
        let stored = stored_private_keys(&app.db).await;
        assert_eq!(stored.len(), 3);
        assert!(
            stored
                .iter()
                .all(|k| monban::key_encryption::KeyEncryption::is_sealed(k))
        );
        // Without the key, nothing can use them …
        let url = app
            .settings
            .iter()
            .find(|(k, _)| k == "MONBAN_DATABASE_URL")
            .unwrap()
            .1
            .clone();
        let without_key = |args: &[&str]| {
            crate::helpers::run_cli(args, &[("MONBAN_DATABASE_URL", url.as_str())], None)
        };
        let without = without_key(&["keys", "list", "--json"]);
        assert_eq!(without.code, 1);
        assert!(
            without.error().contains("set MONBAN_KEY_ENCRYPTION_KEY"),
            "{}",
            without.stderr
        );
        // … nor add a key, which would be stored in plain.
        let rotate = without_key(&["keys", "rotate", "--force", "--json"]);
        assert_eq!(rotate.code, 1);
        assert!(
            rotate.error().contains("set MONBAN_KEY_ENCRYPTION_KEY"),
            "{}",
            rotate.stderr
        );
        assert_eq!(
            stored_private_keys(&app.db).await.len(),
            3,
            "nothing written"
        );
    }
);

/// The real binary: an encrypted database refuses to start without the
/// right key, with a clear message and exit status 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_database_needs_its_key() {
    use crate::helpers::{Backend, Served, TestDatabase, run_cli};
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let key = [("MONBAN_KEY_ENCRYPTION_KEY", ENCRYPTION_KEY)];
    let (served, _dir) = Served::start(&db.url, &key);
    served.wait_ready().await;
    let (code, _, stderr) = served.stop();
    assert_eq!(code, 0, "{stderr}");

    let other = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    for (settings, expected) in [
        (vec![], "set MONBAN_KEY_ENCRYPTION_KEY"),
        (
            vec![("MONBAN_KEY_ENCRYPTION_KEY", other)],
            "does not decrypt",
        ),
        (
            vec![("MONBAN_KEY_ENCRYPTION_KEY", "short")],
            "MONBAN_KEY_ENCRYPTION_KEY",
        ),
    ] {
        let mut env = vec![("MONBAN_DATABASE_URL", db.url.as_str())];
        env.extend(settings);
        let run = run_cli(&["serve"], &env, None);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(expected), "{}", run.stderr);
    }
    let (served, _dir) = Served::start(&db.url, &key);
    served.wait_ready().await;
    let (code, _, _) = served.stop();
    assert_eq!(code, 0);
}
