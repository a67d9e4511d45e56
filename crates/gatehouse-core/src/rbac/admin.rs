//! `AdminService`: the one door to Gatehouse's administration (users, sessions, audit trail,
//! keys, clients (through [`AdminService::client_admin`]), and — through [`AdminService::rbac`] — roles and permissions). It hands out
//! the [`AdminCapability`] every other method requires, after checking the caller.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::{
    ADMIN_ROLE, ADMIN_SCOPE, Actor, AdminCapability, ClientAdmin, GuardOutcome, GuardedChange, Principal, RbacError,
    RbacService, ResourceAdmin,
};
use crate::account::{AccountError, AccountService, Credential, SignIn, SignInsEnded};
use crate::audit::{AuditEventType, AuditQuery, AuditRecord, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::keys::{Algorithm, KeyInfo, KeyService};
use crate::password::Password;
use crate::store::{AuditStore, ClientStore, UserStore};
use crate::token::FIRST_PARTY_CLIENT;
use crate::user::{User, UserId, UserStatus, parse_display_name};

/// A page of results and the cursor of the next one (`None` on the last page).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// `GET /admin/v1/users`: users in id (creation) order after `after`, optionally only those
/// whose normalised email contains `email_contains`.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub after: Option<UserId>,
    pub limit: u32,
    pub email_contains: Option<String>,
}

pub struct AdminService {
    rbac: Arc<RbacService>,
    pub(super) accounts: Arc<AccountService>,
    users: Arc<dyn UserStore>,
    pub(super) audit_store: Arc<dyn AuditStore>,
    clients: Arc<dyn ClientStore>,
    keys: Arc<KeyService>,
    pub(super) client_admin: ClientAdmin,
    pub(super) resource_admin: ResourceAdmin,
    audit: Auditor,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) console: super::admin_overview::ConsoleStores,
}

/// The stores the admin service reads and writes besides those inside its services.
pub struct AdminStores {
    pub users: Arc<dyn UserStore>,
    pub audit: Arc<dyn AuditStore>,
    pub clients: Arc<dyn ClientStore>,
    /// What the console reads besides (`admin_overview`).
    pub console: super::admin_overview::ConsoleStores,
    /// Registered resource servers (RFC 8707).
    pub resources: Arc<dyn crate::oauth::ResourceServerStore>,
    /// Gatehouse's own audiences (issuer and configured `aud`), which no resource server may use.
    pub own_audiences: Vec<String>,
}

const MAX_PAGE: u32 = 500;

impl AdminService {
    pub fn new(
        rbac: Arc<RbacService>,
        accounts: Arc<AccountService>,
        keys: Arc<KeyService>,
        stores: AdminStores,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let audit = Auditor::new(stores.audit.clone(), clock.clone());
        let client_admin = ClientAdmin::new(stores.clients.clone(), stores.audit.clone(), clock.clone());
        let resource_admin =
            ResourceAdmin::new(stores.resources, stores.audit.clone(), clock.clone(), stores.own_audiences);
        Self {
            client_admin,
            resource_admin,
            rbac,
            accounts,
            users: stores.users,
            audit_store: stores.audit,
            clients: stores.clients,
            console: stores.console,
            keys,
            audit,
            clock,
        }
    }

