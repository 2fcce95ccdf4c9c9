-- OpenID Connect Back-Channel Logout 1.0: where a client is told, with a
-- signed logout token, that an SSO session it took part in has ended.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
