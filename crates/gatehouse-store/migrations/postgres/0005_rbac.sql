-- Role-based access control in the classic schema (PostgreSQL): roles, permissions named
-- `resource:action`, and the grants between them, users and clients. Names are the keys
-- (validated in gatehouse-core::rbac), compared byte-wise (COLLATE "C") as on SQLite.
-- Timestamps are unix seconds. Grants go with whatever they point at (ON DELETE CASCADE).

CREATE TABLE roles (
    name            TEXT    COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    description     TEXT    NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE permissions (
    name            TEXT    COLLATE "C" NOT NULL PRIMARY KEY
        CHECK (length(name) BETWEEN 3 AND 129 AND strpos(name, ':') > 1),
    description     TEXT    NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE role_permissions (
    role_name       TEXT    COLLATE "C" NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission_name TEXT    COLLATE "C" NOT NULL REFERENCES permissions (name) ON DELETE CASCADE,
    granted_at      BIGINT  NOT NULL,
    PRIMARY KEY (role_name, permission_name)
);

CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_name);

CREATE TABLE user_roles (
    user_id         UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_name       TEXT    COLLATE "C" NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    granted_at      BIGINT  NOT NULL,
    PRIMARY KEY (user_id, role_name)
);

CREATE INDEX user_roles_role_idx ON user_roles (role_name);

-- Machine identities: clients acting for themselves (client credentials) can hold roles too.
CREATE TABLE client_roles (
    client_id       TEXT    COLLATE "C" NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    role_name       TEXT    COLLATE "C" NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    granted_at      BIGINT  NOT NULL,
    PRIMARY KEY (client_id, role_name)
);

CREATE INDEX client_roles_role_idx ON client_roles (role_name);

-- The one built-in role: full access to Gatehouse's own admin API. It cannot be deleted
-- (gatehouse-core refuses), and the last active user holding it cannot lose it.
INSERT INTO roles (name, description, created_at, updated_at)
VALUES ('admin', 'Full access to the Gatehouse admin API', 0, 0);
