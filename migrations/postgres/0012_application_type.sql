-- OIDC Registration §2 `application_type`: `web` (the default) or
-- `native`. Only native apps' loopback redirect URIs match with any port
-- (RFC 8252 §7.3); a web client's match exactly, port included.
ALTER TABLE clients ADD COLUMN application_type TEXT NOT NULL DEFAULT 'web'
    CHECK (application_type IN ('web', 'native'));
-- Public clients with loopback http redirect URIs (CLIs, desktop apps) were
-- served on any port before: they are native apps.
UPDATE clients SET application_type = 'native'
WHERE client_type = 'public'
  AND (redirect_uris::text LIKE '%"http://127.0.0.1%' OR redirect_uris::text LIKE '%"http://localhost%'
       OR redirect_uris::text LIKE '%"http://[::1]%');
