//! Bad input on every OAuth endpoint: the spec's error, a 4xx, nothing
//! changed, and a server that keeps answering.

use serde_json::Value;

use crate::db_test;
use crate::helpers::TestApp;

const ENDPOINTS: [&str; 3] = ["/token", "/introspect", "/revoke"];

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

async fn assert_oauth_error(r: reqwest::Response, status: u16, error: &str, why: &str) {
    assert_eq!(r.status(), status, "{why}");
    assert_eq!(r.headers()["content-type"], "application/json", "{why}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "{why}");
    assert!(body["error_description"].is_string(), "{why}");
}

db_test!(
    malformed_requests_get_invalid_request,
    async |app: TestApp| {
        let client = app.service_client("read").await;
        let basic = Some((client.id.as_str(), client.secret.as_str()));
        let form = "application/x-www-form-urlencoded";
        let long = "a".repeat(20_000);
        let cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
            (
                "JSON body",
                Some("application/json"),
                br#"{"grant_type":"client_credentials","token":"x"}"#.to_vec(),
            ),
            (
                "no content type",
                None,
                b"grant_type=client_credentials&token=x".to_vec(),
            ),
            (
                "multipart",
                Some("multipart/form-data; boundary=x"),
                b"--x--".to_vec(),
            ),
            (
                "repeated grant_type",
                Some(form),
                b"grant_type=client_credentials&grant_type=client_credentials&token=x&token=y"
                    .to_vec(),
            ),
            (
                "percent-encoded non-UTF-8",
                Some(form),
                b"grant_type=client_credentials&token=%FF%FE".to_vec(),
            ),
            (
                "raw non-UTF-8",
                Some(form),
                b"grant_type=client_credentials&token=\xff\xfe".to_vec(),
            ),
            (
                "absurdly long value",
                Some(form),
                format!("grant_type=client_credentials&scope={long}&token={long}").into_bytes(),
            ),
        ];
        for path in ENDPOINTS {
            for (why, content_type, body) in &cases {
                let r = post_raw(&app, path, *content_type, body.clone(), basic).await;
                assert_oauth_error(r, 400, "invalid_request", &format!("{path}: {why}")).await;
            }
            // Repeated parameters other than those allowed to repeat.
            let r = post_raw(&app, path, Some(form), b"grant_type=client_credentials&scope=read&scope=read&token=a&token_type_hint=x&token_type_hint=y".to_vec(), basic).await;
            assert_oauth_error(
                r,
                400,
                "invalid_request",
                &format!("{path}: repeated parameter"),
            )
            .await;
        }
        assert_eq!(app.count("access_tokens").await, 0);
        assert_eq!(app.count("revoked_jtis").await, 0);
    }
);

db_test!(
    oversized_bodies_are_refused_with_413,
    async |app: TestApp| {
        let client = app.service_client("").await;
        let body = format!(
            "grant_type=client_credentials&pad={}",
            "x".repeat(100 * 1024)
        )
        .into_bytes();
        for path in ENDPOINTS {
            let r = post_raw(
                &app,
                path,
                Some("application/x-www-form-urlencoded"),
                body.clone(),
                Some((&client.id, &client.secret)),
            )
            .await;
            assert_oauth_error(r, 413, "invalid_request", path).await;
        }
    }
);

db_test!(
    malformed_basic_headers_are_invalid_client,
    async |app: TestApp| {
        use base64::Engine;
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let headers = [
            "Basic".to_owned(),
            "Basic !!!not-base64!!!".to_owned(),
            format!("Basic {}", b64(b"no-colon")),
            format!("Basic {}", b64(b":secret-without-id")),
            format!("Basic {}", b64(b"\xff\xfe:\xff")),
            "Bearer abc.def.ghi".to_owned(),
            format!("Basic {}", "A".repeat(10_000)),
        ];
        for path in ENDPOINTS {
            for header in &headers {
                let r = app
                    .http
                    .post(app.url(path))
                    .header("authorization", header.as_str())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials&token=x")
                    .send()
                    .await
                    .unwrap();
                assert!(
                    r.headers().contains_key("www-authenticate"),
                    "{path} {header:.20}"
                );
                assert_oauth_error(r, 401, "invalid_client", &format!("{path} {header:.20}")).await;
            }
            // A header that is not even valid UTF-8.
            let r = app
                .http
                .post(app.url(path))
                .header(
                    "authorization",
                    reqwest::header::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&token=x")
                .send()
                .await
                .unwrap();
            assert_oauth_error(r, 401, "invalid_client", "non-UTF-8 header").await;
        }
        assert_eq!(app.count("access_tokens").await, 0);
    }
);

db_test!(
    charset_parameter_and_unknown_parameters_are_accepted,
    async |app: TestApp| {
        let client = app.service_client("").await;
        let r = post_raw(
            &app,
            "/token",
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            b"grant_type=client_credentials&unknown=ignored&empty=".to_vec(),
            Some((&client.id, &client.secret)),
        )
        .await;
        assert_eq!(
            r.status(),
            200,
            "RFC 6749 §3.1: unknown parameters are ignored"
        );
    }
);

db_test!(wrong_methods_and_paths, async |app: TestApp| {
    for path in ENDPOINTS {
        let r = app.get(path).await;
        assert_eq!(r.status(), 405, "{path}");
    }
    let r = app.get("/nope").await;
    assert_eq!(r.status(), 404);
    let r = app.http.post(app.url("/jwks")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // Still healthy after all of it.
    let r = app.http.get(app.root_url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
});

db_test!(
    error_descriptions_stay_in_the_allowed_character_set,
    async |app: TestApp| {
        // RFC 6749 §5.2: error_description uses %x20-21 / %x23-5B / %x5D-7E only,
        // even when it quotes what the client sent.
        let client = app.service_client("read").await;
        for scope in ["caf\u{e9}", "a\"b", "x\\y", "line\r\nbreak"] {
            let r = app.token(&client, &[("scope", scope)]).await;
            assert_eq!(r.status(), 400);
            let body: Value = r.json().await.unwrap();
            let description = body["error_description"].as_str().unwrap();
            assert!(
                description
                    .chars()
                    .all(|c| matches!(c, ' '..='~') && c != '"' && c != '\\'),
                "{description:?}"
            );
        }
    }
);

/// Reads what the server sends until it closes the connection.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

db_test!(
    slow_headers_and_idle_connections_are_cut_off,
    async |app: TestApp| {
        use tokio::io::AsyncWriteExt;
        let started = std::time::Instant::now();
        let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        slow.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            tokio::join!(read_until_closed(&mut slow), read_until_closed(&mut idle))
        })
        .await
        .expect("the server closes connections whose headers never finish or never start");
        assert!(
            started.elapsed() >= std::time::Duration::from_secs(9),
            "{closed:?}"
        );
    }
);

db_test!(slow_bodies_time_out, async |app: TestApp| {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type")
        .await
        .unwrap();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(25),
        read_until_closed(&mut stream),
    )
    .await
    .expect("the server gives up on a body that never arrives");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
});
