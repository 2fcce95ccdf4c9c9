-- Dynamic client registration (RFC 7591, RFC 7592). Initial access tokens,
-- made with `monban client registration-token create`, open the
-- registration endpoint; NULL uses/expiry: unlimited.
CREATE TABLE registration_tokens (
    token_hash  BLOB PRIMARY KEY,
    uses_left   INTEGER,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- The registration access token (RFC 7592 §1) of a client registered
-- through the endpoint, which manages it there.
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
