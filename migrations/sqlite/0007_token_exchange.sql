-- Token exchange (RFC 8693): an exchanged access token says who acts for its
-- subject (the `act` claim, §4.1); opaque ones keep it here for
-- introspection and phantom JWTs.
ALTER TABLE access_tokens ADD COLUMN act TEXT;
