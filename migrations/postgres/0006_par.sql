-- Pushed authorization requests (RFC 9126): a client may be required to
-- push its requests (§5); pushed ones wait here, by the SHA-256 of their
-- request_uri, until the browser brings that request_uri to /authorize
-- once, within a minute.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE pushed_requests (
    reference_hash  BYTEA PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    params          JSONB NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
