-- Second factors: an authenticator app (TOTP, RFC 6238) and recovery codes.
--
-- `totp_credentials`: one authenticator app per user. `secret` is the shared
-- secret, sealed with MONBAN_KEY_ENCRYPTION_KEY when it is set (the user id
-- as associated data). A row without `confirmed_at` is an enrolment not yet
-- confirmed by a code: it does not count as a factor. `last_step`: the
-- highest 30-second step a code was accepted for (RFC 6238 §5.2: a code is
-- accepted once, and so is any earlier step).
CREATE TABLE totp_credentials (
    user_id       BLOB PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0,
    last_used_at  INTEGER
) WITHOUT ROWID;

-- Single-use recovery codes, kept as SHA-256 (79 random bits each: no
-- dictionary to try against the hashes).
CREATE TABLE recovery_codes (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- How the user signed in, for opaque access tokens too (introspection and
-- the gateway's phantom JWT tell it).
ALTER TABLE access_tokens ADD COLUMN auth_time INTEGER;
ALTER TABLE access_tokens ADD COLUMN acr TEXT;
ALTER TABLE access_tokens ADD COLUMN amr TEXT;

-- Operators require a second factor per client and per group.
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE groups ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
