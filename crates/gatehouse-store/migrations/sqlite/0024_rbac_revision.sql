-- The RBAC revision (SQLite): a one-row counter that every insert, update or delete on the RBAC
-- tables moves, whoever writes (any node, the command line, a cascade from a deleted user, client,
-- role or permission). Nodes keep roles and permissions in memory for decisions and compare this
-- number, at most once a second, to know whether their copy is current (docs/policies.md).

CREATE TABLE rbac_revision (
    id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    revision        BIGINT  NOT NULL
);

INSERT INTO rbac_revision (id, revision) VALUES (1, 0);

CREATE TRIGGER roles_insert_rbac_revision AFTER INSERT ON roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER roles_update_rbac_revision AFTER UPDATE ON roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER roles_delete_rbac_revision AFTER DELETE ON roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER permissions_insert_rbac_revision AFTER INSERT ON permissions
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER permissions_update_rbac_revision AFTER UPDATE ON permissions
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER permissions_delete_rbac_revision AFTER DELETE ON permissions
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER role_permissions_insert_rbac_revision AFTER INSERT ON role_permissions
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER role_permissions_update_rbac_revision AFTER UPDATE ON role_permissions
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER role_permissions_delete_rbac_revision AFTER DELETE ON role_permissions
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER user_roles_insert_rbac_revision AFTER INSERT ON user_roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER user_roles_update_rbac_revision AFTER UPDATE ON user_roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER user_roles_delete_rbac_revision AFTER DELETE ON user_roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER client_roles_insert_rbac_revision AFTER INSERT ON client_roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER client_roles_update_rbac_revision AFTER UPDATE ON client_roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER client_roles_delete_rbac_revision AFTER DELETE ON client_roles
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
END;
