//! Browser sessions: tower-sessions with a `SessionStore` on monban's
//! database (so every instance shares them), and the typed state monban keeps
//! in a session — the SSO login, the CSRF token, authorization requests
//! waiting for a login or consent.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session};
use uuid::Uuid;

use crate::mfa::{self, Factor, Level};
use crate::store::{self, Db, sessions::SessionWrite};
use crate::tokens;

/// The cookie of the SSO session.
pub const COOKIE: &str = "monban_session";

/// `SessionStore` on `Db`. Ids are stored as SHA-256 only: a copy of the
/// table does not give anyone a live session cookie.
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> DbSessionStore {
        DbSessionStore { db }
    }
}

fn id_hash(id: &Id) -> Vec<u8> {
    tokens::sha256(&id.0.to_le_bytes())
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// A database error, as the session store's text, with an outage noted
/// first (the pages answer 503 for it, see `PageError`).
fn database(e: sqlx::Error) -> session_store::Error {
    store::outage::noticed(&e);
    backend(e)
}

/// A record as a row: its data, and the login copied out of it.
struct Row {
    id_hash: Vec<u8>,
    user_id: Option<Uuid>,
    sid: Option<String>,
    data: serde_json::Value,
    expires_at: i64,
    ends_at: Option<i64>,
}

impl Row {
    fn of(record: &Record) -> Result<Row, session_store::Error> {
        let data = serde_json::to_value(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let login: Option<Login> = record
            .data
            .get(LOGIN)
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        Ok(Row {
            id_hash: id_hash(&record.id),
            user_id: login.as_ref().map(|l| l.user_id),
            ends_at: login.as_ref().map(|l| l.ends_at),
            sid: login.map(|l| l.sid),
            data,
            expires_at: record.expiry_date.unix_timestamp(),
        })
    }

    fn write(&self) -> SessionWrite<'_> {
        SessionWrite {
            id_hash: &self.id_hash,
            user_id: self.user_id,
            sid: self.sid.as_deref(),
            data: &self.data,
            expires_at: self.expires_at,
            ends_at: self.ends_at,
        }
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A collision of two 128-bit random ids is not expected, but handled.
        loop {
            let row = Row::of(record)?;
            if store::sessions::insert(&self.db, &row.write())
                .await
                .map_err(database)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let row = Row::of(record)?;
        store::sessions::save(&self.db, &row.write())
            .await
            .map_err(database)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = crate::unix_now();
        let Some(row) = store::sessions::load(&self.db, &id_hash(id), now)
            .await
            .map_err(database)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_value(row.data.0)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp(row.expires_at).map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        store::sessions::delete(&self.db, &id_hash(id))
            .await
            .map_err(database)
    }
}

const LOGIN: &str = "login";
const CSRF: &str = "csrf";
const PENDING: &str = "pending";
/// Authorization requests a session may have waiting at once (tabs).
const MAX_PENDING: usize = 8;
/// How long a session nobody has logged in to lives unused: as long as a
/// parked request may wait for its login (`authorization::PARKED_FOR`), so the
/// rows of visitors who never log in go soon.
pub const ANONYMOUS_IDLE_TTL: i64 = 30 * 60;

/// The logins of sessions just ended (rows without one are skipped).
pub fn logins_of(ended: store::sessions::Ended) -> Vec<Login> {
    ended.iter().filter_map(|data| login_of(&data.0)).collect()
}

/// The login a stored session's data holds, if it is logged in.
pub fn login_of(data: &serde_json::Value) -> Option<Login> {
    serde_json::from_value(data.get(LOGIN)?.clone()).ok()
}

/// Who is logged in to this browser, and how (the SSO session).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    pub user_id: Uuid,
    /// Public id of the SSO session: the `sid` claim (OIDC Front/Back-Channel
    /// Logout), also how logout finds it.
    pub sid: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    /// The absolute end of the session (`MONBAN_SESSION_MAX_TTL`).
    pub ends_at: i64,
    /// When the idle expiry was last pushed back.
    pub touched_at: i64,
    /// Clients this session signed in to.
    pub clients: Vec<String>,
    /// Shown on `/account`.
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Where a login happened, as the account page shows it.
pub struct Device {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl Login {
    /// `user_id` signed in with `factors` now. The same user signing in
    /// again (`prompt=login`, `max_age`) keeps the SSO session (`earlier`):
    /// its sid, and with it the refresh tokens of the other apps.
    pub fn new(
        user_id: Uuid,
        factors: &[Factor],
        earlier: Option<Login>,
        device: Device,
        max_ttl: i64,
        now: i64,
    ) -> Login {
        let earlier = earlier.filter(|l| l.user_id == user_id);
        Login {
            user_id,
            sid: earlier
                .as_ref()
                .map_or_else(tokens::new_jti, |l| l.sid.clone()),
            auth_time: now,
            amr: mfa::level::amr(factors),
            acr: Level::of(factors).acr().to_owned(),
            ends_at: now + max_ttl,
            touched_at: now,
            clients: earlier.map(|l| l.clients).unwrap_or_default(),
            user_agent: device.user_agent,
            ip: device.ip,
        }
    }
}

impl Login {
    /// The level this login reached (a login from before levels: a password).
    pub fn level(&self) -> Level {
        Level::of_acr(&self.acr).unwrap_or(Level::Password)
    }

    /// The same login, stepped up with `factor` now (the session, its sid
    /// and its end stay). It began with a password, or with a passkey whose
    /// level no second factor raises.
    pub fn stepped_up(self, factor: Factor, now: i64) -> Login {
        let factors: Vec<Factor> = [Factor::Password, factor].into();
        let level = Level::of(&factors).max(self.level());
        let mut amr = self.amr;
        for value in mfa::level::amr(&factors) {
            if !amr.contains(&value) {
                amr.push(value);
            }
        }
        Login {
            amr,
            acr: level.acr().to_owned(),
            auth_time: now,
            touched_at: now,
            ..self
        }
    }
}

/// A sign-in between its first factor and the one it still needs, or a
/// logged-in session stepping up: kept in the session, for one request
/// (`rid`), and only for `SECOND_STEP_FOR`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecondStep {
    pub user_id: Uuid,
    pub rid: String,
    /// The SSO session being stepped up; `None`: a sign-in in progress.
    pub sid: Option<String>,
    pub started_at: i64,
    /// The level the sign-in must reach: `phr` takes a passkey.
    pub target: Level,
}

/// A WebAuthn ceremony in progress: what it is for, and webauthn-rs's state
/// of it (the challenge), kept server-side and used once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceremony {
    pub purpose: Purpose,
    /// The authorization request it belongs to (sign-ins).
    pub rid: Option<String>,
    /// The user it is for (a second factor, a registration).
    pub user_id: Option<Uuid>,
    pub state: serde_json::Value,
    pub started_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// Signing in with a passkey alone.
    SignIn,
    /// A passkey as the second factor (or to step up).
    SecondFactor,
    /// Registering a passkey on `/account`.
    Register,
}

/// How long a WebAuthn ceremony may take (webauthn-rs's timeout is 5
/// minutes).
pub const CEREMONY_FOR: i64 = 5 * 60;
const CEREMONY: &str = "webauthn";

/// How long a sign-in may wait for its second factor.
pub const SECOND_STEP_FOR: i64 = 10 * 60;
const SECOND_STEP: &str = "second_step";

/// Typed access to monban's state in a tower-sessions `Session`.
pub struct BrowserSession {
    pub inner: Session,
}

#[derive(Debug, thiserror::Error)]
#[error("session storage failed: {0}")]
pub struct SessionError(String);

impl From<tower_sessions::session::Error> for SessionError {
    fn from(e: tower_sessions::session::Error) -> SessionError {
        SessionError(e.to_string())
    }
}

/// A handler takes the browser's session typed (the session layer must be
/// on its route, or this is a 500).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for BrowserSession {
    type Rejection = <Session as axum::extract::FromRequestParts<S>>::Rejection;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<BrowserSession, Self::Rejection> {
        Session::from_request_parts(parts, state)
            .await
            .map(BrowserSession::new)
    }
}

