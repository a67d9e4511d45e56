//! Self-service on one's own account: change the password, delete the account (OWASP ASVS
//! V2.1.5/V2.1.6 "users can change their password, with the current one"; NIST SP 800-63B
//! §5.1.1.2 policy on the new one). Both re-authenticate the caller first, through the same
//! per-account rate limit and lockout as a sign-in, so a stolen session cannot be turned into
//! a password guesser or a silent account takeover.

use serde_json::json;

use super::{AccountError, AccountService, Reauth};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::clock::UnixTime;
use crate::mail::Notice;
use crate::password::Password;
use crate::rbac::{GuardOutcome, GuardedChange};
use crate::session::Session;
use crate::user::User;

/// How the person acting on their account is signed in.
pub enum Caller {
    /// A browser session (cookie): it is kept when other sign-ins end.
    Session(Session),
    /// A first-party access token, with its `auth_time` if it has one.
    Token { auth_time: Option<UnixTime> },
}

impl Caller {
    /// When the caller authenticated, if known.
    pub fn auth_time(&self) -> Option<UnixTime> {
        match self {
            Self::Session(s) => Some(s.auth_time),
            Self::Token { auth_time } => *auth_time,
        }
    }

    fn session_id(&self) -> Option<uuid::Uuid> {
        match self {
            Self::Session(s) => Some(s.id),
            Self::Token { .. } => None,
        }
    }
}

impl AccountService {
    /// Changes the password of `user`, who proves the current one (an account without one —
    /// created by an upstream provider — proves a sign-in within [`super::REAUTH_WINDOW`] seconds
    /// instead, and so sets its first password). Every other session ends
    /// and every refresh family is revoked (a token caller's own included: the app signs in
    /// again); the caller's browser session stays. Pending reset links die, a login lock is
    /// lifted, the user is told by mail.
    pub async fn change_password(
        &self,
        user: &User,
        caller: &Caller,
        current: Option<&Password>,
        new: &Password,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        self.settings.password_policy.check(new, &user.email)?;
        self.reauthenticate(user, Reauth { password: current, auth_time: caller.auth_time() }, ctx).await?;
        let hash = self.hasher.hash(new).await?;
        let now = self.clock.now();
        // One transaction: the new hash, every other sign-in ended, pending reset links and a
        // pending change of address gone (whoever asked for them may be the intruder).
        let keep = caller.session_id();
        let (ended, families) = self
            .users
            .set_password_ending_sign_ins(user.id, &hash, keep, "password_changed", now)
            .await?
            .ok_or(AccountError::NotFound)?;
        let unlocked = self.clear_login_failures(&user.email).await?;
        let id = Some(user.id.to_string());
        let details = json!({
            "by": "self",
            "sessions_ended": ended,
            "refresh_families_revoked": families,
            "login_lock_cleared": unlocked,
        });
        self.audit.record(AuditEventType::PasswordChanged, Outcome::Success, id.clone(), id, ctx, details).await?;
        self.notify(Notice::PasswordChanged { to: user.email.clone() }).await;
        Ok(())
    }

    /// Deletes `user`'s own account with everything of it, as the admin delete does (the
    /// guarded write: refused for the last active admin). Proof: the password, or for an
    /// account without one a sign-in within [`super::REAUTH_WINDOW`] seconds. The audit event keeps
    /// the user id only; the goodbye mail goes to the address read before the delete.
    pub async fn delete_own_account(
        &self,
        user: &User,
        caller: &Caller,
        password: Option<&Password>,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        self.reauthenticate(user, Reauth { password, auth_time: caller.auth_time() }, ctx).await?;
        match self.guard.change_user_guarded(user.id, &GuardedChange::Delete, self.clock.now()).await? {
            GuardOutcome::Applied => {}
            GuardOutcome::NotFound => return Err(AccountError::NotFound),
            GuardOutcome::LastAdmin => return Err(AccountError::LastAdmin),
        }
        let id = Some(user.id.to_string());
        self.audit
            .record(AuditEventType::UserDeleted, Outcome::Success, id.clone(), id, ctx, json!({ "by": "self" }))
            .await?;
        // After the delete, not before: a refused delete (the last admin) must not send a
        // goodbye. The notice carries the address itself, not a reference to the row.
        self.notify(Notice::AccountDeleted { to: user.email.clone() }).await;
        Ok(())
    }
}
