-- Gateways: groups carried by opaque access tokens (for forward-auth and
-- introspection), groups of service clients, and a user's tokens found fast
-- (disabling a user revokes them; deleting one cascades).

ALTER TABLE access_tokens ADD COLUMN groups JSONB;
CREATE INDEX access_tokens_user ON access_tokens (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE user_id IS NOT NULL;

CREATE TABLE client_groups (
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    group_id   UUID NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, group_id)
);
CREATE INDEX client_groups_group ON client_groups (group_id);

-- From now on disabling a user revokes their tokens (so no lookup needs to
-- read the user); do the same for users disabled before.
UPDATE access_tokens SET revoked_at = issued_at
    WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE disabled = TRUE);
UPDATE refresh_tokens SET revoked_at = issued_at
    WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE disabled = TRUE);