impl BrowserSession {
    pub fn new(inner: Session) -> BrowserSession {
        BrowserSession { inner }
    }

    /// The logged-in user, if the login is still within its absolute
    /// lifetime.
    pub async fn login(&self, now: i64) -> Result<Option<Login>, SessionError> {
        let login: Option<Login> = self.inner.get(LOGIN).await?;
        Ok(login.filter(|l| now < l.ends_at))
    }

    /// Starts an SSO session: a new session id (no fixation), the login, and
    /// an expiry of idle or absolute lifetime, whichever comes first.
    pub async fn log_in(&self, login: &Login, idle_ttl: i64) -> Result<(), SessionError> {
        self.inner.cycle_id().await?;
        // A CSRF token seen before the login (say, planted with the cookie)
        // is not carried into the logged-in session.
        self.inner.remove_value(CSRF).await?;
        self.inner.remove_value(SECOND_STEP).await?;
        self.inner.remove_value(CEREMONY).await?;
        self.inner.insert(LOGIN, login).await?;
        self.set_expiry(login, idle_ttl, login.auth_time);
        Ok(())
    }

    /// Records a client signed in to through this session, and pushes back
    /// the idle expiry at most once a minute (each push is a write).
    pub async fn touch(
        &self,
        mut login: Login,
        client_id: Option<&str>,
        idle_ttl: i64,
        now: i64,
    ) -> Result<(), SessionError> {
        let new_client = client_id.is_some_and(|c| !login.clients.iter().any(|known| known == c));
        if !new_client && now - login.touched_at < 60 {
            return Ok(());
        }
        if let Some(client) = client_id.filter(|_| new_client) {
            login.clients.push(client.to_owned());
        }
        login.touched_at = now;
        self.inner.insert(LOGIN, &login).await?;
        self.set_expiry(&login, idle_ttl, now);
        Ok(())
    }

