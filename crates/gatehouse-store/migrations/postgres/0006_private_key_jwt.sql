-- private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect Core §9) (PostgreSQL):
-- `oauth_clients.auth_method` may be 'private_key_jwt', such a client carries its public JWK
-- Set in `jwks`, and the `jti`s of accepted client assertions are remembered until they expire.
-- PostgreSQL changes constraints in place; the rows and the tables referencing them stay.

ALTER TABLE oauth_clients DROP CONSTRAINT oauth_clients_auth_method_check;
ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_auth_method_check
    CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));

-- The client's public JWK Set (RFC 7517 §5), exactly for private_key_jwt clients.
ALTER TABLE oauth_clients ADD COLUMN jwks JSONB NULL
    CONSTRAINT oauth_clients_jwks_check CHECK (jwks IS NULL OR jsonb_typeof(jwks) = 'object');
ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_jwks_method_check
    CHECK ((auth_method = 'private_key_jwt') = (jwks IS NOT NULL));

-- RFC 7523 §3 point 7 / OpenID Connect Core §9: a client assertion's `jti` is accepted once.
-- Keyed by client and SHA-256 of the jti; a row lives until the assertion's `exp` (plus the
-- clock-skew leeway), after which the assertion is refused as expired anyway.
CREATE TABLE client_assertion_jtis (
    client_id   TEXT    COLLATE "C" NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    jti_hash    BYTEA   NOT NULL CHECK (length(jti_hash) = 32),
    expires_at  BIGINT  NOT NULL,
    PRIMARY KEY (client_id, jti_hash)
);

CREATE INDEX client_assertion_jtis_expires_at_idx ON client_assertion_jtis (expires_at);
