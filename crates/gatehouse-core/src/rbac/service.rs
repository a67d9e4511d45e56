//! `RbacService`: roles, permissions and their grants, each change audited with its actor.
//! Every method takes an [`AdminCapability`]: only an authorized caller reaches them.

use std::sync::Arc;

use serde_json::json;

use super::{
    ADMIN_ROLE, AdminCapability, GuardOutcome, GuardedChange, Permission, PermissionName, RbacError, RbacStore, Role,
    RoleName, parse_description,
};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::email::Email;
use crate::scale_out::{Invalidation, Invalidations};
use crate::store::{AuditStore, ClientStore, UserStore};
use crate::user::{User, UserId};

/// One role with what it grants and who holds it (the console's overview).
#[derive(Debug, Clone)]
pub struct RoleHolders {
    pub role: Role,
    pub permissions: Vec<PermissionName>,
    /// Users holding the role, in id order.
    pub users: Vec<User>,
    /// Ids of the clients holding the role.
    pub clients: Vec<String>,
}

pub struct RbacService {
    store: Arc<dyn RbacStore>,
    users: Arc<dyn UserStore>,
    clients: Arc<dyn ClientStore>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
    invalidations: Option<Arc<Invalidations>>,
}

fn role_name(s: &str) -> Result<RoleName, RbacError> {
    Ok(RoleName::parse(s)?)
}

fn permission_name(s: &str) -> Result<PermissionName, RbacError> {
    Ok(PermissionName::parse(s)?)
}