    fn set_expiry(&self, login: &Login, idle_ttl: i64, now: i64) {
        let ends = (now + idle_ttl).min(login.ends_at);
        if let Ok(at) = OffsetDateTime::from_unix_timestamp(ends) {
            self.inner.set_expiry(Some(Expiry::AtDateTime(at)));
        }
    }

    /// Ends the session in this browser (the row and the cookie).
    pub async fn log_out(&self) -> Result<(), SessionError> {
        self.inner.flush().await?;
        Ok(())
    }

    /// Starts waiting for a second factor (replacing any other wait).
    /// The session gets a new id (and CSRF token) here too: a session id
    /// planted before the password cannot finish the sign-in it started.
    pub async fn await_second_factor(&self, step: &SecondStep) -> Result<(), SessionError> {
        self.inner.cycle_id().await?;
        self.inner.remove_value(CSRF).await?;
        self.inner.insert(SECOND_STEP, step).await?;
        Ok(())
    }

    /// The second step waited for in this browser for request `rid`, if it
    /// has not timed out; a step-up only while its SSO session lasts.
    pub async fn second_step(
        &self,
        rid: &str,
        now: i64,
    ) -> Result<Option<SecondStep>, SessionError> {
        let Some(step) = self.inner.get::<SecondStep>(SECOND_STEP).await? else {
            return Ok(None);
        };
        let login = self.login(now).await?;
        let valid = step.rid == rid
            && now - step.started_at <= SECOND_STEP_FOR
            && match &step.sid {
                None => true,
                Some(sid) => login.is_some_and(|l| l.sid == *sid && l.user_id == step.user_id),
            };
        Ok(valid.then_some(step))
    }

    /// Starts a WebAuthn ceremony (one per browser: a new one replaces it).
    pub async fn begin_ceremony(
        &self,
        purpose: Purpose,
        rid: Option<&str>,
        user_id: Option<Uuid>,
        state: serde_json::Value,
        now: i64,
    ) -> Result<(), SessionError> {
        let ceremony = Ceremony {
            purpose,
            rid: rid.map(str::to_owned),
            user_id,
            state,
            started_at: now,
        };
        self.inner.insert(CEREMONY, &ceremony).await?;
        Ok(())
    }

