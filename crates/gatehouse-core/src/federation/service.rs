//! The federation service: starts a login (stores its `state`), consumes the `state` at the
//! callback, and turns a verified upstream identity into a session — signing in through a
//! link, linking, or creating an account — with an audit event for every outcome.

use std::sync::Arc;

use serde_json::json;

use super::callback::CallbackGate;
use super::flow::{BrowserBinding, FlowSecrets, LOGIN_STATE_LIFETIME, LoginState, PendingLink, state_hash};
use super::policy::{Decision, Provisioning, Refusal, decide};
use super::{FederatedIdentity, FederationStore, UnlinkOutcome, UpstreamIdentity};
use crate::account::{AccountError, AccountService, MfaPending, SignedIn};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::invitation::{InvitationError, InvitationService};
use crate::mfa::MfaChannel;
use crate::password::Password;
use crate::random::{self, RandomError};
use crate::session::SessionToken;
use crate::store::{AuditStore, StoreError, UserStore};
use crate::user::{User, UserId, UserStatus};

/// The `amr` value (RFC 8176 style) of sessions opened through an upstream provider.
pub const FEDERATED_AMR: &str = "fed";

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// `state` missing, unknown, already used, expired, for another provider, or presented by
    /// another browser (RFC 9700 §4.7): one answer for all.
    #[error("this sign-in attempt is invalid or has expired; start again")]
    InvalidState,
    #[error("sign-in refused: {}", .0.as_str())]
    Refused(Refusal),
    /// A verified upstream email belongs to a local account: the identity waits (single use,
    /// bound to this browser, 10 minutes) under `token` for that account's password.
    #[error("the local account's password is needed to link")]
    PasswordNeeded { token: String },
    #[error("no such link")]
    NotLinked,
    #[error("this is the account's only way to sign in")]
    LastSignInMethod,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Invitation(#[from] InvitationError),
}

/// The result of a completed federated login.
#[derive(Debug)]
pub enum FederatedSignIn {
    /// A new session (the user signed in, possibly through a just-created account).
    SignedIn { signed_in: Box<SignedIn>, created: bool },
    /// The identity was linked to the signed-in user's account; their session continues.
    Linked { user: UserId },
    /// The account has a second factor: no session yet, a pending second step (page channel,
    /// carrying the return path) to complete at `/login/mfa`.
    MfaRequired { pending: MfaPending },
}

pub struct FederationService {
    store: Arc<dyn FederationStore>,
    users: Arc<dyn UserStore>,
    accounts: Arc<AccountService>,
    /// Pending invitations turn into accounts at a first federated sign-in.
    invitations: Arc<InvitationService>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
    provisioning: Provisioning,
    /// The callback's checks up to a verified identity ([`super::callback`]).
    pub(super) gate: CallbackGate,
}

impl FederationService {
    pub fn new(
        store: Arc<dyn FederationStore>,
        users: Arc<dyn UserStore>,
        accounts: Arc<AccountService>,
        invitations: Arc<InvitationService>,
        audit: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
        provisioning: Provisioning,
    ) -> Self {
        let audit = Auditor::new(audit, clock.clone());
        let gate = CallbackGate::new(store.clone(), audit.clone(), clock.clone());
        Self { store, users, accounts, invitations, audit, clock, provisioning, gate }
    }

    pub fn provisioning(&self) -> &Provisioning {
        &self.provisioning
    }

    /// Starts a login at `provider`: a fresh `state`, stored hashed with the browser binding.
    pub async fn begin(
        &self,
        provider: &str,
        binding: &BrowserBinding,
        return_to: Option<String>,
        link_user: Option<UserId>,
        force_login: bool,
    ) -> Result<FlowSecrets, FederationError> {
        let secrets = binding.secrets(&random::token()?);
        let now = self.clock.now();
        let state = LoginState {
            state_hash: secrets.state_hash(),
            binding_hash: binding.hash(),
            provider: provider.to_owned(),
            return_to,
            link_user,
            force_login,
            pending: None,
            created_at: now,
            expires_at: now + LOGIN_STATE_LIFETIME,
        };
        self.store.insert_login_state(&state).await?;
        Ok(secrets)
    }

