//! Refresh tokens: opaque, 256 random bits, stored as SHA-256 only, rotated on every use.
//! Each belongs to a family (one login or one grant); presenting a token that was already
//! rotated revokes the whole family, newest token included (RFC 9700 §4.14.2).

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::acr::AuthContext;
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::{Clock, UnixTime};
use crate::random::{self, RandomError};
use crate::store::{AuditStore, ClientStore, RefreshTokenStore, StoreError};
use crate::token::FIRST_PARTY_CLIENT;
use crate::user::UserId;

/// A refresh token as the client holds it. Never logged, never stored.
#[derive(Clone)]
pub struct RefreshToken(SecretString);

impl RefreshToken {
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(SecretString::from(random::token()?)))
    }

    pub fn from_client(value: &str) -> Self {
        Self(SecretString::from(value.to_owned()))
    }

    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.expose_secret().as_bytes()).to_vec()
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub id: Uuid,
    pub user_id: UserId,
    pub client_id: String,
    pub scope: Option<String>,
    pub created_at: UnixTime,
    /// Absolute expiry of every token of the family.
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    pub revoked_reason: Option<String>,
    /// The sign-in the family came from: every token refreshed from it says how and when the
    /// user authenticated then, not at the refresh (OpenID Connect Core §12.2).
    pub auth: AuthContext,
    /// RFC 9449 §5: the DPoP key a public client's refresh tokens are bound to; every refresh
    /// needs a proof by it.
    pub dpop_jkt: Option<String>,
}

/// A new OAuth grant's family ([`RefreshService::start_grant`]).
#[derive(Debug, Clone, Copy)]
pub struct NewGrant<'a> {
    /// The grant's id (an authorization code or device code carries it).
    pub id: Uuid,
    pub user: UserId,
    pub client_id: &'a str,
    pub scope: Option<&'a str>,
    pub auth: &'a AuthContext,
    /// RFC 9449 §5: bind the family to this DPoP key (public clients that used DPoP).
    pub dpop_jkt: Option<&'a str>,
}

/// A live family as the sign-in lists show it: a first-party token login, beside the browser
/// sessions, so that it can be seen and ended like one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyActivity {
    pub family: RefreshFamily,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When its newest token was issued (the last sign-in or refresh).
    pub last_used_at: UnixTime,
}

