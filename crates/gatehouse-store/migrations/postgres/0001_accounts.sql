-- Accounts, sessions and the audit trail (PostgreSQL).
-- Timestamps are unix seconds (BIGINT) as on SQLite, so both backends share their SQL.

CREATE TABLE users (
    id              UUID    NOT NULL PRIMARY KEY,
    email           TEXT    NOT NULL,
    -- Normalised (NFKC, lower-case) address: what uniqueness and look-up use.
    email_key       TEXT    NOT NULL CONSTRAINT users_email_key_unique UNIQUE,
    display_name    TEXT    NULL,
    password_hash   TEXT    NULL,
    status          TEXT    NOT NULL CONSTRAINT users_status_check CHECK (status IN ('active', 'disabled')),
    email_verified  BOOLEAN NOT NULL DEFAULT false,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE sessions (
    id              UUID    NOT NULL PRIMARY KEY,
    -- SHA-256 of the cookie token; the token itself is never stored.
    token_hash      BYTEA   NOT NULL CONSTRAINT sessions_token_hash_unique UNIQUE,
    user_id         UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL,
    last_seen_at    BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    ip              TEXT    NULL,
    user_agent      TEXT    NULL
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE audit_events (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at     BIGINT  NOT NULL,
    event_type      TEXT    NOT NULL,
    actor           TEXT    NULL,
    subject         TEXT    NULL,
    ip              TEXT    NULL,
    user_agent      TEXT    NULL,
    outcome         TEXT    NOT NULL,
    details         JSONB   NOT NULL
);

CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_event_type_idx ON audit_events (event_type);
CREATE INDEX audit_events_actor_idx ON audit_events (actor);
CREATE INDEX audit_events_subject_idx ON audit_events (subject);

-- The audit trail is append-only: a compromised application account cannot rewrite history
-- through this schema. A retention job would need a migration that drops these triggers.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