    /// Consumes a pending link (the token of the password form), with the same rules as a
    /// `state`: single use, unexpired, this provider, this browser.
    pub async fn take_pending(
        &self,
        provider: &str,
        token: Option<&str>,
        binding: Option<&BrowserBinding>,
    ) -> Result<(LoginState, PendingLink), FederationError> {
        let token = token.filter(|s| !s.is_empty() && s.len() <= 512).ok_or(FederationError::InvalidState)?;
        let stored = self.store.take_login_state(&state_hash(token)).await?.ok_or(FederationError::InvalidState)?;
        let binding = binding.ok_or(FederationError::InvalidState)?;
        let fresh = self.clock.now() < stored.expires_at;
        match stored.pending.clone() {
            Some(p) if binding.matches(&stored.binding_hash) && fresh && stored.provider == provider => Ok((stored, p)),
            _ => Err(FederationError::InvalidState),
        }
    }

    /// Remembers a verified identity whose email names `owner`, for the password form.
    async fn park(
        &self,
        state: &LoginState,
        identity: &UpstreamIdentity,
        owner: UserId,
    ) -> Result<String, FederationError> {
        let token = random::token()?;
        let now = self.clock.now();
        let record = LoginState {
            state_hash: state_hash(&token),
            binding_hash: state.binding_hash.clone(),
            provider: identity.provider.clone(),
            return_to: state.return_to.clone(),
            link_user: None,
            force_login: false,
            pending: Some(PendingLink {
                subject: identity.subject.clone(),
                user_id: owner,
                email: identity.email.as_ref().map(|e| e.as_str().to_owned()),
            }),
            created_at: now,
            expires_at: now + LOGIN_STATE_LIFETIME,
        };
        self.store.insert_login_state(&record).await?;
        Ok(token)
    }

    /// Links a pending identity once the local account's password is proven, and signs in.
    /// A wrong password spends the pending link (and counts against the account's lockout
    /// like any failed sign-in): the user starts again at the provider.
    pub async fn complete_with_password(
        &self,
        state: &LoginState,
        pending: PendingLink,
        password: &Password,
        previous: Option<&SessionToken>,
        ctx: &RequestContext,
    ) -> Result<FederatedSignIn, FederationError> {
        let identity = UpstreamIdentity {
            provider: state.provider.clone(),
            subject: pending.subject.clone(),
            email: pending.email.as_deref().and_then(|e| crate::email::Email::parse(e).ok()),
            email_verified: true,
            name: None,
            // The password proves the local account now: the session is fresh.
            auth_time: Some(self.clock.now()),
        };
        let Some(owner) = self.accounts.active_user(pending.user_id).await? else {
            return self.refuse(&identity, Refusal::AccountDisabled, ctx).await;
        };
        let proven = self.accounts.authenticate(owner.email.as_str(), password, ctx).await?;
        if proven.id != owner.id {
            return self.refuse(&identity, Refusal::LinkRequiresSignIn, ctx).await;
        }
        self.link(owner.id, &identity, ctx).await?;
        self.sign_in(owner.id, &identity, false, state.return_to.as_deref(), previous, ctx).await
    }