    /// The ceremony of `purpose` for request `rid`, taken out: its
    /// challenge is answered once, within `CEREMONY_FOR`.
    pub async fn take_ceremony(
        &self,
        purpose: Purpose,
        rid: Option<&str>,
        now: i64,
    ) -> Result<Option<Ceremony>, SessionError> {
        let Some(ceremony) = self.inner.remove::<Ceremony>(CEREMONY).await? else {
            return Ok(None);
        };
        let valid = ceremony.purpose == purpose
            && ceremony.rid.as_deref() == rid
            && now - ceremony.started_at <= CEREMONY_FOR;
        Ok(valid.then_some(ceremony))
    }

    /// The session's CSRF token, made on first use.
    pub async fn csrf_token(&self) -> Result<String, SessionError> {
        if let Some(token) = self.inner.get::<String>(CSRF).await? {
            return Ok(token);
        }
        let (token, _) = tokens::random_secret();
        self.inner.insert(CSRF, token.expose()).await?;
        Ok(token.expose().to_owned())
    }

    /// Whether a submitted form carries this session's CSRF token.
    pub async fn csrf_matches(&self, submitted: &str) -> Result<bool, SessionError> {
        use subtle::ConstantTimeEq;
        let Some(token) = self.inner.get::<String>(CSRF).await? else {
            return Ok(false);
        };
        Ok(bool::from(token.as_bytes().ct_eq(submitted.as_bytes())))
    }

    /// Parks a value (an authorization request) until the user has logged
    /// in or consented; returns its id for the page's forms.
    pub async fn park<T: Serialize>(&self, value: &T, now: i64) -> Result<String, SessionError> {
        if self.inner.get::<Login>(LOGIN).await?.is_none() {
            let idle = tower_sessions::cookie::time::Duration::seconds(ANONYMOUS_IDLE_TTL);
            self.inner.set_expiry(Some(Expiry::OnInactivity(idle)));
        }
        let mut pending: BTreeMap<String, Parked> =
            self.inner.get(PENDING).await?.unwrap_or_default();
        while pending.len() >= MAX_PENDING {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => pending.remove(&key),
                None => break,
            };
        }
        let id = tokens::new_jti();
        let value = serde_json::to_value(value).map_err(|e| SessionError(e.to_string()))?;
        pending.insert(id.clone(), Parked { at: now, value });
        self.inner.insert(PENDING, &pending).await?;
        Ok(id)
    }

    /// A parked value, if it is there and not older than `max_age` seconds.
    pub async fn parked<T: for<'de> Deserialize<'de>>(
        &self,
        id: &str,
        max_age: i64,
        now: i64,
    ) -> Result<Option<T>, SessionError> {
        let pending: BTreeMap<String, Parked> = self.inner.get(PENDING).await?.unwrap_or_default();
        Ok(pending
            .get(id)
            .filter(|p| now - p.at <= max_age)
            .and_then(|p| serde_json::from_value(p.value.clone()).ok()))
    }

    /// Replaces a parked value (keeping its age).
    pub async fn repark<T: Serialize>(&self, id: &str, value: &T) -> Result<(), SessionError> {
        let mut pending: BTreeMap<String, Parked> =
            self.inner.get(PENDING).await?.unwrap_or_default();
        if let Some(parked) = pending.get_mut(id) {
            parked.value = serde_json::to_value(value).map_err(|e| SessionError(e.to_string()))?;
            self.inner.insert(PENDING, &pending).await?;
        }
        Ok(())
    }

    /// Removes a parked value once it is done with.
    pub async fn unpark(&self, id: &str) -> Result<(), SessionError> {
        let mut pending: BTreeMap<String, Parked> =
            self.inner.get(PENDING).await?.unwrap_or_default();
        if pending.remove(id).is_some() {
            self.inner.insert(PENDING, &pending).await?;
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Parked {
    at: i64,
    value: serde_json::Value,
}
