//! Interoperability: the `openidconnect` crate, a Relying Party nobody here
//! wrote, against monban — discovery, code + PKCE through the real pages,
//! its own ID token checks (signature, issuer, audience, nonce, at_hash),
//! userinfo, refresh.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::browser::{Browser, REDIRECT_URI};
use crate::db_test;
use crate::helpers::TestApp;

db_test!(
    the_openidconnect_crate_signs_in_and_refreshes,
    async |app: TestApp| {
        app.user("alice", "correct horse battery staple").await;
        let registered = app.first_party_web_app().await;
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(app.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .expect("discovery");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(registered.id.clone()),
            Some(ClientSecret::new(registered.secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();

        // A person logs in on monban's pages.
        let browser = Browser::new();
        let mut step = browser.follow(&app, browser.get(url.as_str()).await).await;
        step = browser
            .submit_login(&app, &step, "alice", "correct horse battery staple")
            .await;
        let params = step.redirect_params();
        assert_eq!(&params["state"], state.secret());

        let tokens = client
            .exchange_code(AuthorizationCode::new(params["code"].clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().expect("an ID token");
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &nonce)
            .expect("the ID token verifies");
        assert_eq!(claims.preferred_username().unwrap().as_str(), "alice");
        assert_eq!(claims.email().unwrap().as_str(), "alice@example.com");
        let expected = claims.access_token_hash().expect("at_hash");
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(&actual, expected);

        let info: CoreUserInfoClaims = client
            .user_info(
                tokens.access_token().to_owned(),
                Some(claims.subject().clone()),
            )
            .unwrap()
            .request_async(&http)
            .await
            .expect("userinfo");
        assert_eq!(info.email().unwrap().as_str(), "alice@example.com");

        let refreshed = client
            .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
            .unwrap()
            .request_async(&http)
            .await
            .expect("refresh");
        assert_ne!(
            refreshed.refresh_token().unwrap().secret(),
            tokens.refresh_token().unwrap().secret()
        );
        let new_id = refreshed.id_token().expect("an ID token on refresh");
        // After a refresh there is no nonce to check (OIDC Core §12.2).
        new_id
            .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
            .expect("the refreshed ID token verifies");
    }
);

db_test!(
    the_openidconnect_crate_sees_how_the_user_signed_in,
    async |app: TestApp| {
        use openidconnect::AuthenticationContextClass;
        app.user("alice", "correct horse battery staple").await;
        let registered = app.first_party_web_app().await;
        crate::mfa::fresh_step().await;
        let browser = Browser::new();
        let page = crate::mfa::account(&app, &browser, "alice").await;
        let (totp, _) = crate::mfa::enrol(&app, &browser, &page).await;
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(app.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .expect("discovery");
        let supported = metadata
            .acr_values_supported()
            .expect("acr_values_supported");
        assert!(supported.iter().any(|a| a.as_str() == "mfa"));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(registered.id.clone()),
            Some(ClientSecret::new(registered.secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_auth_context_value(AuthenticationContextClass::new("mfa".into()))
            .set_pkce_challenge(challenge)
            .url();
        // The account's session was a password alone: only the code is asked.
        let step = browser.follow(&app, browser.get(url.as_str()).await).await;
        let done = crate::mfa::submit_code(&app, &browser, &step, &totp.code(1)).await;
        let params = done.redirect_params();
        let tokens = client
            .exchange_code(AuthorizationCode::new(params["code"].clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token
            .claims(&client.id_token_verifier(), &nonce)
            .expect("the ID token verifies");
        assert_eq!(claims.auth_context_ref().unwrap().as_str(), "mfa");
        let amr: Vec<&str> = claims
            .auth_method_refs()
            .unwrap()
            .iter()
            .map(|m| m.as_str())
            .collect();
        assert_eq!(amr, ["pwd", "otp", "mfa"]);
    }
);
