//! Password reset by email (OWASP Forgot Password Cheat Sheet; NIST SP 800-63B §6.1.2.3 and
//! §5.1.1.2): the request that mails a single-use link, the link's redemption, and the admin's
//! "send a reset mail".
//!
//! The request answers the same way, after comparable work, for known, unknown and disabled
//! addresses and for an address over its rate limit: only an active account gets a mail, and
//! the answer never says whether it did. The link holds 256 random bits; only their SHA-256 is
//! stored ([`super::tokens`]), it works once, for `reset_ttl` seconds, and only the newest one
//! works. A new password is checked against the policy *before* the link is used, so a weak
//! one does not burn it; redemption sets the hash and ends every session and refresh family in
//! one transaction. Nobody is signed in by a reset: they sign in with the new password.

use serde_json::json;

use super::tokens::{self, AccountToken, TokenEffect, TokenPurpose};
use super::{AccountError, AccountService};
use crate::abuse::{LimitKind, LoginKey};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::email::Email;
use crate::mail::Notice;
use crate::password::Password;
use crate::rbac::AdminCapability;
use crate::user::{User, UserId};

impl AccountService {
    /// "Forgot password?": mails a reset link if `email` belongs to an active account. `Ok`
    /// whatever the address (only a malformed one is an input error: that says nothing about
    /// who has an account). Over the per-address limit nothing is sent, and the answer is the
    /// same.
    ///
    /// Everything after the address is parsed happens off the request path (OWASP: "ensure
    /// that the response is returned in a uniform amount of time … e.g. asynchronously"): the
    /// answer takes the same time whether or not the address has an account, because it waits
    /// for none of the work that differs. A request lost to a crash in the millisecond before
    /// its link is queued costs the person one more click on "send".
    pub async fn request_password_reset(
        self: &std::sync::Arc<Self>,
        email: &str,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let email = Email::parse(email)?;
        let (this, ctx) = (self.clone(), ctx.clone());
        tokio::spawn(async move {
            if let Err(e) = this.process_password_reset(email, &ctx).await {
                tracing::error!(error = %e, "a password-reset request could not be processed");
            }
        });
        Ok(())
    }

    async fn process_password_reset(&self, email: Email, ctx: &RequestContext) -> Result<(), AccountError> {
        let key = LoginKey::for_email(&email);
        let allowed = self.limits.check(LimitKind::ResetAccount, key.as_str(), ctx).await.is_ok();
        match self.users.user_by_email(email.key()).await? {
            Some(user) if allowed && user.is_active() => self.send_password_reset(&user, None, ctx).await,
            user => {
                // No address of an unknown account in the audit trail; a known one is the subject.
                let subject = user.as_ref().map(|u| u.id.to_string());
                let active = user.as_ref().is_some_and(User::is_active);
                let details =
                    json!({ "known": user.is_some(), "active": active, "sent": false, "rate_limited": !allowed });
                self.audit
                    .record(AuditEventType::PasswordResetRequested, Outcome::Failure, None, subject, ctx, details)
                    .await?;
                Ok(())
            }
        }
    }

    /// An admin has a reset link mailed to an active user.
    pub async fn admin_password_reset(
        &self,
        cap: &AdminCapability,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let user = self.users.user_by_id(id).await?.ok_or(AccountError::NotFound)?;
        if !user.is_active() {
            return Err(AccountError::InvalidInput("the account is disabled: enable it before resetting its password"));
        }
        self.send_password_reset(&user, Some(cap.actor().to_string()), ctx).await
    }

    /// Issues a reset link for `user` (their older links stop working) and mails it.
    async fn send_password_reset(
        &self,
        user: &User,
        actor: Option<String>,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let now = self.clock.now();
        let (token, row) = AccountToken::issue(
            user.id,
            TokenPurpose::ResetPassword,
            user.email.clone(),
            now,
            self.settings.reset_ttl,
        )?;
        let expires_at = row.expires_at;
        self.tokens.issue_account_token(&row).await?;
        let by = if actor.is_some() { "admin" } else { "self" };
        let details = json!({ "known": true, "sent": true, "by": by });
        self.audit
            .record(
                AuditEventType::PasswordResetRequested,
                Outcome::Success,
                actor,
                Some(user.id.to_string()),
                ctx,
                details,
            )
            .await?;
        self.notify(Notice::ResetPassword { to: user.email.clone(), token, expires_at }).await;
        Ok(())
    }

    /// Whether a reset link still works (the reset page's `GET`); uses nothing up.
    pub async fn reset_link_valid(&self, token: &str) -> Result<bool, AccountError> {
        Ok(self.live_reset_token(token).await?.is_some())
    }

    /// The live reset token of an active user behind `token`, if any.
    async fn live_reset_token(&self, token: &str) -> Result<Option<(AccountToken, User)>, AccountError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let now = self.clock.now();
        let Some(row) = self.tokens.account_token(&tokens::hash(token), TokenPurpose::ResetPassword, now).await? else {
            return Ok(None);
        };
        // The token names its user: a link from A's mail can only ever reset A.
        let user = self.users.user_by_id(row.user_id).await?.filter(User::is_active);
        // A link mailed to an address the account no longer has does not work.
        Ok(user.filter(|u| u.email == row.email).map(|u| (row, u)))
    }

    /// Sets a new password through a reset link. The policy is checked before the link is
    /// used; on success every session and refresh family of the user has ended (in the
    /// redeeming transaction), the login lock is lifted and the user is told by mail.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &Password,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let (_, user) = self.live_reset_token(token).await?.ok_or(AccountError::InvalidLink)?;
        self.settings.password_policy.check(password, &user.email)?;
        let hash = self.hasher.hash(password).await?;
        let now = self.clock.now();
        let effect = TokenEffect::SetPassword { hash: &hash };
        // Exactly one of racing redemptions gets the token; the others find it gone.
        let token_hash = tokens::hash(token);
        let redeemed = self.tokens.redeem_account_token(&token_hash, TokenPurpose::ResetPassword, effect, now);
        let row = redeemed.await?.ok_or(AccountError::InvalidLink)?;
        let unlocked = self.clear_login_failures(&user.email).await?;
        let id = Some(row.user_id.to_string());
        let details = json!({ "login_lock_cleared": unlocked, "sessions_ended": "all" });
        self.audit.record(AuditEventType::PasswordReset, Outcome::Success, id.clone(), id, ctx, details).await?;
        self.notify(Notice::PasswordChanged { to: user.email }).await;
        Ok(())
    }

    /// A successful password sign-in ends the user's pending reset links (they evidently know
    /// their password; a link lying in a mailbox is only a risk now).
    pub(super) async fn end_reset_links(&self, user: UserId) -> Result<(), AccountError> {
        self.tokens.delete_account_tokens(user, TokenPurpose::ResetPassword).await?;
        Ok(())
    }
}
