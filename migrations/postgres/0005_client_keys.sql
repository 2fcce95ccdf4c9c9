-- Clients that authenticate with a signed JWT (private_key_jwt, RFC 7523
-- §2.2): their public keys, registered inline (a JWK Set) or fetched from
-- their jwks_uri; never both (RFC 7591 §2).
ALTER TABLE clients ADD COLUMN jwks JSONB;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;

-- Client assertions seen, so that each jti is used once while its assertion
-- could still be accepted (RFC 7523 §3 item 7), on every instance.
CREATE TABLE client_assertions (
    client_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expiry ON client_assertions (expires_at);
