//! A write load for the reliability tests (crash, outage): refresh
//! rotations, codes through a signed-in session, client_credentials tokens
//! and registrations, each task in a loop until told to stop or until the
//! server goes away. `503` (an outage) is expected and counted; any other
//! refusal fails the test. What was answered is kept, to check afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::browser::{AuthRequest, REDIRECT_URI};
use crate::helpers::TestClient;

/// What the load was answered 200 for.
#[derive(Default)]
pub struct Answered {
    /// Opaque access tokens from client_credentials.
    pub access_tokens: Vec<String>,
    /// Each refresher's latest refresh token.
    pub refresh_tokens: Vec<String>,
    /// Each refresher's token before its latest (rotated: must not work).
    pub rotated: Vec<Option<String>>,
    /// Clients registered, with their registration access tokens.
    pub registered: Vec<(String, String)>,
    pub codes_redeemed: usize,
    pub rotations: usize,
}

pub struct Load {
    pub base: String,
    pub http: reqwest::Client,
    pub web: TestClient,
    pub service: TestClient,
    pub cookie: String,
    pub answered: Mutex<Answered>,
    /// Between two steps of a task.
    pub pace: Duration,
    pub stop: AtomicBool,
    /// Answers `503`.
    pub unavailable: AtomicUsize,
}

/// How one request of the load went.
enum Step {
    Done(Value),
    /// `503`: the database is away.
    Unavailable,
    /// No answer: the server went away.
    Gone,
}

impl Load {
    pub fn new(
        base: String,
        web: TestClient,
        service: TestClient,
        cookie: String,
        pace: Duration,
    ) -> Arc<Load> {
        Arc::new(Load {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            web,
            service,
            cookie,
            answered: Mutex::new(Answered::default()),
            pace,
            stop: AtomicBool::new(false),
            unavailable: AtomicUsize::new(0),
        })
    }

    /// Four refreshers, two code flows, two issuers and a registrar.
    pub fn start(self: &Arc<Self>, tasks: &mut tokio::task::JoinSet<()>) {
        for _ in 0..4 {
            tasks.spawn(Arc::clone(self).refresher());
        }
        for _ in 0..2 {
            tasks.spawn(Arc::clone(self).coder());
            tasks.spawn(Arc::clone(self).issuer());
        }
        tasks.spawn(Arc::clone(self).registrar());
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }

    async fn rest(&self) {
        if !self.pace.is_zero() {
            tokio::time::sleep(self.pace).await;
        }
    }

    /// `expected`, or a `503`; anything else fails the test (in a task:
    /// joining it fails).
    async fn answer(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
        expected: u16,
        what: &str,
    ) -> Step {
        let Ok(r) = sent else {
            return Step::Gone;
        };
        match r.status().as_u16() {
            503 => {
                self.unavailable.fetch_add(1, Ordering::SeqCst);
                Step::Unavailable
            }
            status if status == expected => match r.json().await {
                Ok(body) => Step::Done(body),
                Err(_) => Step::Gone,
            },
            status => panic!("{what}: {status} {}", r.text().await.unwrap_or_default()),
        }
    }

