-- Invitations (PostgreSQL): an admin invites an address with roles; accepting the mailed link
-- creates the account. Only the SHA-256 of the link's token is stored. Timestamps are unix
-- seconds. Status is derived: accepted_at set, else revoked_at set, else expired by
-- expires_at, else pending.

CREATE TABLE invitations (
    id                  UUID    NOT NULL PRIMARY KEY,
    token_hash          BYTEA   NOT NULL UNIQUE,
    email               TEXT    NOT NULL,
    -- Normalised address (as users.email_key).
    email_key           TEXT    NOT NULL,
    -- Role names granted on acceptance, a JSON array.
    roles               JSONB   NOT NULL CHECK (jsonb_typeof(roles) = 'array'),
    -- The audit actor who invited: a user id, `client:<id>` or `cli`.
    invited_by          TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    accepted_at         BIGINT  NULL,
    accepted_user_id    UUID    NULL REFERENCES users (id) ON DELETE SET NULL,
    revoked_at          BIGINT  NULL
);

-- At most one open (neither accepted nor revoked) invitation per address: a newer one revokes
-- the older in the same transaction, and of two concurrent ones the second fails.
CREATE UNIQUE INDEX invitations_open_email_idx ON invitations (email_key)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_email_key_idx ON invitations (email_key);
