//! Login into a server-side session, session look-up with idle/absolute expiry, logout.

use serde_json::json;
use uuid::Uuid;

use super::mfa_sign_in::{FirstFactor, LoginOutcome};
use super::{AccountError, AccountService};
use crate::abuse::{Gate, LoginKey};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::clock::UnixTime;
use crate::email::Email;
use crate::mfa::MfaChannel;
use crate::password::{HashError, Password, Verification};
use crate::session::{Session, SessionToken};
use crate::user::{User, UserId};

/// A fresh session: the token goes into the cookie, the rest is for display.
#[derive(Debug)]
pub struct SignedIn {
    pub token: SessionToken,
    pub session: Session,
    pub user: User,
}

impl AccountService {
    /// Checks email and password and opens a new session, or — for an account with a second
    /// factor — a pending second step ([`LoginOutcome::MfaRequired`]) and no session. A session
    /// presented with the login (`previous`) is ended when the new one opens: a new id on every
    /// login (no session fixation).
    pub async fn login(
        &self,
        email: &str,
        password: &Password,
        previous: Option<&SessionToken>,
        channel: MfaChannel,
        next: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<LoginOutcome, AccountError> {
        let user = match self.authenticate_first_factor(email, password, channel, next, ctx).await? {
            FirstFactor::Done(user) => *user,
            FirstFactor::MfaRequired(pending) => return Ok(LoginOutcome::MfaRequired(pending)),
        };
        let mut rotated = None;
        if let Some(previous) = previous
            && let Some(old) = self.sessions.session_by_token_hash(&previous.hash()).await?
        {
            self.sessions.delete_session(old.id).await?;
            rotated = Some(old);
        }
        let signed_in = self.open_session(user, "pwd", None, ctx).await?;
        self.session_rotated(rotated, &signed_in).await;
        self.record_login(&signed_in.user, ctx, json!({ "method": "session", "session_id": signed_in.session.id }))
            .await?;
        Ok(LoginOutcome::SignedIn(Box::new(signed_in)))
    }

    /// Checks email and password. Every failure — malformed or unknown email, wrong password,
    /// disabled account — costs one password verification, is audited, and returns
    /// [`AccountError::InvalidCredentials`], so neither the answer nor its timing tells which.
    /// An outdated hash is upgraded. The caller records the success with [`Self::record_login`]
    /// once it has created what the login is for.
    ///
    /// Abuse protection comes first, keyed by the normalised email whether or not an account
    /// has it: the per-account rate limit ([`AccountError::RateLimited`]), then (when every
    /// hashing slot is busy and the queue full) the overload refusal, then the lockout. A
    /// locked key is refused with the same [`AccountError::InvalidCredentials`] before any
    /// look-up or hashing (the `account.locked` audit event tells operators); an open one waits
    /// its progressive delay and then verifies.
    pub async fn authenticate(
        &self,
        email: &str,
        password: &Password,
        ctx: &RequestContext,
    ) -> Result<User, AccountError> {
        let key = LoginKey::from_input(email);
        self.limits.check_login_account(&key, ctx).await?;
        // Overload: refused before any database work, so the excess costs (almost) nothing.
        if !self.hasher.has_room() {
            return Err(HashError::Busy.into());
        }
        let attempt = match self.lockout.begin(&key).await? {
            Gate::Open(attempt) => attempt,
            Gate::Closed { delay } => return Err(self.refuse_locked(email, password, delay, ctx).await),
        };
        if !attempt.delay().is_zero() {
            tokio::time::sleep(attempt.delay()).await;
        }
        let email = Email::parse(email).ok();
        let user = match &email {
            Some(e) => self.users.user_by_email(e.key()).await?,
            None => None,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let verdict = match self.hasher.verify(password, stored).await {
            Ok(verdict) => verdict,
            // Refused for overload without verifying: no failure against the account.
            Err(HashError::Busy) => {
                attempt.not_verified().await?;
                return Err(HashError::Busy.into());
            }
            Err(e) => return Err(e.into()),
        };
        let (user, needs_rehash) = match (user, verdict) {
            (Some(u), Verification::Match { needs_rehash }) if u.is_active() => (u, needs_rehash),
            (user, verdict) => {
                let reason = match (&user, verdict) {
                    (None, _) => "unknown_account",
                    (Some(_), Verification::Mismatch) => "wrong_password",
                    (Some(_), Verification::Match { .. }) => "account_disabled",
                };
                let attempted = email.as_ref().map(|e| e.key().to_owned());
                let subject = user.map(|u| u.id.to_string());
                self.audit
                    .record(
                        AuditEventType::LoginFailed,
                        Outcome::Failure,
                        None,
                        subject.clone(),
                        ctx,
                        json!({ "reason": reason, "email": attempted }),
                    )
                    .await?;
                if let Some(lock) = attempt.failed().await? {
                    let details = json!({
                        "email": key.normalized(),
                        "failures": lock.failures,
                        "locked_until": lock.until,
                    });
                    self.audit
                        .record(AuditEventType::AccountLocked, Outcome::Failure, None, subject, ctx, details)
                        .await?;
                }
                return Err(AccountError::InvalidCredentials);
            }
        };
        attempt.succeeded().await?;
        self.end_reset_links(user.id).await?;
        if needs_rehash {
            self.upgrade_hash(&user, password, ctx).await?;
        }
        Ok(user)
    }

    /// Refuses an attempt on a locked key at the cost of an unlocked failure: the progressive
    /// delay, one (dummy) password verification and one audit row. Answering a locked key at
    /// once would tell an attacker that a lock exists, and so that the address has been tried.
    async fn refuse_locked(
        &self,
        email: &str,
        password: &Password,
        delay: std::time::Duration,
        ctx: &RequestContext,
    ) -> AccountError {
        metrics::counter!("gatehouse_login_refused_total", "reason" => "locked").increment(1);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // The same work as an open attempt: the look-up, one verification (of the dummy hash,
        // so the real password is never tested while locked) and the audit row. The hashing is
        // bounded like any sign-in by the per-account and per-IP limits checked before.
        let email = Email::parse(email).ok();
        let user = match &email {
            Some(e) => match self.users.user_by_email(e.key()).await {
                Ok(user) => user,
                Err(e) => return e.into(),
            },
            None => None,
        };
        if let Err(e) = self.hasher.verify(password, None).await {
            return e.into();
        }
        let details = json!({ "reason": "locked", "email": email.map(|e| e.key().to_owned()) });
        let subject = user.map(|u| u.id.to_string());
        match self.audit.record(AuditEventType::LoginFailed, Outcome::Failure, None, subject, ctx, details).await {
            Ok(()) => AccountError::InvalidCredentials,
            Err(e) => e.into(),
        }
    }

    pub async fn record_login(
        &self,
        user: &User,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) -> Result<(), AccountError> {
        let id = Some(user.id.to_string());
        self.audit.record(AuditEventType::LoginSucceeded, Outcome::Success, id.clone(), id, ctx, details).await?;
        Ok(())
    }

    /// The user if it exists and is active.
    pub async fn active_user(&self, id: UserId) -> Result<Option<User>, AccountError> {
        Ok(self.users.user_by_id(id).await?.filter(User::is_active))
    }

    /// Replaces a bcrypt (or outdated Argon2) hash by an Argon2id hash with current parameters.
    async fn upgrade_hash(&self, user: &User, password: &Password, ctx: &RequestContext) -> Result<(), AccountError> {
        let from = user.password_hash.as_deref().and_then(|h| h.split('$').nth(1)).unwrap_or("unknown").to_owned();
        let new_hash = self.hasher.hash(password).await?;
        self.users.set_password_hash(user.id, &new_hash, self.clock.now()).await?;
        let id = Some(user.id.to_string());
        self.audit
            .record(
                AuditEventType::PasswordRehashed,
                Outcome::Success,
                id.clone(),
                id,
                ctx,
                json!({ "from": from, "to": "argon2id" }),
            )
            .await?;
        Ok(())
    }

    /// Opens a session for a user authenticated elsewhere (an upstream provider) at
    /// `auth_time`, ending the session presented with the sign-in (a new id on every login) and
    /// recording the login.
    pub async fn sign_in_as(
        &self,
        user: User,
        previous: Option<&SessionToken>,
        amr: &str,
        auth_time: UnixTime,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) -> Result<SignedIn, AccountError> {
        let mut rotated = None;
        if let Some(previous) = previous
            && let Some(old) = self.sessions.session_by_token_hash(&previous.hash()).await?
        {
            self.sessions.delete_session(old.id).await?;
            rotated = Some(old);
        }
        let signed_in = self.open_session(user, amr, Some(auth_time), ctx).await?;
        self.session_rotated(rotated, &signed_in).await;
        // A successful sign-in ends pending reset links (OWASP), whichever way it came.
        self.end_reset_links(signed_in.user.id).await?;
        self.record_login(&signed_in.user, ctx, details).await?;
        Ok(signed_in)
    }

    /// Back-Channel Logout: the clients of the session a sign-in replaced follow the new one
    /// when the same user signed in again; another user's session ended.
    async fn session_rotated(&self, old: Option<Session>, new: &SignedIn) {
        let Some(old) = old else { return };
        let ended = if old.user_id == new.user.id {
            super::SessionsEnded::Rotated { from: old.id, to: new.session.id }
        } else {
            super::SessionsEnded::One(old.id)
        };
        self.sessions_ended(ended).await;
    }

    /// A new session; `auth_time` `None` means the user authenticated just now.
    async fn open_session(
        &self,
        user: User,
        amr: &str,
        auth_time: Option<UnixTime>,
        ctx: &RequestContext,
    ) -> Result<SignedIn, AccountError> {
        let now = self.clock.now();
        let token = SessionToken::generate()?;
        let session = Session {
            id: Uuid::now_v7(),
            user_id: user.id,
            token_hash: token.hash(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.settings.session.absolute_timeout,
            ip: ctx.ip.clone(),
            user_agent: ctx.for_storage().user_agent,
            amr: amr.to_owned(),
            auth_time: auth_time.unwrap_or(now),
        };
        self.sessions.insert_session(&session).await?;
        Ok(SignedIn { token, session, user })
    }

    /// The live session and active user behind a session cookie. An expired session is deleted
    /// on sight; a session of a disabled user is refused.
    pub async fn current_session(&self, token: &SessionToken) -> Result<(Session, User), AccountError> {
        let Some((mut session, user)) = self.sessions.session_with_user(&token.hash()).await? else {
            return Err(AccountError::Unauthenticated);
        };
        let now = self.clock.now();
        if !session.is_live(now, &self.settings.session) {
            self.sessions.delete_session(session.id).await?;
            self.sessions_ended(super::SessionsEnded::One(session.id)).await;
            return Err(AccountError::Unauthenticated);
        }
        if !user.is_active() {
            return Err(AccountError::Unauthenticated);
        }
        if session.needs_touch(now) {
            self.sessions.touch_session(session.id, now).await?;
            session.last_seen_at = now;
        }
        Ok((session, user))
    }

    /// Ends the session behind `token`, if there is one. Logging out twice is not an error.
    pub async fn logout(&self, token: &SessionToken, ctx: &RequestContext) -> Result<(), AccountError> {
        if let Some(session) = self.sessions.session_by_token_hash(&token.hash()).await?
            && self.sessions.delete_session(session.id).await?
        {
            self.sessions_ended(super::SessionsEnded::One(session.id)).await;
            let user = Some(session.user_id.to_string());
            self.audit
                .record(
                    AuditEventType::Logout,
                    Outcome::Success,
                    user.clone(),
                    user,
                    ctx,
                    json!({ "session_id": session.id }),
                )
                .await?;
        }
        Ok(())
    }

    /// Deletes sessions past their expiry; run periodically by the server.
    pub async fn purge_expired_sessions(&self) -> Result<u64, AccountError> {
        let now = self.clock.now();
        let purged = self.sessions.purge_expired_sessions(now, now - self.settings.session.idle_timeout).await?;
        // Back-Channel Logout: expired sessions (and any other that ended unannounced) are told.
        if let Some(b) = &self.backchannel {
            b.sweep().await?;
        }
        Ok(purged)
    }
}
