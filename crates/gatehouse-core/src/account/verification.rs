//! Email verification: the link mailed on registration (and on request), and its redemption —
//! which also completes a change of address ([`super::email_change`]), since both links lead
//! to the same confirm page.
//!
//! Showing a link ([`AccountService::pending_link`]) never consumes it: mail scanners fetch
//! every URL in a message. Only the confirmation ([`AccountService::confirm_link`], a POST)
//! does, once. Unknown, used and expired links all answer [`AccountError::InvalidLink`].

use serde_json::json;

use super::tokens::{self, AccountToken, TokenEffect, TokenPurpose};
use super::{AccountError, AccountService};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::email::Email;
use crate::mail::Notice;
use crate::user::{User, UserId};

/// Longest token accepted for a look-up: ours are 43 characters; anything far longer is
/// refused before hashing.
const MAX_TOKEN_LEN: usize = 256;

/// What a valid link would do, for the confirm page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLink {
    pub purpose: TokenPurpose,
    /// The address to confirm (for a change, the new one).
    pub email: Email,
}

/// What a confirmed link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub user: UserId,
    pub purpose: TokenPurpose,
    /// The account's address now, verified.
    pub email: Email,
}

/// The answer to "send me a new link".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resent {
    Sent,
    /// Nothing to do: the address is verified already.
    AlreadyVerified,
}

/// The purposes a confirm link can have.
const LINK_PURPOSES: [TokenPurpose; 2] = [TokenPurpose::VerifyEmail, TokenPurpose::ChangeEmail];

impl AccountService {
    /// Mails `user` a new verification link for their current address (earlier links stop
    /// working). Nothing is sent for an address already verified.
    pub async fn send_verification(&self, user: &User, ctx: &RequestContext) -> Result<(), AccountError> {
        self.send_verification_by(user, None, ctx).await
    }

    /// [`Self::send_verification`] on behalf of `actor` (an admin; `None`: the user).
    pub(super) async fn send_verification_by(
        &self,
        user: &User,
        actor: Option<String>,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        if user.email_verified {
            return Ok(());
        }
        let now = self.clock.now();
        let ttl = self.settings.verification_ttl;
        let (token, row) = AccountToken::issue(user.id, TokenPurpose::VerifyEmail, user.email.clone(), now, ttl)?;
        let expires_at = row.expires_at;
        self.tokens.issue_account_token(&row).await?;
        let id = Some(user.id.to_string());
        let actor = actor.or_else(|| id.clone());
        let details = json!({ "purpose": TokenPurpose::VerifyEmail.as_str() });
        self.audit.record(AuditEventType::EmailVerificationSent, Outcome::Success, actor, id, ctx, details).await?;
        self.notify(Notice::VerifyEmail { to: user.email.clone(), token, expires_at }).await;
        Ok(())
    }

    /// A signed-in user asks for a new link. Limited per account (the per-IP limit is the
    /// route's), since every request sends a mail.
    pub async fn resend_verification(&self, user: &User, ctx: &RequestContext) -> Result<Resent, AccountError> {
        if user.email_verified {
            return Ok(Resent::AlreadyVerified);
        }
        self.check_account_mail_limit(user.id, ctx).await?;
        self.send_verification(user, ctx).await?;
        Ok(Resent::Sent)
    }

    /// An admin has a new link sent to `id` (`actor` is recorded). Not found for an unknown
    /// user; [`Resent::AlreadyVerified`] sends nothing.
    pub async fn send_verification_for(
        &self,
        id: UserId,
        actor: &str,
        ctx: &RequestContext,
    ) -> Result<Resent, AccountError> {
        let user = self.users.user_by_id(id).await?.ok_or(AccountError::NotFound)?;
        if user.email_verified {
            return Ok(Resent::AlreadyVerified);
        }
        self.send_verification_by(&user, Some(actor.to_owned()), ctx).await?;
        Ok(Resent::Sent)
    }