impl RbacService {
    pub fn new(
        store: Arc<dyn RbacStore>,
        users: Arc<dyn UserStore>,
        clients: Arc<dyn ClientStore>,
        audit: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, users, clients, audit: Auditor::new(audit, clock.clone()), clock, invalidations: None }
    }

    /// Publishes [`Invalidation::Rbac`] on `hub` after every committed change to roles,
    /// permissions or grants: this node's decisions ([`super::RbacSnapshots`], registered with
    /// the hub) see the change at once, other nodes when the bus carries it.
    pub fn publishing_to(mut self, hub: Arc<Invalidations>) -> Self {
        self.invalidations = Some(hub);
        self
    }

    /// After a committed RBAC write (before it is audited or answered).
    pub(super) async fn changed(&self) {
        if let Some(hub) = &self.invalidations {
            hub.publish(Invalidation::Rbac).await;
        }
    }

    pub(super) fn store(&self) -> &dyn RbacStore {
        self.store.as_ref()
    }

    async fn record(
        &self,
        event: AuditEventType,
        cap: &AdminCapability,
        subject: String,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) -> Result<(), RbacError> {
        Ok(self
            .audit
            .record(event, Outcome::Success, Some(cap.actor().to_string()), Some(subject), ctx, details)
            .await?)
    }

    // Roles.

    pub async fn create_role(
        &self,
        cap: &AdminCapability,
        name: &str,
        description: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Role, RbacError> {
        let now = self.clock.now();
        let role = Role {
            name: role_name(name)?,
            description: parse_description(description)?,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_role(&role).await?;
        self.changed().await;
        self.record(AuditEventType::RoleCreated, cap, role.name.to_string(), ctx, json!({})).await?;
        Ok(role)
    }

    /// Every role with its permissions and holders, by name: who holds what.
    pub async fn holders(&self, _: &AdminCapability) -> Result<Vec<RoleHolders>, RbacError> {
        let mut out = Vec::new();
        for role in self.store.list_roles().await? {
            let permissions = self.store.role_permissions(&role.name).await?;
            let mut users = Vec::new();
            for id in self.store.role_members(&role.name).await? {
                if let Some(user) = self.users.user_by_id(id).await? {
                    users.push(user);
                }
            }
            let clients = self.store.role_clients(&role.name).await?;
            out.push(RoleHolders { role, permissions, users, clients });
        }
        Ok(out)
    }

    pub async fn list_roles(&self, _: &AdminCapability) -> Result<Vec<Role>, RbacError> {
        Ok(self.store.list_roles().await?)
    }

    /// The role and its permissions.
    pub async fn role(&self, _: &AdminCapability, name: &str) -> Result<(Role, Vec<PermissionName>), RbacError> {
        let name = role_name(name)?;
        let role = self.store.role(&name).await?.ok_or(RbacError::NotFound("role"))?;
        let permissions = self.store.role_permissions(&name).await?;
        Ok((role, permissions))
    }

    pub async fn update_role(
        &self,
        cap: &AdminCapability,
        name: &str,
        description: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Role, RbacError> {
        let name = role_name(name)?;
        let description = parse_description(description)?;
        if !self.store.set_role_description(&name, description.as_deref(), self.clock.now()).await? {
            return Err(RbacError::NotFound("role"));
        }
        self.changed().await;
        self.record(AuditEventType::RoleUpdated, cap, name.to_string(), ctx, json!({})).await?;
        self.store.role(&name).await?.ok_or(RbacError::NotFound("role"))
    }

    /// The built-in `admin` role cannot be deleted.
    pub async fn delete_role(&self, cap: &AdminCapability, name: &str, ctx: &RequestContext) -> Result<(), RbacError> {
        let name = role_name(name)?;
        if name.as_str() == ADMIN_ROLE {
            return Err(RbacError::Forbidden("the built-in admin role cannot be deleted"));
        }
        if !self.store.delete_role(&name).await? {
            return Err(RbacError::NotFound("role"));
        }
        self.changed().await;
        self.record(AuditEventType::RoleDeleted, cap, name.to_string(), ctx, json!({})).await
    }

    // Permissions.

    pub async fn create_permission(
        &self,
        cap: &AdminCapability,
        name: &str,
        description: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Permission, RbacError> {
        let now = self.clock.now();
        let permission = Permission {
            name: permission_name(name)?,
            description: parse_description(description)?,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_permission(&permission).await?;
        self.changed().await;
        self.record(AuditEventType::PermissionCreated, cap, permission.name.to_string(), ctx, json!({})).await?;
        Ok(permission)
    }

    pub async fn list_permissions(&self, _: &AdminCapability) -> Result<Vec<Permission>, RbacError> {
        Ok(self.store.list_permissions().await?)
    }

    pub async fn permission(&self, _: &AdminCapability, name: &str) -> Result<Permission, RbacError> {
        self.store.permission(&permission_name(name)?).await?.ok_or(RbacError::NotFound("permission"))
    }

    pub async fn update_permission(
        &self,
        cap: &AdminCapability,
        name: &str,
        description: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Permission, RbacError> {
        let name = permission_name(name)?;
        let description = parse_description(description)?;
        if !self.store.set_permission_description(&name, description.as_deref(), self.clock.now()).await? {
            return Err(RbacError::NotFound("permission"));
        }
        self.changed().await;
        self.record(AuditEventType::PermissionUpdated, cap, name.to_string(), ctx, json!({})).await?;
        self.store.permission(&name).await?.ok_or(RbacError::NotFound("permission"))
    }

    pub async fn delete_permission(
        &self,
        cap: &AdminCapability,
        name: &str,
        ctx: &RequestContext,
    ) -> Result<(), RbacError> {
        let name = permission_name(name)?;
        if !self.store.delete_permission(&name).await? {
            return Err(RbacError::NotFound("permission"));
        }
        self.changed().await;
        self.record(AuditEventType::PermissionDeleted, cap, name.to_string(), ctx, json!({})).await
    }

    // Role ↔ permission.

    /// `true` when newly granted, `false` when the role already had it.
    pub async fn grant_permission(
        &self,
        cap: &AdminCapability,
        role: &str,
        permission: &str,
        ctx: &RequestContext,
    ) -> Result<bool, RbacError> {
        let (role, permission) = (role_name(role)?, permission_name(permission)?);
        self.store.role(&role).await?.ok_or(RbacError::NotFound("role"))?;
        self.store.permission(&permission).await?.ok_or(RbacError::NotFound("permission"))?;
        let added = self.store.grant_permission(&role, &permission, self.clock.now()).await?;
        if added {
            self.changed().await;
            let details = json!({ "permission": permission });
            self.record(AuditEventType::PermissionGranted, cap, role.to_string(), ctx, details).await?;
        }
        Ok(added)
    }

    pub async fn revoke_permission(
        &self,
        cap: &AdminCapability,
        role: &str,
        permission: &str,
        ctx: &RequestContext,
    ) -> Result<(), RbacError> {
        let (role, permission) = (role_name(role)?, permission_name(permission)?);
        if !self.store.revoke_permission(&role, &permission).await? {
            return Err(RbacError::NotFound("grant"));
        }
        self.changed().await;
        let details = json!({ "permission": permission });
        self.record(AuditEventType::PermissionRevoked, cap, role.to_string(), ctx, details).await
    }

    // User ↔ role.

    /// Nobody grants a role to themselves (not even an admin: that is how an admin token
    /// stolen for one purpose would widen itself).
    pub async fn grant_user_role(
        &self,
        cap: &AdminCapability,
        user: UserId,
        role: &str,
        ctx: &RequestContext,
    ) -> Result<bool, RbacError> {
        let role = role_name(role)?;
        if cap.acting_user() == Some(user) {
            return Err(RbacError::Forbidden("you cannot grant a role to yourself"));
        }
        self.users.user_by_id(user).await?.ok_or(RbacError::NotFound("user"))?;
        self.store.role(&role).await?.ok_or(RbacError::NotFound("role"))?;
        let added = self.store.grant_user_role(user, &role, self.clock.now()).await?;
        if added {
            self.changed().await;
            self.record(AuditEventType::RoleGranted, cap, user.to_string(), ctx, json!({ "role": role })).await?;
        }
        Ok(added)
    }

    /// Refused with [`RbacError::LastAdmin`] when it would leave no active admin.
    pub async fn revoke_user_role(
        &self,
        cap: &AdminCapability,
        user: UserId,
        role: &str,
        ctx: &RequestContext,
    ) -> Result<(), RbacError> {
        let role = role_name(role)?;
        match self.store.change_user_guarded(user, &GuardedChange::RevokeRole(role.clone()), self.clock.now()).await? {
            GuardOutcome::Applied => {}
            GuardOutcome::NotFound => return Err(RbacError::NotFound("grant")),
            GuardOutcome::LastAdmin => return Err(RbacError::LastAdmin),
        }
        self.changed().await;
        self.record(AuditEventType::RoleRevoked, cap, user.to_string(), ctx, json!({ "role": role })).await
    }

    /// The user named by `who`: a user id, or an email address (looked up as sign-in does).
    pub async fn find_user(&self, _: &AdminCapability, who: &str) -> Result<User, RbacError> {
        let who = who.trim();
        let found = match UserId::parse(who) {
            Some(id) => self.users.user_by_id(id).await?,
            None => {
                let email =
                    Email::parse(who).map_err(|_| RbacError::Invalid("not a user id or email address".into()))?;
                self.users.user_by_email(email.key()).await?
            }
        };
        found.ok_or(RbacError::NotFound("user"))
    }

    pub async fn user_roles(&self, _: &AdminCapability, user: UserId) -> Result<Vec<RoleName>, RbacError> {
        self.users.user_by_id(user).await?.ok_or(RbacError::NotFound("user"))?;
        Ok(self.store.user_roles(user).await?)
    }

    pub async fn role_members(&self, _: &AdminCapability, role: &str) -> Result<Vec<UserId>, RbacError> {
        let role = role_name(role)?;
        self.store.role(&role).await?.ok_or(RbacError::NotFound("role"))?;
        Ok(self.store.role_members(&role).await?)
    }

    // Client ↔ role (machine identities).

    pub async fn grant_client_role(
        &self,
        cap: &AdminCapability,
        client_id: &str,
        role: &str,
        ctx: &RequestContext,
    ) -> Result<bool, RbacError> {
        let role = role_name(role)?;
        if matches!(cap.actor(), super::Actor::Client(me) if me == client_id) {
            return Err(RbacError::Forbidden("you cannot grant a role to yourself"));
        }
        self.clients.client_by_id(client_id).await?.ok_or(RbacError::NotFound("client"))?;
        self.store.role(&role).await?.ok_or(RbacError::NotFound("role"))?;
        let added = self.store.grant_client_role(client_id, &role, self.clock.now()).await?;
        if added {
            self.changed().await;
            let subject = format!("client:{client_id}");
            self.record(AuditEventType::ClientRoleGranted, cap, subject, ctx, json!({ "role": role })).await?;
        }
        Ok(added)
    }

    pub async fn revoke_client_role(
        &self,
        cap: &AdminCapability,
        client_id: &str,
        role: &str,
        ctx: &RequestContext,
    ) -> Result<(), RbacError> {
        let role = role_name(role)?;
        if !self.store.revoke_client_role(client_id, &role).await? {
            return Err(RbacError::NotFound("grant"));
        }
        self.changed().await;
        let subject = format!("client:{client_id}");
        self.record(AuditEventType::ClientRoleRevoked, cap, subject, ctx, json!({ "role": role })).await
    }

    pub async fn client_roles(&self, _: &AdminCapability, client_id: &str) -> Result<Vec<RoleName>, RbacError> {
        self.clients.client_by_id(client_id).await?.ok_or(RbacError::NotFound("client"))?;
        Ok(self.store.client_roles(client_id).await?)
    }
}
