-- Resource servers (sqlite), RFC 8707: the APIs access tokens are for. `identifier` is the
-- resource indicator (an absolute URI, compared exactly) and the `aud` of their tokens.
CREATE TABLE resource_servers (
    id                    BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    identifier            TEXT    NOT NULL UNIQUE,
    name                  TEXT    NOT NULL,
    scopes                TEXT    NOT NULL CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    -- Seconds; NULL means the server default.
    access_token_lifetime BIGINT  NULL,
    signing_alg           TEXT    NOT NULL CHECK (signing_alg IN ('ES256', 'EdDSA', 'RS256')),
    allow_permissions     BOOLEAN NOT NULL CHECK (allow_permissions IN (0, 1)),
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    revision              BIGINT  NOT NULL DEFAULT 0
);

-- The resources a grant was requested for (RFC 8707 §2.1), under the grant id an authorization
-- code carries and its refresh family takes over.
CREATE TABLE grant_resources (
    grant_id   BLOB   NOT NULL PRIMARY KEY CHECK (length(grant_id) = 16),
    resources  TEXT   NOT NULL CHECK (json_valid(resources) AND json_type(resources) = 'array'),
    created_at BIGINT NOT NULL
);

CREATE INDEX grant_resources_created_at_idx ON grant_resources (created_at);
