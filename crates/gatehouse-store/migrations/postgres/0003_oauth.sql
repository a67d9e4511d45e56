-- OAuth clients, authorization codes and remembered consents (PostgreSQL). Timestamps are
-- unix seconds, as in 0001. Lists are JSONB arrays, checked to be arrays.

CREATE TABLE oauth_clients (
    -- "C" collation: byte order, as SQLite's BINARY, so both list clients alike whatever the
    -- database's locale (client ids are mixed-case base64url).
    id                          TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    name                        TEXT    NOT NULL,
    -- SHA-256 of the secret; NULL for public clients. The secret itself is never stored.
    secret_hash                 BYTEA   NULL,
    auth_method                 TEXT    NOT NULL CONSTRAINT oauth_clients_auth_method_check
        CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    redirect_uris               JSONB   NOT NULL CHECK (jsonb_typeof(redirect_uris) = 'array'),
    post_logout_redirect_uris   JSONB   NOT NULL CHECK (jsonb_typeof(post_logout_redirect_uris) = 'array'),
    grant_types                 JSONB   NOT NULL CHECK (jsonb_typeof(grant_types) = 'array'),
    scopes                      JSONB   NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
    cors_origins                JSONB   NOT NULL CHECK (jsonb_typeof(cors_origins) = 'array'),
    skip_consent                BOOLEAN NOT NULL,
    -- Seconds; NULL means the server default.
    access_token_lifetime       BIGINT  NULL,
    created_at                  BIGINT  NOT NULL
);

CREATE INDEX oauth_clients_created_at_idx ON oauth_clients (created_at, id);

CREATE TABLE authorization_codes (
    -- SHA-256 of the code; the code itself is never stored.
    code_hash       BYTEA   NOT NULL PRIMARY KEY,
    client_id       TEXT    COLLATE "C" NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id         UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri    TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    nonce           TEXT    NULL,
    code_challenge  TEXT    NULL,
    auth_time       BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    grant_id        UUID    NOT NULL,
    -- Set by the one redemption; kept until the code is purged, so a replay is recognised.
    used_at         BIGINT  NULL
);

CREATE INDEX authorization_codes_client_id_idx ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id_idx ON authorization_codes (user_id);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE oauth_consents (
    user_id     UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT    COLLATE "C" NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes      JSONB   NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
    granted_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX oauth_consents_client_id_idx ON oauth_consents (client_id);
