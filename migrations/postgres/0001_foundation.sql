-- Foundation: users, groups, clients, signing keys, opaque access tokens,
-- refresh tokens and revoked JWT ids. Timestamps are Unix seconds (BIGINT),
-- computed by monban, never by the database.

CREATE TABLE users (
    id              UUID PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    email           TEXT UNIQUE,
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    name            TEXT,
    password_hash   TEXT,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins   BIGINT NOT NULL DEFAULT 0,
    locked_until    BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE groups (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE user_groups (
    user_id   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id  UUID NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_group ON user_groups (group_id);

CREATE TABLE clients (
    id                          UUID PRIMARY KEY,
    client_id                   TEXT NOT NULL UNIQUE,
    secret_hash                 BYTEA,
    name                        TEXT NOT NULL,
    client_type                 TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    first_party                 BOOLEAN NOT NULL DEFAULT FALSE,
    redirect_uris               JSONB NOT NULL,
    post_logout_redirect_uris   JSONB NOT NULL,
    grant_types                 JSONB NOT NULL,
    scopes                      JSONB NOT NULL,
    audiences                   JSONB NOT NULL,
    token_endpoint_auth_method  TEXT NOT NULL,
    -- NULL: the server default (MONBAN_ACCESS_TOKEN_FORMAT), read at issue time.
    access_token_format         TEXT CHECK (access_token_format IN ('jwt', 'opaque')),
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    private_key   BYTEA NOT NULL,
    public_jwk    JSONB NOT NULL,
    created_at    BIGINT NOT NULL,
    activated_at  BIGINT,
    retired_at    BIGINT,
    -- A retired key stays published until every token it signed has expired.
    remove_after  BIGINT
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';

CREATE TABLE access_tokens (
    token_hash  BYTEA PRIMARY KEY,
    jti         TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    user_id     UUID REFERENCES users (id) ON DELETE CASCADE,
    grant_id    UUID,
    scope       TEXT NOT NULL,
    audiences   JSONB NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id) WHERE grant_id IS NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash   BYTEA PRIMARY KEY,
    family_id    UUID NOT NULL,
    parent_hash  BYTEA,
    client_id    TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    user_id      UUID REFERENCES users (id) ON DELETE CASCADE,
    scope        TEXT NOT NULL,
    audiences    JSONB NOT NULL,
    issued_at    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    rotated_at   BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- JWT access tokens revoked before they expire (RFC 7009), by `jti`.
CREATE TABLE revoked_jtis (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX revoked_jtis_expiry ON revoked_jtis (expires_at);
