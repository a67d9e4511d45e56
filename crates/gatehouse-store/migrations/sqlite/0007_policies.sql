-- Cedar policies and the Cedar schema, versioned (SQLite). Every change appends a row: the
-- next version of a named document, or its deletion (body NULL). The largest id is the store's
-- revision, which nodes compare to know whether their compiled copy is current.

CREATE TABLE policy_versions (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN ('policy', 'schema')),
    name            TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    version         BIGINT  NOT NULL CHECK (version >= 1),
    body            TEXT    NULL,
    author          TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    UNIQUE (kind, name, version)
);

CREATE INDEX policy_versions_latest_idx ON policy_versions (kind, name, id);