    /// A code through the signed-in session (first party: no consent), and
    /// its redemption.
    async fn code_flow(&self) -> Step {
        let request = AuthRequest::new(&self.web).scope("openid offline_access");
        let mut url = url::Url::parse(&format!("{}/authorize", self.base)).unwrap();
        url.query_pairs_mut().extend_pairs(request.params());
        let sent = self
            .http
            .get(url)
            .header("cookie", format!("monban_session={}", self.cookie))
            .send()
            .await;
        let Ok(r) = sent else {
            return Step::Gone;
        };
        if r.status() == 503 {
            self.unavailable.fetch_add(1, Ordering::SeqCst);
            return Step::Unavailable;
        }
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let params: std::collections::HashMap<String, String> = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        if params
            .get("error")
            .is_some_and(|e| e == "temporarily_unavailable")
        {
            self.unavailable.fetch_add(1, Ordering::SeqCst);
            return Step::Unavailable;
        }
        let code = params
            .get("code")
            .unwrap_or_else(|| panic!("no code in {location}"));
        let verifier = request.verifier.unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ];
        let sent = self.post_token(&self.web, &form).await;
        self.answer(sent, 200, "code").await
    }

    async fn post_token(
        &self,
        client: &TestClient,
        form: &[(&str, &str)],
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(format!("{}/token", self.base))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await
    }

    /// Rotates its own refresh token. A refresh answered `503` must have
    /// changed nothing: the token it presented is presented again (a `400`
    /// then, a token lost, fails the test).
    async fn refresher(self: Arc<Self>) {
        let slot = loop {
            if !self.running() {
                return;
            }
            match self.code_flow().await {
                Step::Done(first) => {
                    let mut answered = self.answered.lock().await;
                    answered.codes_redeemed += 1;
                    answered
                        .refresh_tokens
                        .push(first["refresh_token"].as_str().unwrap().to_owned());
                    answered.rotated.push(None);
                    break answered.refresh_tokens.len() - 1;
                }
                Step::Unavailable => self.rest().await,
                Step::Gone => return,
            }
        };
        while self.running() {
            let current = self.answered.lock().await.refresh_tokens[slot].clone();
            let form = [("grant_type", "refresh_token"), ("refresh_token", &current)];
            let sent = self.post_token(&self.web, &form).await;
            match self.answer(sent, 200, "refresh").await {
                Step::Done(body) => {
                    let mut answered = self.answered.lock().await;
                    answered.refresh_tokens[slot] =
                        body["refresh_token"].as_str().unwrap().to_owned();
                    answered.rotated[slot] = Some(current);
                    answered.rotations += 1;
                }
                Step::Unavailable => {}
                Step::Gone => return,
            }
            self.rest().await;
        }
    }

    async fn coder(self: Arc<Self>) {
        while self.running() {
            match self.code_flow().await {
                Step::Done(_) => self.answered.lock().await.codes_redeemed += 1,
                Step::Unavailable => {}
                Step::Gone => return,
            }
            self.rest().await;
        }
    }

    async fn issuer(self: Arc<Self>) {
        while self.running() {
            let form = [("grant_type", "client_credentials")];
            let sent = self.post_token(&self.service, &form).await;
            match self.answer(sent, 200, "client_credentials").await {
                Step::Done(body) => {
                    let token = body["access_token"].as_str().unwrap().to_owned();
                    self.answered.lock().await.access_tokens.push(token);
                }
                Step::Unavailable => {}
                Step::Gone => return,
            }
            self.rest().await;
        }
    }

    async fn registrar(self: Arc<Self>) {
        while self.running() {
            let sent = self
                .http
                .post(format!("{}/register", self.base))
                .json(
                    &json!({"client_name": "load", "redirect_uris": ["https://rp.example.com/cb"]}),
                )
                .send()
                .await;
            match self.answer(sent, 201, "registration").await {
                Step::Done(body) => {
                    let id = body["client_id"].as_str().unwrap().to_owned();
                    let token = body["registration_access_token"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    self.answered.lock().await.registered.push((id, token));
                }
                Step::Unavailable => {}
                Step::Gone => return,
            }
            self.rest().await;
        }
    }

    /// On the server at `base` (restarted, or back from an outage): every
    /// access token answered 200 introspects active, and every
    /// registration answered 201 reads back. `what` names the run.
    pub async fn check_answered(&self, answered: &Answered, what: &str) {
        for tokens in answered.access_tokens.chunks(32) {
            let seen = futures::future::join_all(tokens.iter().map(|token| {
                self.http
                    .post(format!("{}/introspect", self.base))
                    .basic_auth(&self.service.id, Some(&self.service.secret))
                    .form(&[("token", token)])
                    .send()
            }))
            .await;
            for response in seen {
                let seen: Value = response.unwrap().json().await.unwrap();
                assert_eq!(seen["active"], true, "{what}: a token answered 200: {seen}");
            }
        }
        for (id, token) in &answered.registered {
            let r = self
                .http
                .get(format!("{}/register/{id}", self.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{what}: a registration answered 201");
        }
    }

    /// Presents `token` to the refresh grant; the answer's status.
    pub async fn refresh(&self, token: &str) -> u16 {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
        let r = self.post_token(&self.web, &form).await.unwrap();
        r.status().as_u16()
    }
}
