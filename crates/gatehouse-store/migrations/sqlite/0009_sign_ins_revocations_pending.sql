-- Sign-ins, revoked access tokens and parked authorization requests (sqlite).

-- Where a first-party token login came from, shown beside browser sessions (account page and
-- admin API) so that it can be seen and ended like one. NULL for OAuth grants, whose requests
-- come from the client's server rather than the user.
ALTER TABLE refresh_families ADD COLUMN ip TEXT NULL;
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT NULL;

-- Access tokens revoked before they expire (RFC 7009 §2) that belong to no refresh family
-- (client credentials): introspection answers inactive for them until expires_at, then the
-- row is purged. Tokens of a grant die with their family instead.
CREATE TABLE revoked_access_tokens (
    jti             TEXT    NOT NULL PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    expires_at      BIGINT  NOT NULL
);

CREATE INDEX revoked_access_tokens_expires_at_idx ON revoked_access_tokens (expires_at);

-- Authorization requests parked while the user signs in (RFC 6749 §4.1.1): the login page gets
-- a short reference instead of the whole request, which may be long (a 2,000-character state)
-- and would otherwise travel double-encoded in its URL. Only the SHA-256 of the reference is
-- stored; rows expire after ten minutes.
CREATE TABLE pending_authorizations (
    ref_hash        BLOB    NOT NULL PRIMARY KEY,
    query           TEXT    NOT NULL,
    expires_at      BIGINT  NOT NULL
);
