-- Client self-registration (PostgreSQL): RFC 7591/7592 dynamic registration and OAuth Client ID
-- Metadata Documents.
--
-- `registration`: who registered the client ('admin' for every client from before, and for
-- those of the admin API, console and CLI). `registration_token_hash`: SHA-256 of the RFC 7592
-- registration access token of a 'dynamic' client. `metadata_expires_at`: when a
-- 'metadata_document' client's document must be fetched again. `first_used_at`: when the client
-- first authenticated at the token endpoint (the sweeper deletes self-registered clients that
-- never did within the configured lifetime).
ALTER TABLE oauth_clients ADD COLUMN registration TEXT NOT NULL DEFAULT 'admin'
    CHECK (registration IN ('admin', 'dynamic', 'metadata_document'));
ALTER TABLE oauth_clients ADD COLUMN registration_token_hash BYTEA NULL
    CHECK (registration_token_hash IS NULL OR octet_length(registration_token_hash) = 32);
ALTER TABLE oauth_clients ADD COLUMN metadata_expires_at BIGINT NULL;
ALTER TABLE oauth_clients ADD COLUMN first_used_at BIGINT NULL;

CREATE INDEX oauth_clients_unused_idx ON oauth_clients (created_at) WHERE registration <> 'admin' AND first_used_at IS NULL;

-- RFC 7591 §3: operator-issued initial access tokens, by SHA-256 (the token is shown once).
CREATE TABLE initial_access_tokens (
    token_hash  BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
