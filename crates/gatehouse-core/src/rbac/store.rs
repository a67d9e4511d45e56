//! `RbacStore`: the storage of roles, permissions and their grants (one trait for the RBAC
//! aggregate, object-safe like the others in `crate::store`).

use async_trait::async_trait;

use super::{Access, Permission, PermissionName, Role, RoleName};
use crate::clock::UnixTime;
use crate::store::StoreError;
use crate::user::UserId;

/// A change to a user that could remove the last active holder of the `admin` role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardedChange {
    RevokeRole(RoleName),
    Disable,
    Delete,
}

/// Every grant, read in one store call for the in-memory snapshot decisions use
/// ([`super::RbacSnapshots`]). Each list is sorted (byte order), so equal stores give equal
/// snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RbacGrants {
    /// The RBAC revision read *before* the rows: a write that lands in between makes the rows
    /// newer than the revision, never older, so the next revision check reloads them.
    pub revision: i64,
    pub user_roles: Vec<(UserId, RoleName)>,
    pub client_roles: Vec<(String, RoleName)>,
    pub role_permissions: Vec<(RoleName, PermissionName)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardOutcome {
    Applied,
    /// No such user (or, for a revocation, the user does not hold the role).
    NotFound,
    /// Refused: the user is the last active admin.
    LastAdmin,
}

/// Names compare in byte order on both backends; lists are sorted by name.
#[async_trait]
pub trait RbacStore: Send + Sync {
    /// `StoreError::Conflict("role")` when the name is taken.
    async fn insert_role(&self, role: &Role) -> Result<(), StoreError>;
    async fn role(&self, name: &RoleName) -> Result<Option<Role>, StoreError>;
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;
    async fn set_role_description(
        &self,
        name: &RoleName,
        description: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Deletes the role with its grants (to permissions, users and clients).
    async fn delete_role(&self, name: &RoleName) -> Result<bool, StoreError>;

    /// `StoreError::Conflict("permission")` when the name is taken.
    async fn insert_permission(&self, permission: &Permission) -> Result<(), StoreError>;
    async fn permission(&self, name: &PermissionName) -> Result<Option<Permission>, StoreError>;
    async fn list_permissions(&self) -> Result<Vec<Permission>, StoreError>;
    async fn set_permission_description(
        &self,
        name: &PermissionName,
        description: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Deletes the permission with its grants to roles.
    async fn delete_permission(&self, name: &PermissionName) -> Result<bool, StoreError>;

    /// `false` when the role already had the permission. Both must exist.
    async fn grant_permission(
        &self,
        role: &RoleName,
        permission: &PermissionName,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    async fn revoke_permission(&self, role: &RoleName, permission: &PermissionName) -> Result<bool, StoreError>;
    async fn role_permissions(&self, role: &RoleName) -> Result<Vec<PermissionName>, StoreError>;

    /// `false` when the user already held the role. Both must exist.
    async fn grant_user_role(&self, user: UserId, role: &RoleName, now: UnixTime) -> Result<bool, StoreError>;
    async fn user_roles(&self, user: UserId) -> Result<Vec<RoleName>, StoreError>;
    /// The union of the permissions of the user's roles.
    async fn user_permissions(&self, user: UserId) -> Result<Vec<PermissionName>, StoreError>;
    /// The user's roles and effective permissions in one query (read at every token issuance).
    async fn user_access(&self, user: UserId) -> Result<Access, StoreError>;
    /// Users holding the role, in id order.
    async fn role_members(&self, role: &RoleName) -> Result<Vec<UserId>, StoreError>;

    /// `false` when the client already held the role. Both must exist.
    async fn grant_client_role(&self, client_id: &str, role: &RoleName, now: UnixTime) -> Result<bool, StoreError>;
    async fn revoke_client_role(&self, client_id: &str, role: &RoleName) -> Result<bool, StoreError>;
    async fn client_roles(&self, client_id: &str) -> Result<Vec<RoleName>, StoreError>;
    /// Clients holding the role, in id order.
    async fn role_clients(&self, role: &RoleName) -> Result<Vec<String>, StoreError>;
    /// The client's roles and effective permissions in one query (client credentials tokens).
    async fn client_access(&self, client_id: &str) -> Result<Access, StoreError>;

    /// The RBAC revision: a counter moved by every write to roles, permissions and grants
    /// (database triggers, so writes from any node or the command line count). One indexed
    /// read, asked at most once a second per node.
    async fn rbac_revision(&self) -> Result<i64, StoreError>;
    /// Every grant and the revision they were read at (see [`RbacGrants::revision`]).
    async fn rbac_grants(&self) -> Result<RbacGrants, StoreError>;

    /// Applies `change` to `user` in one transaction, unless the user is an active holder of
    /// the `admin` role, the change takes that away, and no other active user holds it. All
    /// guarded changes serialise (SQLite `BEGIN IMMEDIATE`, PostgreSQL a lock on the `admin`
    /// role's row), so two admins removing each other cannot both succeed.
    async fn change_user_guarded(
        &self,
        user: UserId,
        change: &GuardedChange,
        now: UnixTime,
    ) -> Result<GuardOutcome, StoreError>;
}