impl RefreshFamily {
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRow {
    pub token_hash: Vec<u8>,
    pub family_id: Uuid,
    pub created_at: UnixTime,
    /// The token stops working if not used by then.
    pub idle_expires_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    Rotated(RefreshFamily),
    /// The token had already been used: the family is now revoked.
    Reused(RefreshFamily),
    Invalid,
}

/// Lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSettings {
    /// From the login, whatever happens (default 7 days).
    pub absolute_lifetime: i64,
    /// Without use (default 3 days).
    pub idle_lifetime: i64,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self { absolute_lifetime: 7 * 86_400, idle_lifetime: 3 * 86_400 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, revoked or reused: the client only ever learns this.
    #[error("the refresh token is invalid, expired or revoked")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

pub struct RefreshService {
    store: Arc<dyn RefreshTokenStore>,
    /// To refuse the tokens of a disabled or deleted client.
    clients: Arc<dyn ClientStore>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
    settings: RefreshSettings,
}

impl RefreshService {
    pub fn new(
        store: Arc<dyn RefreshTokenStore>,
        clients: Arc<dyn ClientStore>,
        audit: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
        settings: RefreshSettings,
    ) -> Self {
        let audit = Auditor::new(audit, clock.clone());
        Self { store, clients, audit, clock, settings }
    }

    fn row(&self, token: &RefreshToken, family_id: Uuid, now: UnixTime) -> RefreshTokenRow {
        RefreshTokenRow {
            token_hash: token.hash(),
            family_id,
            created_at: now,
            idle_expires_at: now + self.settings.idle_lifetime,
        }
    }

    /// Starts a family for a new login or grant and returns its first token.
    pub async fn issue(
        &self,
        user: UserId,
        client_id: &str,
        scope: Option<&str>,
        auth: &AuthContext,
    ) -> Result<(RefreshToken, RefreshFamily), RefreshError> {
        let now = self.clock.now();
        let family = RefreshFamily {
            id: Uuid::now_v7(),
            user_id: user,
            client_id: client_id.to_owned(),
            scope: scope.map(str::to_owned),
            created_at: now,
            expires_at: now + self.settings.absolute_lifetime,
            revoked_at: None,
            revoked_reason: None,
            auth: auth.clone(),
            dpop_jkt: None,
        };
        let token = RefreshToken::generate()?;
        self.store.create_refresh_family(&family, &self.row(&token, family.id, now)).await?;
        Ok((token, family))
    }

    /// Starts the family of an OAuth grant under a given id (an authorization code carries it),
    /// returning its first refresh token only when the client gets one. Without a refresh token
    /// the family still exists: it is what access tokens name in `sid`, and what revocation and
    /// code replay revoke.
    pub async fn start_grant(
        &self,
        grant: NewGrant<'_>,
        with_refresh_token: bool,
    ) -> Result<(Option<RefreshToken>, RefreshFamily), RefreshError> {
        let now = self.clock.now();
        let family = RefreshFamily {
            id: grant.id,
            user_id: grant.user,
            client_id: grant.client_id.to_owned(),
            scope: grant.scope.map(str::to_owned),
            created_at: now,
            expires_at: now + self.settings.absolute_lifetime,
            revoked_at: None,
            revoked_reason: None,
            auth: grant.auth.clone(),
            dpop_jkt: grant.dpop_jkt.map(str::to_owned),
        };
        // A token the client never sees, when it gets none, keeps the family's shape uniform.
        let token = RefreshToken::generate()?;
        self.store.create_refresh_family(&family, &self.row(&token, family.id, now)).await?;
        Ok((with_refresh_token.then_some(token), family))
    }

    /// The family a presented token belongs to (current or already rotated).
    pub async fn family_of(&self, presented: &RefreshToken) -> Result<Option<RefreshFamily>, RefreshError> {
        Ok(self.store.refresh_family_by_token(&presented.hash()).await?)
    }

    /// The family of a token that is still current: not rotated, not idle-expired, family live.
    pub async fn current_family(&self, presented: &RefreshToken) -> Result<Option<RefreshFamily>, RefreshError> {
        Ok(self.store.current_refresh_family(&presented.hash(), self.clock.now()).await?)
    }

    /// The family `id`, whatever its state.
    pub async fn family(&self, id: Uuid) -> Result<Option<RefreshFamily>, RefreshError> {
        Ok(self.store.refresh_family(id).await?)
    }

    /// Binds a public client's unbound family to the DPoP key of its first DPoP refresh (RFC
    /// 9449 §5); later refreshes need a proof by that key.
    pub async fn bind_dpop(&self, id: Uuid, jkt: &str) -> Result<bool, RefreshError> {
        Ok(self.store.bind_refresh_family_dpop(id, jkt).await?)
    }

    /// Revokes a family by id (code replay, token revocation). `false` if unknown or revoked.
    pub async fn revoke_family(&self, id: Uuid, reason: &str) -> Result<bool, RefreshError> {
        Ok(self.store.revoke_refresh_family(id, self.clock.now(), reason).await?)
    }

    /// Exchanges a refresh token for its successor. A reused token revokes its family and is
    /// recorded as a security event.
    pub async fn rotate(
        &self,
        presented: &RefreshToken,
        ctx: &RequestContext,
    ) -> Result<(RefreshToken, RefreshFamily), RefreshError> {
        let now = self.clock.now();
        let next = RefreshToken::generate()?;
        match self.store.rotate_refresh_token(&presented.hash(), &self.row(&next, Uuid::nil(), now), now).await? {
            RotateOutcome::Rotated(family) => Ok((next, family)),
            RotateOutcome::Reused(family) => {
                let user = Some(family.user_id.to_string());
                self.audit
                    .record(
                        AuditEventType::RefreshTokenReused,
                        Outcome::Failure,
                        None,
                        user,
                        ctx,
                        json!({ "family_id": family.id, "client_id": family.client_id, "action": "family_revoked" }),
                    )
                    .await?;
                Err(RefreshError::Invalid)
            }
            RotateOutcome::Invalid => Err(RefreshError::Invalid),
        }
    }

    /// Revokes the family of a presented token (logout). Unknown tokens are ignored.
    pub async fn revoke(
        &self,
        presented: &RefreshToken,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<(), RefreshError> {
        if let Some(family) = self.store.refresh_family_by_token(&presented.hash()).await?
            && self.store.revoke_refresh_family(family.id, self.clock.now(), reason).await?
        {
            let user = Some(family.user_id.to_string());
            self.audit
                .record(
                    AuditEventType::RefreshFamilyRevoked,
                    Outcome::Success,
                    user.clone(),
                    user,
                    ctx,
                    json!({ "family_id": family.id, "reason": reason }),
                )
                .await?;
        }
        Ok(())
    }

    /// Revokes every family of a user (account disabled, password changed).
    pub async fn revoke_for_user(&self, user: UserId, reason: &str) -> Result<u64, RefreshError> {
        Ok(self.store.revoke_refresh_families_for_user(user, self.clock.now(), reason).await?)
    }

    /// Revokes every live family of a user with one client (a withdrawn consent), audited.
    pub async fn revoke_for_user_client(
        &self,
        user: UserId,
        client_id: &str,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<u64, RefreshError> {
        let n = self.store.revoke_refresh_families_for_user_client(user, client_id, self.clock.now(), reason).await?;
        let actor = Some(user.to_string());
        self.audit
            .record(
                AuditEventType::RefreshFamilyRevoked,
                Outcome::Success,
                actor.clone(),
                actor,
                ctx,
                json!({ "client_id": client_id, "reason": reason, "families": n }),
            )
            .await?;
        Ok(n)
    }

    /// Whether the family is still valid: the revocation check for its access tokens.
    pub async fn family_is_live(&self, id: Uuid) -> Result<bool, RefreshError> {
        let now = self.clock.now();
        Ok(self.store.refresh_family(id).await?.is_some_and(|f| f.is_live(now)))
    }

    /// Records where a first-party token login came from.
    pub async fn set_origin(&self, id: Uuid, ctx: &RequestContext) -> Result<(), RefreshError> {
        Ok(self.store.set_refresh_family_origin(id, ctx.ip.as_deref(), ctx.user_agent.as_deref()).await?)
    }

    /// The live families of `user` with `client_id`, newest first.
    pub async fn live_families(&self, user: UserId, client_id: &str) -> Result<Vec<FamilyActivity>, RefreshError> {
        Ok(self.store.live_refresh_families(user, client_id, self.clock.now()).await?)
    }

    /// Revokes an access token that belongs to no family (client credentials) until it expires.
    pub async fn revoke_access_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: UnixTime,
    ) -> Result<(), RefreshError> {
        self.store.revoke_access_token(jti, client_id, expires_at).await?;
        Ok(())
    }

    /// Whether tokens issued to `client_id` may still be used: Gatehouse's own first-party
    /// client always, a registered client while it exists and is not disabled.
    pub async fn client_is_usable(&self, client_id: &str) -> Result<bool, RefreshError> {
        if client_id == FIRST_PARTY_CLIENT {
            return Ok(true);
        }
        Ok(self.clients.client_by_id(client_id).await?.is_some_and(|c| !c.is_disabled()))
    }

    /// Whether an access token of `client_id` still stands: a token of a grant (`sid`) as long
    /// as its grant lives; one of no grant (client credentials) until it is revoked on its own
    /// (RFC 7009); either only while its client is usable ([`Self::client_is_usable`]).
    /// The one rule behind introspection, UserInfo and Gatehouse's own APIs.
    pub async fn access_token_is_live(
        &self,
        client_id: &str,
        sid: Option<&str>,
        jti: &str,
    ) -> Result<bool, RefreshError> {
        if !self.client_is_usable(client_id).await? {
            return Ok(false);
        }
        match sid.map(Uuid::try_parse) {
            None => Ok(!self.store.access_token_revoked(jti).await?),
            Some(Err(_)) => Ok(false),
            Some(Ok(id)) => self.family_is_live(id).await,
        }
    }

    pub async fn purge(&self) -> Result<u64, RefreshError> {
        Ok(self.store.purge_refresh_families(self.clock.now() - 86_400).await?)
    }
}
