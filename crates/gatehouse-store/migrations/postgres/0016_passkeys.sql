-- WebAuthn passkeys (postgres): a user's registered credentials, and the server-side state of a
-- ceremony in progress (registration, second factor, passwordless sign-in) so that any node
-- can finish what another began.
CREATE TABLE passkeys (
    id              UUID    NOT NULL PRIMARY KEY,
    user_id         UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The authenticator's credential id (raw bytes); one account only (WebAuthn L3 §7.1 step 25).
    credential_id   BYTEA   NOT NULL UNIQUE,
    -- The name the user gave it ("Laptop", "Phone").
    name            TEXT    NOT NULL,
    -- The credential as webauthn-rs keeps it (JSON): public key, signature counter, backup
    -- flags. Public material only: nothing here lets anyone sign in.
    credential      TEXT    NOT NULL,
    -- The authenticator said it stored a discoverable credential (credProps `rk`): usable for
    -- sign-in without an email address.
    discoverable    BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL,
    last_used_at    BIGINT
);

CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

CREATE TABLE passkey_ceremonies (
    -- SHA-256 of the random handle the browser holds.
    handle_hash     BYTEA   NOT NULL PRIMARY KEY,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('register', 'second_factor', 'sign_in')),
    -- The user it is for (registration, second factor); NULL for a passwordless sign-in, where
    -- the authenticator names the user.
    user_id         UUID    REFERENCES users (id) ON DELETE CASCADE,
    -- A second factor's ceremony belongs to one pending second step (its handle's SHA-256).
    binding         BYTEA,
    -- webauthn-rs ceremony state (JSON), with the challenge; single use.
    state           TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL
);

CREATE INDEX passkey_ceremonies_expires_at_idx ON passkey_ceremonies (expires_at);
