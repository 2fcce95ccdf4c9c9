-- Gateway session cookies: the token a browser holds for apps behind a
-- forward-auth gateway (MONBAN_GATEWAY_COOKIE_DOMAIN), stored as its
-- SHA-256 and bound to one SSO session (`sid`). The token is valid only
-- while a session row with that sid lives, so ending the session ends it;
-- rows left behind are purged with the expired sessions.
CREATE TABLE gateway_sessions (
    token_hash  BYTEA PRIMARY KEY,
    sid         TEXT NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX gateway_sessions_sid ON gateway_sessions (sid);
