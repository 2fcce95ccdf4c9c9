-- Browser SSO: sessions, authorization codes, consents, login throttling,
-- and what refresh tokens need to know about the login they come from.

-- tower-sessions records, keyed by the SHA-256 of the cookie's session id.
-- user_id and sid are copied out of the data once the session logs in, so
-- that a user's sessions can be listed and ended.
CREATE TABLE sessions (
    id_hash     BLOB PRIMARY KEY,
    user_id     BLOB REFERENCES users (id) ON DELETE CASCADE,
    sid         TEXT,
    data        TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- The absolute end of a logged-in session (MONBAN_SESSION_MAX_TTL).
    ends_at     INTEGER
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX sessions_sid ON sessions (sid) WHERE sid IS NOT NULL;
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE authorization_codes (
    code_hash       BLOB PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sid             TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    audiences       TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,
    auth_time       INTEGER NOT NULL,
    acr             TEXT NOT NULL,
    amr             TEXT NOT NULL,
    offline         BOOLEAN NOT NULL,
    -- Tokens issued from this code belong to this grant (refresh family).
    grant_id        BLOB NOT NULL,
    -- The id its access token gets, to revoke on a replay.
    access_jti      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER,
    -- Set when the code is presented again: what it issued is revoked, also
    -- what its first use is still issuing.
    revoked_at      INTEGER
) WITHOUT ROWID;
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- Scopes a user allowed a client, remembered until revoked.
CREATE TABLE consents (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    scopes      TEXT NOT NULL,
    granted_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Failed logins per client address ("ip:…") and per username ("user:…"),
-- shared by every instance.
CREATE TABLE login_failures (
    subject       TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  INTEGER NOT NULL
) WITHOUT ROWID;

-- A logout request POSTed (often cross-site, without the session cookie),
-- kept for a moment while the browser comes back with a GET: its
-- id_token_hint stays out of URLs.
CREATE TABLE logout_requests (
    id          TEXT PRIMARY KEY,
    params      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

ALTER TABLE refresh_tokens ADD COLUMN sid TEXT;
ALTER TABLE refresh_tokens ADD COLUMN offline BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE refresh_tokens ADD COLUMN auth_time INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN acr TEXT;
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT;
CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid) WHERE sid IS NOT NULL;