    /// Turns a verified upstream identity into a session or a link (see [`super::policy`]).
    /// `session_user` is the user of the browser's current session, if any.
    pub(super) async fn complete(
        &self,
        state: &LoginState,
        identity: UpstreamIdentity,
        session_user: Option<UserId>,
        previous: Option<&SessionToken>,
        ctx: &RequestContext,
    ) -> Result<FederatedSignIn, FederationError> {
        let provider = identity.provider.clone();
        if let Some(linking) = state.link_user
            && session_user != Some(linking)
        {
            // The session that started the link is gone or belongs to someone else now.
            return self.refuse(&identity, Refusal::LinkRequiresSignIn, ctx).await;
        }
        let existing = self.store.identity(&provider, &identity.subject).await?;
        let email_owner = match &identity.email {
            Some(e) => self.users.user_by_email(e.key()).await?.map(|u| u.id),
            None => None,
        };
        match decide(&identity, existing.as_ref(), state.link_user, email_owner, &self.provisioning) {
            Decision::SignIn(user) => {
                self.sign_in(user, &identity, false, state.return_to.as_deref(), previous, ctx).await
            }
            Decision::Link(user) => self.link(user, &identity, ctx).await,
            Decision::Create => self.create(&identity, false, previous, ctx).await,
            Decision::CreateIfInvited => self.create(&identity, true, previous, ctx).await,
            // Verified email of a local account, no session: the password can prove control.
            Decision::Refuse(Refusal::LinkRequiresSignIn) if let Some(owner) = email_owner => {
                let why = Refusal::LinkRequiresSignIn;
                let details = json!({ "subject": identity.subject, "email_verified": identity.email_verified });
                self.gate.record_failure(&identity.provider, why.as_str(), ctx, details).await?;
                Err(FederationError::PasswordNeeded { token: self.park(state, &identity, owner).await? })
            }
            Decision::Refuse(why) => self.refuse(&identity, why, ctx).await,
        }
    }

    async fn refuse<T>(
        &self,
        identity: &UpstreamIdentity,
        why: Refusal,
        ctx: &RequestContext,
    ) -> Result<T, FederationError> {
        let details = json!({ "subject": identity.subject, "email_verified": identity.email_verified });
        self.gate.record_failure(&identity.provider, why.as_str(), ctx, details).await?;
        Err(FederationError::Refused(why))
    }

    async fn sign_in(
        &self,
        user: UserId,
        identity: &UpstreamIdentity,
        created: bool,
        return_to: Option<&str>,
        previous: Option<&SessionToken>,
        ctx: &RequestContext,
    ) -> Result<FederatedSignIn, FederationError> {
        let Some(user) = self.accounts.active_user(user).await? else {
            return self.refuse(identity, Refusal::AccountDisabled, ctx).await;
        };
        let now = self.clock.now();
        let email = identity.email.as_ref().map(|e| e.as_str());
        self.store.touch_identity(&identity.provider, &identity.subject, email, now).await?;
        // The upstream replaces the password, not the second factor: an account with one
        // gets no session before it.
        if self.accounts.has_second_factor(user.id).await? {
            let pending = self.accounts.begin_second_step(&user, MfaChannel::Page, return_to, FEDERATED_AMR).await?;
            return Ok(FederatedSignIn::MfaRequired { pending });
        }
        let details = json!({ "method": "federation", "provider": identity.provider, "created": created });
        // The session is as fresh as the upstream sign-in behind it, not as the callback: a
        // later `max_age` (OIDC Core §3.1.2.1) is checked against it, and downstream ID tokens
        // carry it as `auth_time`. Unknown (GitHub, no `auth_time`) counts as never fresh.
        let auth_time = identity.auth_time.map_or(0, |t| t.clamp(0, now));
        let signed_in = self.accounts.sign_in_as(user, previous, FEDERATED_AMR, auth_time, ctx, details).await?;
        let id = Some(signed_in.user.id.to_string());
        self.audit
            .record(
                AuditEventType::FederatedLoginSucceeded,
                Outcome::Success,
                id.clone(),
                id,
                ctx,
                json!({ "provider": identity.provider, "session_id": signed_in.session.id }),
            )
            .await?;
        Ok(FederatedSignIn::SignedIn { signed_in: Box::new(signed_in), created })
    }

    fn link_row(&self, user: UserId, identity: &UpstreamIdentity) -> FederatedIdentity {
        let now = self.clock.now();
        FederatedIdentity {
            provider: identity.provider.clone(),
            subject: identity.subject.clone(),
            user_id: user,
            email: identity.email.as_ref().map(|e| e.as_str().to_owned()),
            created_at: now,
            last_login_at: now,
        }
    }

