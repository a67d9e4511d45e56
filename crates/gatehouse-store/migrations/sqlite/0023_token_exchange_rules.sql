-- Token exchange (RFC 8693): which client may exchange which tokens, for which audiences and
-- scopes. No rule: the client may not exchange at all. Lists are JSON arrays of strings;
-- `subject_clients` may hold "*" (tokens of any client).
CREATE TABLE token_exchange_rules (
    id                   BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    client_id            TEXT    NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject_clients      TEXT    NOT NULL,
    audiences            TEXT    NOT NULL,
    scopes               TEXT    NOT NULL,
    allow_impersonation  BOOLEAN NOT NULL,
    allow_delegation     BOOLEAN NOT NULL,
    created_at           BIGINT  NOT NULL
);

CREATE INDEX token_exchange_rules_client_idx ON token_exchange_rules (client_id, created_at);
