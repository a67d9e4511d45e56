-- Signing keys and refresh tokens (PostgreSQL). Timestamps are unix seconds, as in 0001.

CREATE TABLE signing_keys (
    kid                 TEXT    NOT NULL PRIMARY KEY,
    alg                 TEXT    NOT NULL CONSTRAINT signing_keys_alg_check CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    -- PKCS#8 DER sealed with the master key; the plain private key is never stored.
    sealed_private_key  BYTEA   NOT NULL,
    public_jwk          JSONB   NOT NULL,
    created_at          BIGINT  NOT NULL,
    activates_at        BIGINT  NOT NULL,
    -- Scheduled rotations of one algorithm share a slot, so nodes racing to schedule the same
    -- rotation insert one key. Manual rotations have none: NULLs are distinct in UNIQUE.
    rotation_slot       BIGINT  NULL,
    CONSTRAINT signing_keys_alg_slot_unique UNIQUE (alg, rotation_slot)
);

-- One family per login or grant; revoking it stops every token it ever issued.
CREATE TABLE refresh_families (
    id              UUID    NOT NULL PRIMARY KEY,
    user_id         UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
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
    token_hash      BYTEA   NOT NULL PRIMARY KEY,
    family_id       UUID    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL,
    idle_expires_at BIGINT  NOT NULL,
    -- Set when the token is exchanged for its successor; presenting it again is reuse.
    used_at         BIGINT  NULL
);

CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
