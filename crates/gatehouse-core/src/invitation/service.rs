//! `InvitationService`: admins invite (with the [`AdminCapability`]), list and revoke; the
//! person with the link accepts. Every step writes an audit event; none records the address.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::{AcceptOutcome, Invitation, InvitationStore, MAX_ROLES, token_hash};
use crate::account::AccountService;
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::email::{Email, EmailError};
use crate::federation::FederatedIdentity;
use crate::mail::Notice;
use crate::password::{HashError, Password, PolicyViolation};
use crate::random::{self, RandomError};
use crate::rbac::{AdminCapability, Page, RbacStore, RoleName};
use crate::scale_out::{Invalidation, Invalidations};
use crate::store::{AuditStore, StoreError, UserStore};
use crate::user::{User, UserId, UserStatus, parse_display_name};

#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    /// Unknown, used, revoked and expired tokens all look like this, on purpose.
    #[error("this invitation link is invalid, has expired or has already been used")]
    InvalidToken,
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    #[error(transparent)]
    WeakPassword(#[from] PolicyViolation),
    #[error("{0}")]
    InvalidInput(String),
    #[error("no such role: {0}")]
    UnknownRole(String),
    /// For the admin who invites (admins may know who has an account), and for the invitee
    /// when someone registered the address in between.
    #[error("an account with this email address already exists")]
    AccountExists,
    #[error("no such invitation")]
    NotFound,
    #[error("the invitation has already been accepted")]
    AlreadyAccepted,
    /// Another invitation of the same address was stored at the same moment.
    #[error("another invitation for this address was just created; try again")]
    Concurrent,
    /// The invitation mail could not be queued (or, without a queue, sent): the invitation was
    /// revoked again, since its link exists only in that mail.
    #[error("the invitation mail could not be sent; the invitation was withdrawn, try again")]
    MailNotSent,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl From<StoreError> for InvitationError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The stores invitations need.
pub struct InvitationStores {
    pub invitations: Arc<dyn InvitationStore>,
    pub users: Arc<dyn UserStore>,
    pub rbac: Arc<dyn RbacStore>,
    pub audit: Arc<dyn AuditStore>,
}

pub struct InvitationService {
    store: Arc<dyn InvitationStore>,
    users: Arc<dyn UserStore>,
    rbac: Arc<dyn RbacStore>,
    /// The password policy and hasher, the invitation lifetime and the mail service.
    accounts: Arc<AccountService>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
    invalidations: Option<Arc<Invalidations>>,
}

const MAX_PAGE: u32 = 500;
/// Tokens are 43 characters; anything much longer is not worth hashing.
const MAX_TOKEN_LEN: usize = 512;

impl InvitationService {
    pub fn new(stores: InvitationStores, accounts: Arc<AccountService>, clock: Arc<dyn Clock>) -> Self {
        let audit = Auditor::new(stores.audit, clock.clone());
        Self {
            store: stores.invitations,
            users: stores.users,
            rbac: stores.rbac,
            accounts,
            audit,
            clock,
            invalidations: None,
        }
    }

    /// Publishes [`Invalidation::Rbac`] on `hub` when an accepted invitation granted roles (so
    /// decisions on this node see the new account's roles at once).
    pub fn publishing_to(mut self, hub: Arc<Invalidations>) -> Self {
        self.invalidations = Some(hub);
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Invites `email` with `roles` (each must exist) and mails the link. An address that has
    /// an account is refused; a newer invitation replaces any older one still open.
    pub async fn invite(
        &self,
        cap: &AdminCapability,
        email: &str,
        roles: &[String],
        ctx: &RequestContext,
    ) -> Result<Invitation, InvitationError> {
        let email = Email::parse_new(email)?;
        let roles = self.existing_roles(roles).await?;
        if self.users.user_by_email(email.key()).await?.is_some() {
            return Err(InvitationError::AccountExists);
        }
        let token = random::token()?;
        let now = self.clock.now();
        let invitation = Invitation {
            id: Uuid::now_v7(),
            token_hash: token_hash(&token),
            email,
            roles,
            invited_by: cap.actor().to_string(),
            created_at: now,
            expires_at: now + self.accounts.settings().invitation_ttl,
            accepted_at: None,
            accepted_user_id: None,
            revoked_at: None,
        };
        let replaced = match self.store.create_invitation(&invitation, now).await {
            Ok(replaced) => replaced,
            // A concurrent invitation of the same address was stored first.
            Err(StoreError::Conflict(_)) => return Err(InvitationError::Concurrent),
            Err(e) => return Err(e.into()),
        };
        for id in &replaced {
            self.record_revoked(cap, *id, "replaced", ctx).await?;
        }
        let roles: Vec<&str> = invitation.roles.iter().map(RoleName::as_str).collect();
        let details = json!({ "roles": roles, "expires_at": invitation.expires_at, "replaced": replaced });
        self.audit
            .record(
                AuditEventType::InvitationCreated,
                Outcome::Success,
                Some(cap.actor().to_string()),
                Some(subject(invitation.id)),
                ctx,
                details,
            )
            .await?;
        let notice = Notice::Invitation { to: invitation.email.clone(), token, expires_at: invitation.expires_at };
        if let Err(e) = self.accounts.mail().send(notice).await {
            // The link lives only in that mail: an invitation nobody can accept must not stay
            // "pending", and the admin must hear of it.
            tracing::error!(kind = "invitation", error = %e, "mail could not be queued");
            if self.store.revoke_invitation(invitation.id, self.clock.now()).await? {
                self.record_revoked(cap, invitation.id, "mail_not_sent", ctx).await?;
            }
            return Err(InvitationError::MailNotSent);
        }
        Ok(invitation)
    }

    /// Parses role names, drops duplicates, and checks that each exists.
    async fn existing_roles(&self, raw: &[String]) -> Result<Vec<RoleName>, InvitationError> {
        if raw.len() > MAX_ROLES {
            return Err(InvitationError::InvalidInput(format!("at most {MAX_ROLES} roles")));
        }
        let mut roles: Vec<RoleName> = Vec::with_capacity(raw.len());
        for name in raw {
            let role = RoleName::parse(name).map_err(|e| InvitationError::InvalidInput(e.0.to_owned()))?;
            if self.rbac.role(&role).await?.is_none() {
                return Err(InvitationError::UnknownRole(role.as_str().to_owned()));
            }
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(roles)
    }

    /// Invitations in creation order; `next` is the cursor of the following page.
    pub async fn list(
        &self,
        _: &AdminCapability,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<Invitation>, InvitationError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut items = self.store.list_invitations(after, limit + 1).await?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|i| i.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    pub async fn get(&self, _: &AdminCapability, id: Uuid) -> Result<Invitation, InvitationError> {
        self.store.invitation(id).await?.ok_or(InvitationError::NotFound)
    }

    /// Revokes an invitation that has not been accepted; revoking twice is not an error.
    pub async fn revoke(&self, cap: &AdminCapability, id: Uuid, ctx: &RequestContext) -> Result<(), InvitationError> {
        if self.store.revoke_invitation(id, self.clock.now()).await? {
            return self.record_revoked(cap, id, "admin", ctx).await;
        }
        match self.store.invitation(id).await? {
            None => Err(InvitationError::NotFound),
            Some(i) if i.accepted_at.is_some() => Err(InvitationError::AlreadyAccepted),
            Some(_) => Ok(()),
        }
    }

    async fn record_revoked(
        &self,
        cap: &AdminCapability,
        id: Uuid,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<(), InvitationError> {
        let actor = Some(cap.actor().to_string());
        let details = json!({ "reason": reason });
        self.audit
            .record(AuditEventType::InvitationRevoked, Outcome::Success, actor, Some(subject(id)), ctx, details)
            .await?;
        Ok(())
    }

    /// The pending invitation behind a link, for the accept page. Does not consume it.
    pub async fn pending(&self, token: &str) -> Result<Invitation, InvitationError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(InvitationError::InvalidToken);
        }
        match self.store.invitation_by_token(&token_hash(token)).await? {
            Some(i) if i.status(self.clock.now()) == super::InvitationStatus::Pending => Ok(i),
            _ => Err(InvitationError::InvalidToken),
        }
    }

    /// Creates the account of a pending invitation, with its roles and a verified address (the
    /// link reached that address), and spends the invitation. Works with registration off.
    pub async fn accept(
        &self,
        token: &str,
        password: &Password,
        display_name: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<User, InvitationError> {
        let invitation = self.pending(token).await?;
        let display_name = parse_display_name(display_name).map_err(|m| InvitationError::InvalidInput(m.into()))?;
        let settings = self.accounts.settings();
        settings.password_policy.check(password, &invitation.email)?;
        let hash = self.accounts.hasher().hash(password).await?;
        let now = self.clock.now();
        let user = User {
            id: UserId::generate(),
            email: invitation.email.clone(),
            display_name,
            password_hash: Some(hash),
            status: UserStatus::Active,
            email_verified: true,
            created_at: now,
            updated_at: now,
        };
        match self.store.accept_invitation(&invitation.token_hash, &user, None, now).await? {
            AcceptOutcome::Accepted { invitation, granted } => {
                self.record_accepted(&user, &invitation, &granted, "password", ctx).await?;
                Ok(user)
            }
            AcceptOutcome::Invalid => Err(InvitationError::InvalidToken),
            AcceptOutcome::EmailTaken => Err(InvitationError::AccountExists),
        }
    }

    /// A federated sign-in of a new identity: if `user`'s address has a pending invitation,
    /// creates the account with `identity` linked and the invitation's roles, spending the
    /// invitation (`Some`). `None`, with nothing written, when there is no pending invitation
    /// or another request used it first.
    pub async fn accept_federated(
        &self,
        user: &User,
        identity: &FederatedIdentity,
        ctx: &RequestContext,
    ) -> Result<Option<Invitation>, InvitationError> {
        let now = self.clock.now();
        let Some(pending) = self.store.pending_invitation(user.email.key(), now).await? else {
            return Ok(None);
        };
        match self.store.accept_invitation(&pending.token_hash, user, Some(identity), now).await {
            Ok(AcceptOutcome::Accepted { invitation, granted }) => {
                self.record_accepted(user, &invitation, &granted, "federation", ctx).await?;
                Ok(Some(*invitation))
            }
            Ok(AcceptOutcome::Invalid) => Ok(None),
            Ok(AcceptOutcome::EmailTaken) | Err(StoreError::Conflict(_)) => Err(InvitationError::AccountExists),
            Err(e) => Err(e.into()),
        }
    }

    async fn record_accepted(
        &self,
        user: &User,
        invitation: &Invitation,
        granted: &[RoleName],
        method: &str,
        ctx: &RequestContext,
    ) -> Result<(), InvitationError> {
        if let (false, Some(hub)) = (granted.is_empty(), &self.invalidations) {
            hub.publish(Invalidation::Rbac).await;
        }
        let id = Some(user.id.to_string());
        let roles: Vec<&str> = granted.iter().map(RoleName::as_str).collect();
        let details = json!({ "invitation_id": invitation.id, "roles": roles, "method": method });
        self.audit.record(AuditEventType::InvitationAccepted, Outcome::Success, id.clone(), id, ctx, details).await?;
        Ok(())
    }
}

/// The audit subject of an invitation.
fn subject(id: Uuid) -> String {
    format!("invitation:{id}")
}
