-- Resource servers (APIs, RFC 8707): a token requested with `resource=URI`
-- for a registered API gets exactly that audience, in the API's format and
-- lifetime. NULL format or lifetime: the client's or the server's.
CREATE TABLE apis (
    identifier        TEXT PRIMARY KEY,
    scopes            TEXT NOT NULL,
    token_format      TEXT CHECK (token_format IN ('jwt', 'opaque')),
    access_token_ttl  INTEGER,
    created_at        INTEGER NOT NULL
);
