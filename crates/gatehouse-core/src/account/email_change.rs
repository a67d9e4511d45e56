//! Self-service change of address: asked for with the current password (or, for an account
//! without one, a sign-in within [`REAUTH_WINDOW`]), confirmed through a link mailed to the new
//! address, announced to the old one when asked for and again when it takes effect. The
//! confirmation itself is [`AccountService::confirm_link`].
//!
//! An address that belongs to another account gets the same answer as a free one and no mail
//! (so the answer tells nobody who has an account; its owner is not bothered either); the old
//! address is told of the request either way.

use serde_json::json;

use super::tokens::{AccountToken, TokenPurpose};
use super::{AccountError, AccountService};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::clock::UnixTime;
use crate::email::Email;
use crate::mail::Notice;
use crate::password::Password;
use crate::user::User;

/// Seconds a sign-in counts as fresh for changes that need one and have no password to ask for
/// (the `max_age` idea of OpenID Connect Core §3.1.2.1).
pub const REAUTH_WINDOW: i64 = 600;

/// How the person proves, again, that they are the account's owner.
#[derive(Debug, Clone, Copy)]
pub struct Reauth<'a> {
    /// The current password, when the request carried one.
    pub password: Option<&'a Password>,
    /// When the presented session (or token) authenticated.
    pub auth_time: Option<UnixTime>,
}

impl AccountService {
    /// Asks for `user`'s address to become `new_email`, pending confirmation at that address.
    pub async fn request_email_change(
        &self,
        user: &User,
        new_email: &str,
        reauth: Reauth<'_>,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let new_email = Email::parse_new(new_email)?;
        if new_email.key() == user.email.key() {
            return Err(AccountError::InvalidInput("this is already the address of your account"));
        }
        self.reauthenticate(user, reauth, ctx).await?;
        self.check_account_mail_limit(user.id, ctx).await?;
        let taken = self.users.user_by_email(new_email.key()).await?.is_some();
        let id = Some(user.id.to_string());
        // `taken` is for operators (who can see every account anyway); no address is recorded.
        let details = json!({ "address_taken": taken });
        let outcome = if taken { Outcome::Failure } else { Outcome::Success };
        self.audit.record(AuditEventType::EmailChangeRequested, outcome, id.clone(), id, ctx, details).await?;
        if !taken {
            let now = self.clock.now();
            let ttl = self.settings.verification_ttl;
            let (token, row) = AccountToken::issue(user.id, TokenPurpose::ChangeEmail, new_email.clone(), now, ttl)?;
            self.tokens.issue_account_token(&row).await?;
            self.notify(Notice::ConfirmEmailChange { to: new_email, token, expires_at: row.expires_at }).await;
        }
        self.notify(Notice::EmailChangeRequested { to: user.email.clone() }).await;
        Ok(())
    }

    /// The current password when the account has one (with the login's rate limit, lockout
    /// and audit), else a recent sign-in.
    pub async fn reauthenticate(
        &self,
        user: &User,
        reauth: Reauth<'_>,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        if user.password_hash.is_none() {
            let fresh = reauth.auth_time.is_some_and(|t| self.clock.now() - t <= REAUTH_WINDOW);
            return if fresh { Ok(()) } else { Err(AccountError::ReauthenticationRequired) };
        }
        let Some(password) = reauth.password else {
            return Err(AccountError::InvalidInput("the current password is required"));
        };
        match self.authenticate(user.email.as_str(), password, ctx).await {
            Ok(u) if u.id == user.id => Ok(()),
            Ok(_) | Err(AccountError::InvalidCredentials) => Err(AccountError::WrongPassword),
            Err(e) => Err(e),
        }
    }
}
