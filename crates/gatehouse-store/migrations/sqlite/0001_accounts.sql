-- Accounts, sessions and the audit trail (SQLite).
-- Ids are 16-byte UUID blobs: BLOB comparison is memcmp, the same order as PostgreSQL's uuid,
-- so UUIDv7 ids list in creation order on both backends. Timestamps are unix seconds.

CREATE TABLE users (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    email           TEXT    NOT NULL,
    -- Normalised (NFKC, lower-case) address: what uniqueness and look-up use.
    email_key       TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NULL,
    password_hash   TEXT    NULL,
    status          TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    email_verified  BOOLEAN NOT NULL DEFAULT false CHECK (email_verified IN (0, 1)),
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE sessions (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    -- SHA-256 of the cookie token; the token itself is never stored.
    token_hash      BLOB    NOT NULL UNIQUE,
    user_id         BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL,
    last_seen_at    BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    ip              TEXT    NULL,
    user_agent      TEXT    NULL
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE audit_events (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    occurred_at     BIGINT  NOT NULL,
    event_type      TEXT    NOT NULL,
    actor           TEXT    NULL,
    subject         TEXT    NULL,
    ip              TEXT    NULL,
    user_agent      TEXT    NULL,
    outcome         TEXT    NOT NULL,
    details         TEXT    NOT NULL CHECK (json_valid(details))
);

CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_event_type_idx ON audit_events (event_type);
CREATE INDEX audit_events_actor_idx ON audit_events (actor);
CREATE INDEX audit_events_subject_idx ON audit_events (subject);

-- The audit trail is append-only: a compromised application account cannot rewrite history
-- through this schema. A retention job would need a migration that drops these triggers.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
