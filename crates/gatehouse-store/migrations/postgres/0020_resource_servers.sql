-- Resource servers (postgres), RFC 8707: the APIs access tokens are for. `identifier` is the
-- resource indicator (an absolute URI, compared exactly) and the `aud` of their tokens.
CREATE TABLE resource_servers (
    id                    UUID    NOT NULL PRIMARY KEY,
    -- "C" collation: byte order, as SQLite's BINARY, so both list alike.
    identifier            TEXT    COLLATE "C" NOT NULL UNIQUE,
    name                  TEXT    NOT NULL,
    scopes                JSONB   NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
    -- Seconds; NULL means the server default.
    access_token_lifetime BIGINT  NULL,
    signing_alg           TEXT    NOT NULL CHECK (signing_alg IN ('ES256', 'EdDSA', 'RS256')),
    allow_permissions     BOOLEAN NOT NULL,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    revision              BIGINT  NOT NULL DEFAULT 0
);

-- The resources a grant was requested for (RFC 8707 §2.1), under the grant id an authorization
-- code carries and its refresh family takes over.
CREATE TABLE grant_resources (
    grant_id   UUID   NOT NULL PRIMARY KEY,
    resources  JSONB  NOT NULL CHECK (jsonb_typeof(resources) = 'array'),
    created_at BIGINT NOT NULL
);

CREATE INDEX grant_resources_created_at_idx ON grant_resources (created_at);
