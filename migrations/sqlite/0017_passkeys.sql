-- Passkeys (WebAuthn): a user's discoverable credentials. `passkey` is
-- webauthn-rs's record of one as JSON: the public key, the signature counter
-- and the backup state (no secret). `credential_id` is the authenticator's id
-- for it, unique across users (WebAuthn §7.1 step 26). `synced`: backup
-- eligible, a passkey a password manager copies between devices (amr `swk`;
-- one bound to its device is `hwk`).
CREATE TABLE passkeys (
    id             BLOB PRIMARY KEY,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  BLOB NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    passkey        TEXT NOT NULL,
    synced         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX passkeys_user ON passkeys (user_id);