    async fn link(
        &self,
        user: UserId,
        identity: &UpstreamIdentity,
        ctx: &RequestContext,
    ) -> Result<FederatedSignIn, FederationError> {
        match self.store.link_identity(&self.link_row(user, identity)).await {
            Ok(()) => {}
            // The account has a link to this provider already (or a concurrent link won).
            Err(StoreError::Conflict(_)) => return self.refuse(identity, Refusal::LinkedToOtherAccount, ctx).await,
            Err(e) => return Err(e.into()),
        }
        let id = Some(user.to_string());
        let details = json!({ "provider": identity.provider, "upstream_subject": identity.subject });
        self.audit.record(AuditEventType::FederatedLinked, Outcome::Success, id.clone(), id, ctx, details).await?;
        Ok(FederatedSignIn::Linked { user })
    }

    /// Creates the account: through the address's pending invitation if there is one (spent,
    /// its roles granted, in one transaction), else — unless `invited_only` — on its own.
    async fn create(
        &self,
        identity: &UpstreamIdentity,
        invited_only: bool,
        previous: Option<&SessionToken>,
        ctx: &RequestContext,
    ) -> Result<FederatedSignIn, FederationError> {
        let Some(email) = identity.email.clone() else {
            return self.refuse(identity, Refusal::NoEmail, ctx).await;
        };
        let now = self.clock.now();
        let user = User {
            id: UserId::generate(),
            email,
            display_name: identity.name.clone(),
            password_hash: None,
            status: UserStatus::Active,
            email_verified: identity.email_verified,
            created_at: now,
            updated_at: now,
        };
        let link = self.link_row(user.id, identity);
        let invitation = match self.invitations.accept_federated(&user, &link, ctx).await {
            Ok(invitation) => invitation.map(|i| i.id),
            Err(InvitationError::AccountExists) => {
                return self.refuse(identity, Refusal::LinkRequiresSignIn, ctx).await;
            }
            Err(e) => return Err(e.into()),
        };
        let created = match invitation {
            Some(_) => Ok(()),
            None if invited_only => return self.refuse(identity, Refusal::ProvisioningClosed, ctx).await,
            None => self.store.create_user_with_identity(&user, &link).await,
        };
        match created {
            Ok(()) => {}
            // The email or the identity was taken by a concurrent request: nothing was written.
            Err(StoreError::Conflict(_)) => return self.refuse(identity, Refusal::LinkRequiresSignIn, ctx).await,
            Err(e) => return Err(e.into()),
        }
        let id = Some(user.id.to_string());
        let details = json!({
            "provider": identity.provider,
            "upstream_subject": identity.subject,
            "invitation_id": invitation,
        });
        self.audit
            .record(AuditEventType::FederatedAccountCreated, Outcome::Success, id.clone(), id, ctx, details)
            .await?;
        // A just-created account has no second factor.
        self.sign_in(user.id, identity, true, None, previous, ctx).await
    }

    pub async fn identities(&self, user: UserId) -> Result<Vec<FederatedIdentity>, FederationError> {
        Ok(self.store.identities_for_user(user).await?)
    }

    /// Removes a link, unless it is the account's last way to sign in.
    pub async fn unlink(&self, user: UserId, provider: &str, ctx: &RequestContext) -> Result<(), FederationError> {
        match self.store.unlink_identity(user, provider).await? {
            UnlinkOutcome::Unlinked => {
                let id = Some(user.to_string());
                let details = json!({ "provider": provider });
                self.audit
                    .record(AuditEventType::FederatedUnlinked, Outcome::Success, id.clone(), id, ctx, details)
                    .await?;
                Ok(())
            }
            UnlinkOutcome::NotFound => Err(FederationError::NotLinked),
            UnlinkOutcome::LastMethod => Err(FederationError::LastSignInMethod),
        }
    }

    /// Deletes expired login states; run periodically by the server.
    pub async fn purge(&self) -> Result<u64, FederationError> {
        Ok(self.store.purge_login_states(self.clock.now()).await?)
    }
}
