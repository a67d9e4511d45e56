-- Signing keys and refresh tokens (SQLite). Timestamps are unix seconds, as in 0001.

CREATE TABLE signing_keys (
    kid                 TEXT    NOT NULL PRIMARY KEY,
    alg                 TEXT    NOT NULL CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    -- PKCS#8 DER sealed with the master key; the plain private key is never stored.
    sealed_private_key  BLOB    NOT NULL,
    public_jwk          TEXT    NOT NULL CHECK (json_valid(public_jwk)),
    created_at          BIGINT  NOT NULL,
    activates_at        BIGINT  NOT NULL,
    -- Scheduled rotations of one algorithm share a slot, so nodes racing to schedule the same
    -- rotation insert one key. Manual rotations have none: NULLs never collide in UNIQUE.
    rotation_slot       BIGINT  NULL,
    UNIQUE (alg, rotation_slot)
);

-- One family per login or grant; revoking it stops every token it ever issued.
CREATE TABLE refresh_families (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    user_id         BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id       TEXT    NOT NULL,
    scope           TEXT    NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    revoked_at      BIGINT  NULL,
    revoked_reason  TEXT    NULL
);

CREATE INDEX refresh_families_user_id_idx ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash      BLOB    NOT NULL PRIMARY KEY,
    family_id       BLOB    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL,
    idle_expires_at BIGINT  NOT NULL,
    -- Set when the token is exchanged for its successor; presenting it again is reuse.
    used_at         BIGINT  NULL
);

CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
