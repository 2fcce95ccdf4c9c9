-- Gateway session cookies: the token a browser holds for apps behind a
-- forward-auth gateway (MONBAN_GATEWAY_COOKIE_DOMAIN), stored as its
-- SHA-256 and bound to one SSO session (`sid`). The token is valid only
-- while a session row with that sid lives, so ending the session ends it;
-- rows left behind are purged with the expired sessions.
-- `id` orders a session's tokens, the newest kept.
CREATE TABLE gateway_sessions (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    sid         TEXT NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL
);
CREATE INDEX gateway_sessions_sid ON gateway_sessions (sid);
