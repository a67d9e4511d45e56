-- Failed-login counters (PostgreSQL), one row per login key: the SHA-256 of a normalised email
-- address, existing or not. They drive the progressive delay and the temporary lock; the rules
-- live in gatehouse-core (abuse::lockout), the store only updates a row atomically.
-- Timestamps are unix seconds.

CREATE TABLE login_attempts (
    key_hash        TEXT    NOT NULL PRIMARY KEY,
    failures        BIGINT  NOT NULL CHECK (failures >= 0),
    in_flight       BIGINT  NOT NULL CHECK (in_flight >= 0),
    window_start    BIGINT  NOT NULL,
    locked_until    BIGINT  NULL,
    -- After this the row means nothing any more; the server deletes such rows periodically.
    expires_at      BIGINT  NOT NULL
);

CREATE INDEX login_attempts_expires_at_idx ON login_attempts (expires_at);
