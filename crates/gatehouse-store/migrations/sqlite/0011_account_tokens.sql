-- Single-use account tokens (sqlite): the links in verification, change-of-address and
-- password-reset mails. Only the SHA-256 of the token is stored. A user's newer token of one
-- purpose replaces the older ones; a redeemed token is deleted; expired ones are purged.
CREATE TABLE account_tokens (
    token_hash      BLOB   NOT NULL PRIMARY KEY,
    user_id         BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'change_email', 'reset_password')),
    -- The address the link was sent to: the one to verify, or the new one.
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);

CREATE INDEX account_tokens_user_purpose_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);
