-- Multi-factor sign-in (postgres): TOTP factors (secret sealed under the master key), single-use
-- recovery codes (SHA-256 only), and the pending second-factor step of a sign-in (the
-- SHA-256 of a random handle; single-use, short-lived).
CREATE TABLE mfa_totp (
    user_id         UUID      NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The raw secret sealed with the master key, bound to the user id.
    secret_sealed   BYTEA      NOT NULL,
    created_at      BIGINT  NOT NULL,
    -- NULL while the enrolment waits for its first valid code.
    confirmed_at    BIGINT,
    -- The highest time step accepted so far: a code of this step or an earlier one is refused.
    last_used_step  BIGINT
);

CREATE TABLE mfa_recovery_codes (
    user_id         UUID      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash       BYTEA      NOT NULL,
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE mfa_challenges (
    handle_hash     BYTEA      NOT NULL PRIMARY KEY,
    user_id         UUID      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the second factor completes: a browser page sign-in, a JSON session sign-in, or
    -- the first-party token API.
    channel         TEXT    NOT NULL CHECK (channel IN ('page', 'session', 'token')),
    -- The parked authorization request to continue (page sign-ins only).
    next            TEXT,
    -- RFC 8176 values of the first step (`pwd`, or `fed` for an upstream provider),
    -- space-separated; the second factor adds `otp mfa`.
    amr             TEXT    NOT NULL,
    -- When the first step was done.
    auth_time       BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);

CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);
