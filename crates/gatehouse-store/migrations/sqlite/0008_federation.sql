-- Sign-in through upstream identity providers (SQLite): links between local accounts and
-- upstream identities, logins in progress, and how each session / code was authenticated.

-- An upstream identity is (provider, subject) — never an email address.
CREATE TABLE federated_identities (
    provider        TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    user_id         BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the upstream last reported; informational, never used for matching.
    email           TEXT    NULL,
    created_at      BIGINT  NOT NULL,
    last_login_at   BIGINT  NOT NULL,
    PRIMARY KEY (provider, subject)
);

-- At most one link per provider per account.
CREATE UNIQUE INDEX federated_identities_user_provider_idx ON federated_identities (user_id, provider);

-- Logins in progress: only the SHA-256 of `state` and of the browser binding cookie. The
-- nonce and PKCE verifier are derived from the cookie and never stored.
CREATE TABLE federation_states (
    state_hash      BLOB    NOT NULL PRIMARY KEY,
    binding_hash    BLOB    NOT NULL,
    provider        TEXT    NOT NULL,
    return_to       TEXT    NULL,
    link_user       BLOB    NULL REFERENCES users (id) ON DELETE CASCADE,
    force_login     BOOLEAN NOT NULL CHECK (force_login IN (0, 1)),
    -- A verified upstream identity waiting for the password of the local account with its
    -- email (all three set, or none).
    pending_subject TEXT    NULL,
    pending_user    BLOB    NULL REFERENCES users (id) ON DELETE CASCADE,
    pending_email   TEXT    NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);

CREATE INDEX federation_states_expires_at_idx ON federation_states (expires_at);

-- RFC 8176 `amr` of the sign-in: `pwd`, or `fed` through an upstream provider.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
-- When the user authenticated (the ID token's `auth_time`, and what `max_age` is checked
-- against): the session's creation for a password sign-in, the upstream's own authentication
-- time through a provider (0 when the upstream does not say: never fresh).
ALTER TABLE sessions ADD COLUMN auth_time BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET auth_time = created_at;
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
