-- DPoP (RFC 9449).
-- §11.1: the `jti`s of accepted DPoP proofs, per key thumbprint (RFC 7638, 43 characters) and
-- SHA-256 of the jti; a row lives until the proof is too old to be accepted anyway.
CREATE TABLE dpop_proof_jtis (
    jkt         TEXT    NOT NULL CHECK (length(jkt) = 43),
    jti_hash    BLOB    NOT NULL CHECK (length(jti_hash) = 32),
    expires_at  BIGINT  NOT NULL,
    PRIMARY KEY (jkt, jti_hash)
);

CREATE INDEX dpop_proof_jtis_expires_at_idx ON dpop_proof_jtis (expires_at);

-- §5: the refresh tokens of a public client that used DPoP are bound to its key; every refresh
-- must come with a proof by that key. NULL: not bound.
ALTER TABLE refresh_families ADD COLUMN dpop_jkt TEXT NULL CHECK (dpop_jkt IS NULL OR length(dpop_jkt) = 43);