    /// The admin check, the only place it is made. A client acting for itself needs the
    /// `gatehouse:admin` scope or the `admin` role, and must still be registered. A user needs
    /// the `admin` role and an active account, and the token must be Gatehouse's own
    /// first-party token or carry `gatehouse:admin` from a first-party client — so a third-party
    /// application an admin signed in to cannot use that token on the admin API. When the MFA
    /// policy (`[mfa]`) covers the user, the token's `amr` must also have `mfa` (refusals are
    /// audited as `mfa.policy_refused`). A client acting for itself is not a person and has
    /// no second factor: the MFA policy does not apply to it.
    pub async fn authorize(&self, principal: &Principal, ctx: &RequestContext) -> Result<AdminCapability, RbacError> {
        const DENIED: RbacError = RbacError::Forbidden("this token does not grant access to the admin API");
        let store = self.rbac.store();
        match principal {
            Principal::Client { id, scopes } => {
                // A disabled client is refused like a deleted one.
                let Some(client) = self.clients.client_by_id(id).await?.filter(|c| !c.is_disabled()) else {
                    return Err(DENIED);
                };
                // The scope counts while the client is still registered for it (an admin may
                // have taken it off since the token was issued).
                let admin = (scopes.iter().any(|s| s == ADMIN_SCOPE) && client.scopes.iter().any(|s| s == ADMIN_SCOPE))
                    || store.client_roles(id).await?.iter().any(|r| r.as_str() == ADMIN_ROLE);
                if admin { Ok(AdminCapability::granted(Actor::Client(id.clone()))) } else { Err(DENIED) }
            }
            Principal::User { id, client_id, scopes, amr } => {
                // Through an OAuth client, only a first-party one (registered with consent
                // skipped) may carry the admin scope: grants a third-party client obtained
                // before that rule are refused here as well as at the authorization endpoint.
                let delegated = client_id == FIRST_PARTY_CLIENT
                    || (scopes.iter().any(|s| s == ADMIN_SCOPE)
                        && self.clients.client_by_id(client_id).await?.is_some_and(|c| {
                            c.skip_consent && !c.is_disabled() && c.scopes.iter().any(|s| s == ADMIN_SCOPE)
                        }));
                if !delegated {
                    return Err(DENIED);
                }
                let active = self.users.user_by_id(*id).await?.is_some_and(|u| u.is_active());
                if !active || !store.user_roles(*id).await?.iter().any(|r| r.as_str() == ADMIN_ROLE) {
                    return Err(DENIED);
                }
                match self.accounts.enforce_mfa_for_admin(*id, amr, ctx).await {
                    Ok(()) => Ok(AdminCapability::granted(Actor::User(*id))),
                    Err(AccountError::MfaPolicy(refusal)) => Err(RbacError::MfaPolicy(refusal)),
                    Err(AccountError::Store(e)) => Err(RbacError::Store(e)),
                    Err(e) => Err(RbacError::Internal(e.to_string())),
                }
            }
        }
    }

