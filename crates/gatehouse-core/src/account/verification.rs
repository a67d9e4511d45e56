//! Email verification: the link mailed on registration (and on request), and its redemption.

use serde_json::json;

use super::tokens::{AccountToken, TokenPurpose};
use super::{AccountError, AccountService};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::mail::Notice;
use crate::user::User;

impl AccountService {
    /// Mails `user` a new verification link for their current address (earlier links stop
    /// working). Nothing is sent for an address already verified.
    pub async fn send_verification(&self, user: &User, ctx: &RequestContext) -> Result<(), AccountError> {
        if user.email_verified {
            return Ok(());
        }
        let now = self.clock.now();
        let ttl = self.settings.verification_ttl;
        let (token, row) = AccountToken::issue(user.id, TokenPurpose::VerifyEmail, user.email.clone(), now, ttl)?;
        let expires_at = row.expires_at;
        self.tokens.issue_account_token(&row).await?;
        let id = Some(user.id.to_string());
        let details = json!({ "purpose": TokenPurpose::VerifyEmail.as_str() });
        self.audit
            .record(AuditEventType::EmailVerificationSent, Outcome::Success, id.clone(), id, ctx, details)
            .await?;
        self.notify(Notice::VerifyEmail { to: user.email.clone(), token, expires_at }).await;
        Ok(())
    }

    /// Deletes expired account tokens (verification, change-of-address and reset links).
    pub async fn purge_account_tokens(&self) -> Result<u64, AccountError> {
        Ok(self.tokens.purge_account_tokens(self.clock.now()).await?)
    }
}
