-- Pushed authorization requests (postgres), RFC 9126.
--
-- A pushed request's parameters wait here for the authorization request that names them
-- (`request_uri`, §4). Only the SHA-256 of the random part of the request URI is stored; a row
-- is bound to the client that pushed it, used once (deleted as it is read) and lives 60 s.
CREATE TABLE pushed_authorization_requests (
    ref_hash        BYTEA   NOT NULL PRIMARY KEY,
    client_id       TEXT    COLLATE "C" NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    query           TEXT    NOT NULL,
    expires_at      BIGINT  NOT NULL
);
CREATE INDEX pushed_authorization_requests_expires_at_idx ON pushed_authorization_requests (expires_at);

-- RFC 9126 §5: a client that must push its authorization requests. Existing clients: not required.
ALTER TABLE oauth_clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