    /// Mails sent at a user's request (new links, changes of address) per account: the
    /// registration quota, keyed by the account instead of the address.
    pub(super) async fn check_account_mail_limit(
        &self,
        user: UserId,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        self.limits.check(crate::abuse::LimitKind::AccountMail, &user.to_string(), ctx).await?;
        Ok(())
    }

    /// What the link `token` would confirm; changes nothing.
    pub async fn pending_link(&self, token: &str) -> Result<PendingLink, AccountError> {
        let (row, _) = self.live_link(token).await?;
        Ok(PendingLink { purpose: row.purpose, email: row.email })
    }

    /// The stored token behind a presented link and its (active) user, whatever its purpose.
    async fn live_link(&self, token: &str) -> Result<(AccountToken, User), AccountError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(AccountError::InvalidLink);
        }
        let hash = tokens::hash(token);
        let now = self.clock.now();
        for purpose in LINK_PURPOSES {
            if let Some(row) = self.tokens.account_token(&hash, purpose, now).await? {
                let user = self.active_user(row.user_id).await?.ok_or(AccountError::InvalidLink)?;
                // A verification link for an address the account no longer has is spent.
                if purpose == TokenPurpose::VerifyEmail && row.email.key() != user.email.key() {
                    return Err(AccountError::InvalidLink);
                }
                return Ok((row, user));
            }
        }
        Err(AccountError::InvalidLink)
    }

    /// Confirms the link `token`, once: a verification link marks the address verified; a
    /// change-of-address link replaces the account's address by the new one (verified) and
    /// tells the old address. A change to an address another account took meanwhile is
    /// [`AccountError::EmailTaken`] and leaves the link usable.
    pub async fn confirm_link(&self, token: &str, ctx: &RequestContext) -> Result<Confirmed, AccountError> {
        let (row, user) = self.live_link(token).await?;
        let hash = tokens::hash(token);
        let now = self.clock.now();
        let (effect, event) = match row.purpose {
            TokenPurpose::ChangeEmail => (TokenEffect::ChangeEmail, AuditEventType::EmailChanged),
            _ => (TokenEffect::VerifyEmail, AuditEventType::EmailVerified),
        };
        // Consumed here, in one transaction with its effect: a concurrent second use gets None.
        let Some(row) = self.tokens.redeem_account_token(&hash, row.purpose, effect, now).await? else {
            return Err(AccountError::InvalidLink);
        };
        let id = Some(user.id.to_string());
        // No addresses in the trail: the account id says whose, the mails say which.
        let details = json!({ "purpose": row.purpose.as_str() });
        self.audit.record(event, Outcome::Success, id.clone(), id, ctx, details).await?;
        if row.purpose == TokenPurpose::ChangeEmail {
            self.notify(Notice::EmailChanged { to: user.email.clone() }).await;
        }
        Ok(Confirmed { user: user.id, purpose: row.purpose, email: row.email })
    }

    /// `accounts.require_verified_email`: whether `user` may sign in to OAuth clients and the
    /// first-party token API (always, when the setting is off).
    pub fn may_use_clients(&self, user: &User) -> bool {
        !self.settings.require_verified_email || user.email_verified
    }

    /// [`Self::may_use_clients`] for a password sign-in that would issue tokens: a refusal is
    /// [`AccountError::EmailNotVerified`], audited as a failed login.
    pub async fn require_verified(&self, user: &User, ctx: &RequestContext) -> Result<(), AccountError> {
        if self.may_use_clients(user) {
            return Ok(());
        }
        let id = Some(user.id.to_string());
        let details = json!({ "reason": "email_not_verified" });
        self.audit.record(AuditEventType::LoginFailed, Outcome::Failure, None, id, ctx, details).await?;
        Err(AccountError::EmailNotVerified)
    }

    /// Deletes expired account tokens (verification, change-of-address and reset links).
    pub async fn purge_account_tokens(&self) -> Result<u64, AccountError> {
        Ok(self.tokens.purge_account_tokens(self.clock.now()).await?)
    }
}
