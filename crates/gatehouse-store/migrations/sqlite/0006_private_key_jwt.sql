-- no-transaction
-- private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect Core §9) (SQLite):
-- `oauth_clients.auth_method` may be 'private_key_jwt', such a client carries its public JWK
-- Set in `jwks`, and the `jti`s of accepted client assertions are remembered until they expire.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt as described in
-- https://www.sqlite.org/lang_altertable.html §7. authorization_codes, oauth_consents and
-- client_roles reference oauth_clients with ON DELETE CASCADE, so with foreign keys enforced
-- the DROP TABLE below would delete every one of their rows. Enforcement can only be switched
-- off outside a transaction, hence `-- no-transaction` above and the explicit transaction here.
-- The child tables' REFERENCES clauses name the table, not its storage: once the new table is
-- renamed to oauth_clients they point at it again, unchanged.

PRAGMA foreign_keys = OFF;

BEGIN IMMEDIATE;

CREATE TABLE oauth_clients_0006 (
    -- Compared with the BINARY collation (byte order), as PostgreSQL's "C": both list alike.
    id                          TEXT    NOT NULL PRIMARY KEY,
    name                        TEXT    NOT NULL,
    -- SHA-256 of the secret; NULL for public and private_key_jwt clients.
    secret_hash                 BLOB    NULL,
    auth_method                 TEXT    NOT NULL
        CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none')),
    redirect_uris               TEXT    NOT NULL
        CHECK (json_valid(redirect_uris) AND json_type(redirect_uris) = 'array'),
    post_logout_redirect_uris   TEXT    NOT NULL
        CHECK (json_valid(post_logout_redirect_uris) AND json_type(post_logout_redirect_uris) = 'array'),
    grant_types                 TEXT    NOT NULL
        CHECK (json_valid(grant_types) AND json_type(grant_types) = 'array'),
    scopes                      TEXT    NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    cors_origins                TEXT    NOT NULL
        CHECK (json_valid(cors_origins) AND json_type(cors_origins) = 'array'),
    skip_consent                BOOLEAN NOT NULL CHECK (skip_consent IN (0, 1)),
    -- Seconds; NULL means the server default.
    access_token_lifetime       BIGINT  NULL,
    created_at                  BIGINT  NOT NULL,
    -- The client's public JWK Set (RFC 7517 §5), exactly for private_key_jwt clients.
    jwks                        TEXT    NULL
        CHECK (jwks IS NULL OR (json_valid(jwks) AND json_type(jwks) = 'object')),
    CHECK ((auth_method = 'private_key_jwt') = (jwks IS NOT NULL))
);

INSERT INTO oauth_clients_0006 (id, name, secret_hash, auth_method, redirect_uris, post_logout_redirect_uris,
                                grant_types, scopes, cors_origins, skip_consent, access_token_lifetime,
                                created_at, jwks)
    SELECT id, name, secret_hash, auth_method, redirect_uris, post_logout_redirect_uris, grant_types, scopes,
           cors_origins, skip_consent, access_token_lifetime, created_at, NULL
    FROM oauth_clients;

DROP TABLE oauth_clients;

ALTER TABLE oauth_clients_0006 RENAME TO oauth_clients;

CREATE INDEX oauth_clients_created_at_idx ON oauth_clients (created_at, id);

-- RFC 7523 §3 point 7 / OpenID Connect Core §9: a client assertion's `jti` is accepted once.
-- Keyed by client and SHA-256 of the jti; a row lives until the assertion's `exp` (plus the
-- clock-skew leeway), after which the assertion is refused as expired anyway.
CREATE TABLE client_assertion_jtis (
    client_id   TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    jti_hash    BLOB    NOT NULL CHECK (length(jti_hash) = 32),
    expires_at  BIGINT  NOT NULL,
    PRIMARY KEY (client_id, jti_hash)
);

CREATE INDEX client_assertion_jtis_expires_at_idx ON client_assertion_jtis (expires_at);

-- Step 10 of the procedure: the rebuild must leave no dangling reference. A violation makes
-- this INSERT fail its CHECK, which aborts the migration before COMMIT (nothing is applied).
CREATE TEMP TABLE migration_0006_fk_check (violations INTEGER NOT NULL CHECK (violations = 0));
INSERT INTO migration_0006_fk_check SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE migration_0006_fk_check;

COMMIT;

PRAGMA foreign_keys = ON;
