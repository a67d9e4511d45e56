-- The RBAC revision (PostgreSQL): a one-row counter that every insert, update or delete on the
-- RBAC tables moves, whoever writes (any node, the command line, a cascade from a deleted user,
-- client, role or permission). Nodes keep roles and permissions in memory for decisions and
-- compare this number, at most once a second, to know whether their copy is current
-- (docs/policies.md). A row, not a sequence: the new value becomes visible with the commit that
-- made the change, never before it. Statement-level triggers: one bump per statement.

CREATE TABLE rbac_revision (
    id              SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    revision        BIGINT   NOT NULL
);

INSERT INTO rbac_revision (id, revision) VALUES (1, 0);

CREATE FUNCTION bump_rbac_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rbac_revision SET revision = revision + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER roles_rbac_revision AFTER INSERT OR UPDATE OR DELETE ON roles
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_revision();

CREATE TRIGGER permissions_rbac_revision AFTER INSERT OR UPDATE OR DELETE ON permissions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_revision();

CREATE TRIGGER role_permissions_rbac_revision AFTER INSERT OR UPDATE OR DELETE ON role_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_revision();

CREATE TRIGGER user_roles_rbac_revision AFTER INSERT OR UPDATE OR DELETE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_revision();

CREATE TRIGGER client_roles_rbac_revision AFTER INSERT OR UPDATE OR DELETE ON client_roles
    FOR EACH STATEMENT EXECUTE FUNCTION bump_rbac_revision();
