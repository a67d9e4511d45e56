-- OAuth clients, authorization codes and remembered consents (SQLite). Timestamps are unix
-- seconds, as in 0001. Lists are JSON arrays in TEXT, checked to be arrays.

CREATE TABLE oauth_clients (
    -- Compared with the BINARY collation (byte order), as PostgreSQL's "C": both list alike.
    id                          TEXT    NOT NULL PRIMARY KEY,
    name                        TEXT    NOT NULL,
    -- SHA-256 of the secret; NULL for public clients. The secret itself is never stored.
    secret_hash                 BLOB    NULL,
    auth_method                 TEXT    NOT NULL
        CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
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
    created_at                  BIGINT  NOT NULL
);

CREATE INDEX oauth_clients_created_at_idx ON oauth_clients (created_at, id);

CREATE TABLE authorization_codes (
    -- SHA-256 of the code; the code itself is never stored.
    code_hash       BLOB    NOT NULL PRIMARY KEY,
    client_id       TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id         BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri    TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    nonce           TEXT    NULL,
    code_challenge  TEXT    NULL,
    auth_time       BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    grant_id        BLOB    NOT NULL CHECK (length(grant_id) = 16),
    -- Set by the one redemption; kept until the code is purged, so a replay is recognised.
    used_at         BIGINT  NULL
);

CREATE INDEX authorization_codes_client_id_idx ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id_idx ON authorization_codes (user_id);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE oauth_consents (
    user_id     BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes      TEXT    NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    granted_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX oauth_consents_client_id_idx ON oauth_consents (client_id);
