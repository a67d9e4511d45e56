//! Sign-ins as the user and the admin see them: browser sessions and first-party token logins
//! (`/api/v1/auth/token`) listed together, each ended on its own, all ended at once.
//!
//! A token login holds no session row: it is its refresh-token family, whose access tokens
//! carry the family as `sid` and stop working at our own APIs when it is revoked. Ending "all
//! sign-ins" therefore deletes the sessions and revokes every refresh family of the user, those
//! of OAuth clients included.

use serde_json::json;
use uuid::Uuid;

use super::{AccountError, AccountService};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::clock::UnixTime;
use crate::token::FIRST_PARTY_CLIENT;
use crate::user::UserId;

/// How a sign-in is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInKind {
    /// A server-side session behind the session cookie.
    Browser,
    /// A first-party token login: a refresh-token family of the first-party API.
    Token,
}

impl SignInKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Token => "token",
        }
    }
}

/// One live sign-in of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The session id, or the refresh family id of a token login.
    pub id: Uuid,
    pub kind: SignInKind,
    /// `gatehouse` for token logins; none for browser sessions.
    pub client_id: Option<String>,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    pub expires_at: UnixTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What ending every sign-in of a user ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInsEnded {
    pub sessions: u64,
    /// Refresh families revoked: token logins and OAuth grants.
    pub refresh_families: u64,
}

impl AccountService {
    /// The user's live sign-ins, newest first.
    pub async fn sign_ins(&self, user: UserId) -> Result<Vec<SignIn>, AccountError> {
        let now = self.clock.now();
        let mut all: Vec<SignIn> = self
            .sessions
            .sessions_for_user(user)
            .await?
            .into_iter()
            .filter(|s| s.is_live(now, &self.settings.session))
            .map(|s| SignIn {
                id: s.id,
                kind: SignInKind::Browser,
                client_id: None,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect();
        let tokens = self.refresh.live_refresh_families(user, FIRST_PARTY_CLIENT, now).await?;
        all.extend(tokens.into_iter().map(|t| SignIn {
            id: t.family.id,
            kind: SignInKind::Token,
            client_id: Some(t.family.client_id),
            created_at: t.family.created_at,
            last_seen_at: t.last_used_at,
            expires_at: t.family.expires_at,
            ip: t.ip,
            user_agent: t.user_agent,
        }));
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Ends one sign-in of `user`: deletes the session, or revokes the token login's family.
    /// Not audited here (the caller knows who acted). An id of another user, of an OAuth grant
    /// or of nothing is [`AccountError::NotFound`].
    pub async fn end_sign_in(&self, user: UserId, id: Uuid) -> Result<SignInKind, AccountError> {
        if self.sessions.delete_user_session(user, id).await? {
            self.sessions_ended(super::SessionsEnded::One(id)).await;
            return Ok(SignInKind::Browser);
        }
        let family = self.refresh.refresh_family(id).await?;
        if family.is_some_and(|f| f.user_id == user && f.client_id == FIRST_PARTY_CLIENT)
            && self.refresh.revoke_refresh_family(id, self.clock.now(), "sign_in_ended").await?
        {
            return Ok(SignInKind::Token);
        }
        Err(AccountError::NotFound)
    }

    /// Ends every sign-in of `user`: sessions, token logins and OAuth grants.
    pub async fn end_all_sign_ins(&self, user: UserId, reason: &str) -> Result<SignInsEnded, AccountError> {
        let sessions = self.sessions.delete_sessions_for_user(user).await?;
        self.sessions_ended(super::SessionsEnded::AllOf(user)).await;
        let refresh_families = self.refresh.revoke_refresh_families_for_user(user, self.clock.now(), reason).await?;
        Ok(SignInsEnded { sessions, refresh_families })
    }

    /// A user ends one of their own sign-ins (account page), audited. Another user's id is
    /// answered like an unknown one.
    pub async fn revoke_own_session(
        &self,
        user: UserId,
        session_id: Uuid,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let kind = self.end_sign_in(user, session_id).await?;
        let actor = Some(user.to_string());
        let details = json!({ "session_id": session_id, "kind": kind.as_str() });
        self.audit.record(AuditEventType::SessionRevoked, Outcome::Success, actor.clone(), actor, ctx, details).await?;
        Ok(())
    }
}