    pub fn rbac(&self) -> &RbacService {
        &self.rbac
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

    // Users.

    pub async fn list_users(&self, _: &AdminCapability, filter: &UserFilter) -> Result<Page<User>, RbacError> {
        let limit = filter.limit.clamp(1, MAX_PAGE);
        let needle = filter.email_contains.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase);
        // One more than asked: whether it exists says if there is a next page.
        let mut items = self.users.search_users(filter.after, limit + 1, needle.as_deref()).await?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|u| u.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    pub async fn user(&self, _: &AdminCapability, id: UserId) -> Result<User, RbacError> {
        self.users.user_by_id(id).await?.ok_or(RbacError::NotFound("user"))
    }

    pub async fn create_user(
        &self,
        cap: &AdminCapability,
        email: &str,
        password: &Password,
        display_name: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<User, AccountError> {
        let actor = cap.actor().to_string();
        self.accounts.create_user(email, Credential::Password(password), display_name, &actor, ctx).await
    }

    /// Sets the display name (`Some(None)` clears it) and/or the status. Disabling goes
    /// through [`Self::disable_user`]'s rules.
    pub async fn update_user(
        &self,
        cap: &AdminCapability,
        id: UserId,
        display_name: Option<Option<&str>>,
        status: Option<UserStatus>,
        ctx: &RequestContext,
    ) -> Result<User, RbacError> {
        let user = self.user(cap, id).await?;
        if let Some(name) = display_name {
            let name = parse_display_name(name).map_err(|m| RbacError::Invalid(m.to_owned()))?;
            if name != user.display_name {
                self.users.set_display_name(id, name.as_deref(), self.clock.now()).await?;
                self.record(AuditEventType::UserUpdated, cap, id.to_string(), ctx, json!({ "display_name": name }))
                    .await?;
            }
        }
        match status {
            Some(UserStatus::Disabled) if user.is_active() => self.disable_user(cap, id, ctx).await?,
            Some(UserStatus::Active) if !user.is_active() => {
                self.users.set_user_status(id, UserStatus::Active, self.clock.now()).await?;
                self.record(AuditEventType::UserEnabled, cap, id.to_string(), ctx, json!({})).await?;
            }
            _ => {}
        }
        self.user(cap, id).await
    }

    /// Disables the account and ends its sessions and refresh tokens; refused for the last
    /// active admin. One implementation with the command line: [`AccountService::disable_user`].
    pub async fn disable_user(&self, cap: &AdminCapability, id: UserId, ctx: &RequestContext) -> Result<(), RbacError> {
        match self.accounts.disable_user(id, &cap.actor().to_string(), ctx).await {
            Ok(_) => Ok(()),
            Err(AccountError::NotFound) => Err(RbacError::NotFound("user")),
            Err(AccountError::LastAdmin) => Err(RbacError::LastAdmin),
            Err(e) => Err(RbacError::Internal(e.to_string())),
        }
    }

    /// Deletes the account with its sessions, tokens, consents and role grants (the audit
    /// trail keeps its history); refused for the last active admin.
    pub async fn delete_user(&self, cap: &AdminCapability, id: UserId, ctx: &RequestContext) -> Result<(), RbacError> {
        match self.rbac.store().change_user_guarded(id, &GuardedChange::Delete, self.clock.now()).await? {
            GuardOutcome::Applied => {}
            GuardOutcome::NotFound => return Err(RbacError::NotFound("user")),
            GuardOutcome::LastAdmin => return Err(RbacError::LastAdmin),
        }
        // Its role grants went with it.
        self.rbac.changed().await;
        self.record(AuditEventType::UserDeleted, cap, id.to_string(), ctx, json!({})).await
    }

    /// Mails the user a new verification link (`false`: already verified, nothing sent).
    pub async fn send_verification(
        &self,
        cap: &AdminCapability,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<bool, RbacError> {
        match self.accounts.send_verification_for(id, &cap.actor().to_string(), ctx).await {
            Ok(sent) => Ok(sent == crate::account::Resent::Sent),
            Err(AccountError::NotFound) => Err(RbacError::NotFound("user")),
            Err(e) => Err(RbacError::Internal(e.to_string())),
        }
    }

    // Sessions.

    /// Browser sessions and first-party token logins, newest first.
    pub async fn sessions(&self, cap: &AdminCapability, user: UserId) -> Result<Vec<SignIn>, RbacError> {
        self.user(cap, user).await?;
        self.accounts.sign_ins(user).await.map_err(|e| RbacError::Internal(e.to_string()))
    }

    /// Ends one sign-in (session or token login) of `user`; an id of another user is "not found".
    pub async fn revoke_session(
        &self,
        cap: &AdminCapability,
        user: UserId,
        session: Uuid,
        ctx: &RequestContext,
    ) -> Result<(), RbacError> {
        let kind = match self.accounts.end_sign_in(user, session).await {
            Ok(kind) => kind,
            Err(AccountError::NotFound) => return Err(RbacError::NotFound("session")),
            Err(e) => return Err(RbacError::Internal(e.to_string())),
        };
        let details = json!({ "session_id": session, "kind": kind.as_str(), "by": "admin" });
        self.record(AuditEventType::SessionRevoked, cap, user.to_string(), ctx, details).await
    }

    /// Ends every sign-in of `user`: browser sessions, token logins and OAuth grants.
    pub async fn revoke_all_sessions(
        &self,
        cap: &AdminCapability,
        user: UserId,
        ctx: &RequestContext,
    ) -> Result<SignInsEnded, RbacError> {
        self.user(cap, user).await?;
        let ended = self
            .accounts
            .end_all_sign_ins(user, "sessions_revoked_by_admin")
            .await
            .map_err(|e| RbacError::Internal(e.to_string()))?;
        let details = json!({
            "sessions_ended": ended.sessions,
            "refresh_families_revoked": ended.refresh_families,
            "by": "admin",
        });
        self.record(AuditEventType::SessionRevoked, cap, user.to_string(), ctx, details).await?;
        Ok(ended)
    }

    // Audit trail.

    /// Newest first; `next` is the id to pass as `before_id` for the following page.
    pub async fn audit_events(&self, _: &AdminCapability, query: &AuditQuery) -> Result<Page<AuditRecord>, RbacError> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        let mut items = self.audit_store.query_audit_events(&AuditQuery { limit: limit + 1, ..query.clone() }).await?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    // Keys.

    pub fn keys(&self, _: &AdminCapability) -> Vec<KeyInfo> {
        self.keys.list()
    }

    pub async fn rotate_key(
        &self,
        cap: &AdminCapability,
        alg: Algorithm,
        immediately: bool,
        ctx: &RequestContext,
    ) -> Result<String, RbacError> {
        let kid = self.keys.rotate(alg, immediately).await.map_err(|e| RbacError::Internal(e.to_string()))?;
        let details = json!({ "alg": alg.as_str(), "immediately": immediately, "by": "admin" });
        self.record(AuditEventType::KeyRotated, cap, kid.clone(), ctx, details).await?;
        Ok(kid)
    }
}
