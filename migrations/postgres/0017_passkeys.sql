-- Passkeys (WebAuthn): a user's discoverable credentials. `passkey` is
-- webauthn-rs's record of one as JSON: the public key, the signature counter
-- and the backup state (no secret). `credential_id` is the authenticator's id
-- for it, unique across users (WebAuthn §7.1 step 26). `synced`: backup
-- eligible, a passkey a password manager copies between devices (amr `swk`;
-- one bound to its device is `hwk`).
CREATE TABLE passkeys (
    id             UUID PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  BYTEA NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    passkey        JSONB NOT NULL,
    synced         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);
