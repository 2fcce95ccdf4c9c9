-- OIDC Registration §2 `application_type`: `web` (the default) or
-- `native`. Only native apps' loopback redirect URIs match with any port
-- (RFC 8252 §7.3); a web client's match exactly, port included.
ALTER TABLE clients ADD COLUMN application_type TEXT NOT NULL DEFAULT 'web'
    CHECK (application_type IN ('web', 'native'));
