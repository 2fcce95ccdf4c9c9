-- Device authorization grant (RFC 8628): a device's request, found by the
-- SHA-256 of its device_code (the device polls) or by its user_code (the
-- user types it on /device), until it is approved or denied, redeemed once,
-- or expires.
CREATE TABLE device_codes (
    device_code_hash  BLOB PRIMARY KEY,
    user_code         TEXT NOT NULL UNIQUE,
    client_id         TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    scope             TEXT NOT NULL,
    audiences         TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    user_id           BLOB REFERENCES users (id) ON DELETE CASCADE,
    sid               TEXT,
    auth_time         INTEGER,
    acr               TEXT,
    amr               TEXT,
    poll_interval     INTEGER NOT NULL,
    polled_at         INTEGER,
    expires_at        INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX device_codes_expiry ON device_codes (expires_at);
