//! `RbacStore`: roles, permissions and their grants. A guarded user change is one write
//! transaction that first takes the dialect's lock ([`Dialect::LOCK_ADMIN_ROLE`]: the admin
//! role's row on PostgreSQL; SQLite's `BEGIN IMMEDIATE` needs none), so the last-admin check and
//! the change see no other guarded change in between.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::rbac::{
    ADMIN_ROLE, Access, GuardOutcome, GuardedChange, Permission, PermissionName, RbacGrants, RbacStore, Role, RoleName,
};
use gatehouse_core::store::StoreError;
use gatehouse_core::user::{UserId, UserStatus};
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rbac::{UserGuardState, access, refusal};
use crate::rows::{NamedRow, permission_name, role_name};
use crate::sql;

#[async_trait]
impl<D: Dialect> RbacStore for SqlStore<D> {
    async fn insert_role(&self, role: &Role) -> Result<(), StoreError> {
        self.query(sql::INSERT_ROLE)
            .bind(role.name.as_str())
            .bind(role.description.as_deref())
            .bind(role.created_at)
            .bind(role.updated_at)
            .on_unique(OnUnique::Role)
            .execute()
            .await?;
        Ok(())
    }

    async fn role(&self, name: &RoleName) -> Result<Option<Role>, StoreError> {
        let row: Option<NamedRow> = self.query(sql::ROLE).bind(name.as_str()).fetch_optional().await?;
        row.map(Role::try_from).transpose()
    }

    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows: Vec<NamedRow> = self.query(sql::LIST_ROLES).fetch_all().await?;
        rows.into_iter().map(Role::try_from).collect()
    }

    async fn set_role_description(
        &self,
        name: &RoleName,
        description: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = self.query(sql::SET_ROLE_DESCRIPTION).bind(name.as_str()).bind(description).bind(now).execute();
        Ok(done.await? > 0)
    }

    async fn delete_role(&self, name: &RoleName) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_ROLE).bind(name.as_str()).execute().await? > 0)
    }

    async fn insert_permission(&self, permission: &Permission) -> Result<(), StoreError> {
        self.query(sql::INSERT_PERMISSION)
            .bind(permission.name.as_str())
            .bind(permission.description.as_deref())
            .bind(permission.created_at)
            .bind(permission.updated_at)
            .on_unique(OnUnique::Permission)
            .execute()
            .await?;
        Ok(())
    }

    async fn permission(&self, name: &PermissionName) -> Result<Option<Permission>, StoreError> {
        let row: Option<NamedRow> = self.query(sql::PERMISSION).bind(name.as_str()).fetch_optional().await?;
        row.map(Permission::try_from).transpose()
    }

    async fn list_permissions(&self) -> Result<Vec<Permission>, StoreError> {
        let rows: Vec<NamedRow> = self.query(sql::LIST_PERMISSIONS).fetch_all().await?;
        rows.into_iter().map(Permission::try_from).collect()
    }

    async fn set_permission_description(
        &self,
        name: &PermissionName,
        description: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = self.query(sql::SET_PERMISSION_DESCRIPTION).bind(name.as_str()).bind(description).bind(now);
        Ok(done.execute().await? > 0)
    }

    async fn delete_permission(&self, name: &PermissionName) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_PERMISSION).bind(name.as_str()).execute().await? > 0)
    }

    async fn grant_permission(
        &self,
        role: &RoleName,
        permission: &PermissionName,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = self.query(sql::GRANT_PERMISSION).bind(role.as_str()).bind(permission.as_str()).bind(now);
        Ok(done.execute().await? > 0)
    }

    async fn revoke_permission(&self, role: &RoleName, permission: &PermissionName) -> Result<bool, StoreError> {
        Ok(self.query(sql::REVOKE_PERMISSION).bind(role.as_str()).bind(permission.as_str()).execute().await? > 0)
    }

    async fn role_permissions(&self, role: &RoleName) -> Result<Vec<PermissionName>, StoreError> {
        let names: Vec<(String,)> = self.query(sql::ROLE_PERMISSIONS).bind(role.as_str()).fetch_all().await?;
        names.into_iter().map(|(name,)| permission_name(name)).collect()
    }

    async fn grant_user_role(&self, user: UserId, role: &RoleName, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::GRANT_USER_ROLE).bind(user.0).bind(role.as_str()).bind(now).execute().await? > 0)
    }

    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleName>, StoreError> {
        let names: Vec<(String,)> = self.query(sql::USER_ROLES).bind(user.0).fetch_all().await?;
        names.into_iter().map(|(name,)| role_name(name)).collect()
    }

    async fn user_permissions(&self, user: UserId) -> Result<Vec<PermissionName>, StoreError> {
        let names: Vec<(String,)> = self.query(sql::USER_PERMISSIONS).bind(user.0).fetch_all().await?;
        names.into_iter().map(|(name,)| permission_name(name)).collect()
    }

    async fn user_access(&self, user: UserId) -> Result<Access, StoreError> {
        access(self.query(sql::USER_ACCESS).bind(user.0).fetch_all().await?)
    }

    async fn role_members(&self, role: &RoleName) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<(Uuid,)> = self.query(sql::ROLE_MEMBERS).bind(role.as_str()).fetch_all().await?;
        Ok(ids.into_iter().map(|(id,)| UserId(id)).collect())
    }

    async fn grant_client_role(&self, client_id: &str, role: &RoleName, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::GRANT_CLIENT_ROLE).bind(client_id).bind(role.as_str()).bind(now).execute().await? > 0)
    }

    async fn revoke_client_role(&self, client_id: &str, role: &RoleName) -> Result<bool, StoreError> {
        Ok(self.query(sql::REVOKE_CLIENT_ROLE).bind(client_id).bind(role.as_str()).execute().await? > 0)
    }

    async fn client_roles(&self, client_id: &str) -> Result<Vec<RoleName>, StoreError> {
        let names: Vec<(String,)> = self.query(sql::CLIENT_ROLES).bind(client_id).fetch_all().await?;
        names.into_iter().map(|(name,)| role_name(name)).collect()
    }

    async fn role_clients(&self, role: &RoleName) -> Result<Vec<String>, StoreError> {
        let ids: Vec<(String,)> = self.query(sql::ROLE_CLIENTS).bind(role.as_str()).fetch_all().await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    async fn client_access(&self, client_id: &str) -> Result<Access, StoreError> {
        access(self.query(sql::CLIENT_ACCESS).bind(client_id).fetch_all().await?)
    }

    async fn rbac_revision(&self) -> Result<i64, StoreError> {
        let (revision,): (i64,) = self.query(sql::RBAC_REVISION).fetch_one().await?;
        Ok(revision)
    }

    async fn rbac_grants(&self) -> Result<RbacGrants, StoreError> {
        // The revision first: rows read after it can only be newer (see `RbacGrants::revision`).
        let revision = self.rbac_revision().await?;
        let users: Vec<(Uuid, String)> = self.query(sql::ALL_USER_ROLES).fetch_all().await?;
        let clients: Vec<(String, String)> = self.query(sql::ALL_CLIENT_ROLES).fetch_all().await?;
        let permissions: Vec<(String, String)> = self.query(sql::ALL_ROLE_PERMISSIONS).fetch_all().await?;
        Ok(RbacGrants {
            revision,
            user_roles: users.into_iter().map(|(u, r)| Ok((UserId(u), role_name(r)?))).collect::<Result<_, _>>()?,
            client_roles: clients
                .into_iter()
                .map(|(c, r)| Ok((c, role_name(r)?)))
                .collect::<Result<_, StoreError>>()?,
            role_permissions: permissions
                .into_iter()
                .map(|(r, p)| Ok((role_name(r)?, permission_name(p)?)))
                .collect::<Result<_, StoreError>>()?,
        })
    }

    async fn change_user_guarded(
        &self,
        user: UserId,
        change: &GuardedChange,
        now: UnixTime,
    ) -> Result<GuardOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        // Every guarded change queues here first: the check below and the change are then
        // one step for all of them. (Grants only add admins, so they need not wait.)
        tx.lock(D::LOCK_ADMIN_ROLE, ADMIN_ROLE).await?;
        let revoked = match change {
            GuardedChange::RevokeRole(role) => role.as_str(),
            _ => ADMIN_ROLE,
        };
        let row: Option<(String, bool, bool)> =
            tx.query(sql::USER_GUARD_STATE).bind(user.0).bind(revoked).bind(ADMIN_ROLE).fetch_optional().await?;
        let state = row.map(|(status, has_role, is_admin)| UserGuardState {
            active: status == UserStatus::Active.as_str(),
            has_role,
            is_admin,
        });
        let others = if state.as_ref().is_some_and(|s| s.is_admin && s.active) {
            let (others,): (i64,) =
                tx.query(sql::OTHER_ACTIVE_ADMINS).bind(user.0).bind(ADMIN_ROLE).fetch_one().await?;
            others
        } else {
            0
        };
        if let Some(refused) = refusal(change, state.as_ref(), || others) {
            return Ok(refused);
        }
        let statement = match change {
            GuardedChange::RevokeRole(role) => tx.query(sql::REVOKE_USER_ROLE).bind(user.0).bind(role.as_str()),
            GuardedChange::Disable => {
                tx.query(sql::SET_USER_STATUS).bind(user.0).bind(UserStatus::Disabled.as_str()).bind(now)
            }
            GuardedChange::Delete => {
                // The invitation the account was created from holds its address: it goes too
                // (everything of a deleted user is removed; the audit trail keeps the ids).
                tx.query(sql::DELETE_ACCEPTED_INVITATIONS).bind(user.0).execute().await?;
                tx.query(sql::DELETE_USER).bind(user.0)
            }
        };
        statement.execute().await?;
        tx.commit().await?;
        Ok(GuardOutcome::Applied)
    }
}
