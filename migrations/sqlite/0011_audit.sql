-- The audit log: security events (logins, lockouts, consents, revocations,
-- refresh-token reuse, changes to users, groups, clients and keys), newest
-- read first. No foreign keys: an event outlives the user or client it
-- names. Ids are UUIDv7, so they sort by time; pages continue below an id.
-- Never holds secrets. Purged after MONBAN_AUDIT_RETENTION_DAYS.
CREATE TABLE audit_events (
    id          BLOB PRIMARY KEY,
    at          INTEGER NOT NULL,
    type        TEXT NOT NULL,
    -- Who did it: user:<id>, client:<client_id>, cli or system; NULL when
    -- nobody is known (a failed login).
    actor       TEXT,
    user_id     BLOB,
    client_id   TEXT,
    ip          TEXT,
    user_agent  TEXT,
    detail      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_client ON audit_events (client_id, id) WHERE client_id IS NOT NULL;
CREATE INDEX audit_events_type ON audit_events (type, id);
