//! Registration and account management (CLI and, later, the admin API).

use serde_json::json;

use super::{AccountError, AccountService};
use crate::abuse::LoginKey;
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::email::Email;
use crate::mail::Notice;
use crate::password::Password;
use crate::rbac::{GuardOutcome, GuardedChange};
use crate::store::StoreError;
use crate::user::{User, UserId, UserStatus, parse_display_name};

/// How a new account gets its credential.
pub enum Credential<'a> {
    /// A password, checked against the policy and hashed with Argon2id.
    Password(&'a Password),
    /// An existing hash imported from another system: an Argon2 PHC string or a bcrypt hash
    /// (`$2a$`/`$2b$`/`$2y$`), upgraded to Argon2id on the first successful login.
    ImportedHash(&'a str),
}

impl AccountService {
    /// Self-service registration; refused when registration is switched off.
    ///
    /// A taken address gets the same answer as a new one, after the same work (the password
    /// is hashed either way), so the answer says nothing about who has an account: the new
    /// address is sent a verification link, the owner of a taken one a "someone tried to
    /// register with your address" message instead. Input errors (a malformed address, a weak
    /// password) are still reported, since they do not depend on who is registered.
    pub async fn register(
        &self,
        email: &str,
        password: &Password,
        display_name: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        if !self.settings.registration_enabled {
            return Err(AccountError::RegistrationDisabled);
        }
        let user = self.new_user(email, Credential::Password(password), display_name).await?;
        match self.users.insert_user(&user).await {
            Ok(()) => {
                let id = Some(user.id.to_string());
                self.audit
                    .record(AuditEventType::UserRegistered, Outcome::Success, id.clone(), id, ctx, json!({}))
                    .await?;
                self.registered(&user, ctx).await
            }
            Err(StoreError::Conflict(_)) => {
                let Some(owner) = self.users.user_by_email(user.email.key()).await? else {
                    // Deleted in between: nobody to tell, and the same answer.
                    return Ok(());
                };
                let id = Some(owner.id.to_string());
                self.audit
                    .record(AuditEventType::RegistrationDuplicate, Outcome::Failure, None, id, ctx, json!({}))
                    .await?;
                self.notify(Notice::RegistrationAttempt { to: owner.email }).await;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What follows a new registration: the verification link.
    async fn registered(&self, user: &User, ctx: &RequestContext) -> Result<(), AccountError> {
        self.send_verification(user, ctx).await
    }

    /// Queues a notice; a failure is logged, never shown to the person (who could otherwise
    /// tell a taken address from a new one by a mail error).
    pub(super) async fn notify(&self, notice: Notice) {
        let kind = notice.kind();
        if let Err(e) = self.mail.send(notice).await {
            tracing::error!(kind, error = %e, "mail could not be queued");
        }
    }

    /// An operator creates an account (works with registration switched off).
    pub async fn create_user(
        &self,
        email: &str,
        credential: Credential<'_>,
        display_name: Option<&str>,
        actor: &str,
        ctx: &RequestContext,
    ) -> Result<User, AccountError> {
        let imported = matches!(credential, Credential::ImportedHash(_));
        let user = self.new_user(email, credential, display_name).await?;
        self.users.insert_user(&user).await?;
        self.audit
            .record(
                AuditEventType::UserCreated,
                Outcome::Success,
                Some(actor.to_owned()),
                Some(user.id.to_string()),
                ctx,
                json!({ "imported_hash": imported }),
            )
            .await?;
        Ok(user)
    }

    async fn new_user(
        &self,
        email: &str,
        credential: Credential<'_>,
        display_name: Option<&str>,
    ) -> Result<User, AccountError> {
        let email = Email::parse_new(email)?;
        let display_name = parse_display_name(display_name).map_err(AccountError::InvalidInput)?;
        let hash = match credential {
            Credential::Password(p) => {
                self.settings.password_policy.check(p, &email)?;
                self.hasher.hash(p).await?
            }
            Credential::ImportedHash(h) => validate_imported_hash(h)?,
        };
        let now = self.clock.now();
        Ok(User {
            id: UserId::generate(),
            email,
            display_name,
            password_hash: Some(hash),
            status: UserStatus::Active,
            email_verified: false,
            created_at: now,
            updated_at: now,
        })
    }

    pub async fn find_user(&self, id_or_email: &str) -> Result<User, AccountError> {
        let found = match UserId::parse(id_or_email) {
            Some(id) => self.users.user_by_id(id).await?,
            None => match Email::parse(id_or_email) {
                Ok(e) => self.users.user_by_email(e.key()).await?,
                Err(_) => None,
            },
        };
        found.ok_or(AccountError::NotFound)
    }

    pub async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, AccountError> {
        Ok(self.users.list_users(after, limit.clamp(1, 1000)).await?)
    }

    /// Disables the account and ends all of its sessions and refresh tokens at once; refused
    /// for the last active admin (the same guarded write the admin API uses).
    pub async fn disable_user(&self, id: UserId, actor: &str, ctx: &RequestContext) -> Result<u64, AccountError> {
        match self.guard.change_user_guarded(id, &GuardedChange::Disable, self.clock.now()).await? {
            GuardOutcome::Applied => {}
            GuardOutcome::NotFound => return Err(AccountError::NotFound),
            GuardOutcome::LastAdmin => return Err(AccountError::LastAdmin),
        }
        let ended = self.sessions.delete_sessions_for_user(id).await?;
        self.sessions_ended(super::SessionsEnded::AllOf(id)).await;
        let families = self.refresh.revoke_refresh_families_for_user(id, self.clock.now(), "user_disabled").await?;
        self.audit
            .record(
                AuditEventType::UserDisabled,
                Outcome::Success,
                Some(actor.to_owned()),
                Some(id.to_string()),
                ctx,
                json!({ "sessions_ended": ended, "refresh_families_revoked": families }),
            )
            .await?;
        Ok(ended)
    }

    /// Sets a new password (policy-checked), ends every session of the user and lifts a login
    /// lock on the address.
    pub async fn set_password(
        &self,
        id: UserId,
        password: &Password,
        actor: &str,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let user = self.users.user_by_id(id).await?.ok_or(AccountError::NotFound)?;
        self.settings.password_policy.check(password, &user.email)?;
        let hash = self.hasher.hash(password).await?;
        self.users.set_password_hash(id, &hash, self.clock.now()).await?;
        let ended = self.sessions.delete_sessions_for_user(id).await?;
        self.sessions_ended(super::SessionsEnded::AllOf(id)).await;
        let families = self.refresh.revoke_refresh_families_for_user(id, self.clock.now(), "password_changed").await?;
        let unlocked = self.clear_login_failures(&user.email).await?;
        self.audit
            .record(
                AuditEventType::PasswordChanged,
                Outcome::Success,
                Some(actor.to_owned()),
                Some(id.to_string()),
                ctx,
                json!({ "sessions_ended": ended, "refresh_families_revoked": families, "login_lock_cleared": unlocked }),
            )
            .await?;
        Ok(())
    }

    /// Forgets the failed logins of `email` and lifts its lock, if any (`true` then). Called by
    /// every successful password change — and by password reset when it lands — since whoever
    /// set a new password need not wait out a lock that the old one's guessers caused.
    pub async fn clear_login_failures(&self, email: &Email) -> Result<bool, AccountError> {
        Ok(self.lockout.clear(&LoginKey::for_email(email)).await?)
    }

    /// Deletes failed-login counters that have expired; run periodically by the server.
    pub async fn purge_login_attempts(&self) -> Result<u64, AccountError> {
        Ok(self.lockout.purge().await?)
    }
}

fn validate_imported_hash(hash: &str) -> Result<String, AccountError> {
    let hash = hash.trim();
    let bcrypt = ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) && hash.len() == 60;
    let argon2 = hash.starts_with("$argon2") && argon2::password_hash::phc::PasswordHash::new(hash).is_ok();
    if bcrypt || argon2 {
        Ok(hash.to_owned())
    } else {
        Err(AccountError::InvalidInput("password hash must be a bcrypt ($2a$/$2b$/$2y$) or Argon2 PHC string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_hash_formats() {
        let b = bcrypt::hash("x", 4).unwrap();
        assert!(validate_imported_hash(&b).is_ok());
        assert!(
            validate_imported_hash(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$8jH1hkIhDgoCBbxLWrB2tLk3VwYjcSDNqiSZsp5XGns"
            )
            .is_ok()
        );
        assert!(validate_imported_hash("plaintext").is_err());
        assert!(validate_imported_hash("$2b$short").is_err());
        assert!(validate_imported_hash("$argon2id$garbage").is_err());
    }
}
