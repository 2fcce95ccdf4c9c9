-- A grant: what one authorization (a code, a device approval) gave one
-- client for one user. Every token of it — refresh tokens, opaque and JWT
-- access tokens, which carry its id as `grant_id` — is live only while
-- its row is: revoking the grant (a refresh token reused, revoked or
-- withdrawn consent, a disabled user, a session ended for a grant bound
-- to it) reaches tokens that are not stored, too. `sid` is set for grants
-- that end with their SSO session (no offline_access).
CREATE TABLE grants (
    grant_id    BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    sid         TEXT,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) WITHOUT ROWID;
CREATE INDEX grants_user_client ON grants (user_id, client_id);
CREATE INDEX grants_sid ON grants (sid) WHERE sid IS NOT NULL;
CREATE INDEX grants_created ON grants (created_at);
CREATE INDEX logout_requests_expiry ON logout_requests (expires_at);

-- The grants of tokens issued before: from refresh-token families, then
-- from opaque access tokens of grants without one (not known to be bound
-- to a session).
INSERT INTO grants (grant_id, user_id, client_id, sid, created_at, revoked_at)
SELECT family_id, user_id, client_id, CASE WHEN offline THEN NULL ELSE sid END,
       MIN(issued_at), MAX(revoked_at)
FROM refresh_tokens WHERE user_id IS NOT NULL GROUP BY family_id;
INSERT INTO grants (grant_id, user_id, client_id, sid, created_at)
SELECT grant_id, user_id, client_id, NULL, MIN(issued_at)
FROM access_tokens
WHERE grant_id IS NOT NULL AND user_id IS NOT NULL
  AND grant_id NOT IN (SELECT grant_id FROM grants)
GROUP BY grant_id;
