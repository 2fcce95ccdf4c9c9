-- What dynamic registration may give, and what a user's consent covers.
--
-- `origin`: who made a client. A client made through /register is an
-- outsider's: the URLs it registered are fetched from public addresses only,
-- and `service_limit` ({"scopes": [...], "audiences": [...]}) is the most its
-- client_credentials tokens may carry — what its initial access token granted
-- (nothing for clients registered before this; an operator registers
-- service clients that need more). NULL: an operator's client, no limit.
ALTER TABLE clients ADD COLUMN origin TEXT NOT NULL DEFAULT 'operator'
    CHECK (origin IN ('operator', 'registration'));
UPDATE clients SET origin = 'registration' WHERE registration_token_hash IS NOT NULL;
ALTER TABLE clients ADD COLUMN service_limit TEXT;
UPDATE clients SET service_limit = '{"scopes": [], "audiences": []}' WHERE origin = 'registration';

-- The scopes and audiences an initial access token lets its clients have
-- for client_credentials.
ALTER TABLE registration_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE registration_tokens ADD COLUMN audiences TEXT NOT NULL DEFAULT '[]';

-- An API's name, shown on consent pages beside its identifier.
ALTER TABLE apis ADD COLUMN name TEXT;

-- A consent covers OpenID Connect scopes (`scopes`) and, per API
-- (`resources`: {"https://api…": ["scope", …]}), exactly the scopes shown for
-- it. API scopes remembered in `scopes` before this count no more: users are
-- asked again, naming the API.
ALTER TABLE consents ADD COLUMN resources TEXT NOT NULL DEFAULT '{}';
