-- OpenID Connect Back-Channel Logout deliveries, kept until they are done so
-- that a restart loses none. One row per ended SSO session and client
-- (at most one logout token each); every attempt sends the same `jti`, so a
-- client that saw it already can tell. `claimed_until`: an instance is
-- sending it (others leave it alone until then); `outcome` is set when it
-- is done: delivered, refused (the client answered 400), given_up (after
-- the last retry), or dropped (the client went away or no longer takes
-- them). Done rows are purged a day later.
CREATE TABLE logout_deliveries (
    sid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id UUID NOT NULL,
    jti TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    done_at BIGINT,
    outcome TEXT CHECK (outcome IN ('delivered', 'refused', 'given_up', 'dropped')),
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at) WHERE done_at IS NULL;
