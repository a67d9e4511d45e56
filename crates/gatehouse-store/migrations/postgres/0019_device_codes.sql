-- Device authorization requests (postgres), RFC 8628: a device code the device polls with and a
-- user code the user types on /device, both stored as SHA-256 only.
CREATE TABLE device_authorizations (
    device_code_hash BYTEA   NOT NULL PRIMARY KEY,
    -- Unique while the row lives (rows are purged a day after they expire).
    user_code_hash   BYTEA   NOT NULL UNIQUE,
    client_id        TEXT    COLLATE "C" NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope            TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    -- Seconds between polls; grows by 5 with every slow_down (RFC 8628 §3.5).
    poll_interval    BIGINT  NOT NULL,
    last_polled_at   BIGINT  NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    -- The approving user and their sign-in (set when approved).
    user_id          UUID    NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time        BIGINT  NULL,
    amr              TEXT    NULL,
    grant_id         UUID    NOT NULL
);

CREATE INDEX device_authorizations_client_id_idx ON device_authorizations (client_id);
CREATE INDEX device_authorizations_user_id_idx ON device_authorizations (user_id);
CREATE INDEX device_authorizations_expires_at_idx ON device_authorizations (expires_at);
