//! Storage traits, one per aggregate, implemented by `gatehouse-store` for SQLite and
//! PostgreSQL. They are object-safe (`Arc<dyn UserStore>`): only the binary picks a backend.
//!
//! Contract every backend keeps (checked by the conformance suite in `gatehouse-store`):
//! uniqueness of `users.email_key` reported as [`StoreError::Conflict`]; each method is atomic;
//! "not found" is `None`/`false`, never an error.

use async_trait::async_trait;
use uuid::Uuid;

pub use crate::abuse::LoginAttemptStore;
pub use crate::account::tokens::AccountTokenStore;
use crate::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::clock::UnixTime;
use crate::keys::StoredKey;
pub use crate::mail::MailQueueStore;
pub use crate::oauth::ExchangeRuleStore;
pub use crate::oauth::ResourceServerStore;
use crate::oauth::{AuthorizationCode, Client, CodeOutcome, Consent, DeviceApproval, DeviceAuthorization};
pub use crate::policy::PolicyStore;
pub use crate::rbac::RbacStore;
use crate::session::Session;
use crate::token::{FamilyActivity, RefreshFamily, RefreshTokenRow, RotateOutcome};
use crate::user::{User, UserId, UserStatus};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated; the payload names what collided.
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// The database answered with an error.
    #[error("database error: {0}")]
    Unavailable(String),
    /// The database cannot be reached at all (connection refused or lost, no free connection
    /// within the pool's acquire timeout): the request may succeed later. HTTP answers 503 with
    /// `Retry-After`, and `/readyz` fails, until a connection succeeds again.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// A row could not be turned back into a domain value.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database was unreachable (see [`Self::Unreachable`]), not wrong.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Look-up by [`crate::Email::key`].
    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>, StoreError>;
    /// Users ordered by id (creation order), after the given id, at most `limit`.
    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, StoreError>;
    async fn set_password_hash(&self, id: UserId, hash: &str, now: UnixTime) -> Result<bool, StoreError>;
    /// A password change, in one transaction: sets the hash; ends every session of the user
    /// but `keep_session`; revokes every live refresh family (with `reason`); deletes pending
    /// reset links and a pending change of address. Returns `(sessions ended, families
    /// revoked)`, `None` for an unknown user (nothing changed).
    async fn set_password_ending_sign_ins(
        &self,
        id: UserId,
        hash: &str,
        keep_session: Option<Uuid>,
        reason: &str,
        now: UnixTime,
    ) -> Result<Option<(u64, u64)>, StoreError>;
    async fn set_user_status(&self, id: UserId, status: UserStatus, now: UnixTime) -> Result<bool, StoreError>;
    /// Like [`Self::list_users`], keeping only users whose `email_key` contains
    /// `email_contains` (matched literally: `%` and `_` are not wildcards).
    async fn search_users(
        &self,
        after: Option<UserId>,
        limit: u32,
        email_contains: Option<&str>,
    ) -> Result<Vec<User>, StoreError>;
    async fn set_display_name(&self, id: UserId, display_name: Option<&str>, now: UnixTime)
    -> Result<bool, StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;
    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>, StoreError>;
    /// The session and its user in one round trip: every request behind a session cookie asks
    /// for both, and on SQLite each round trip costs two thread hand-offs.
    async fn session_with_user(&self, token_hash: &[u8]) -> Result<Option<(Session, User)>, StoreError>;
    async fn touch_session(&self, id: Uuid, last_seen_at: UnixTime) -> Result<(), StoreError>;
    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Deletes the session only if it belongs to `user` (no one revokes another's session).
    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;
    async fn sessions_for_user(&self, user: UserId) -> Result<Vec<Session>, StoreError>;
    async fn delete_sessions_for_user(&self, user: UserId) -> Result<u64, StoreError>;
    /// Removes sessions past their absolute expiry or idle since before `idle_cutoff`.
    async fn purge_expired_sessions(&self, now: UnixTime, idle_cutoff: UnixTime) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The newest events first, at most `limit`.
    async fn recent_audit_events(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
    /// Events matching `query`, newest first by insertion order, at most `query.limit`.
    async fn query_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
}

#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Answers when the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a key; `false` (and nothing written) when its `(alg, rotation_slot)` is taken.
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<bool, StoreError>;
    /// Every stored key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    async fn delete_signing_key(&self, kid: &str) -> Result<bool, StoreError>;
}

/// Refresh-token families (one per login or grant) and their tokens, stored by SHA-256 only.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Creates the family and its first token in one transaction.
    async fn create_refresh_family(&self, family: &RefreshFamily, first: &RefreshTokenRow) -> Result<(), StoreError>;
    /// Atomically consumes the presented token and stores `next` in its family. Exactly one
    /// of any number of concurrent calls with the same token gets `Rotated`; a token that was
    /// already consumed revokes its whole family in the same transaction and gets `Reused`.
    /// Unknown tokens, revoked or expired families and idle-expired tokens get `Invalid`.
    /// `next.family_id` is ignored: the presented token's family is used.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next: &RefreshTokenRow,
        now: UnixTime,
    ) -> Result<RotateOutcome, StoreError>;
    /// The family of a token, whether the token is current or already consumed.
    async fn refresh_family_by_token(&self, token_hash: &[u8]) -> Result<Option<RefreshFamily>, StoreError>;
    async fn refresh_family(&self, id: Uuid) -> Result<Option<RefreshFamily>, StoreError>;
    /// The family of a token that is current: never used, not idle-expired, family neither
    /// revoked nor past its absolute expiry.
    async fn current_refresh_family(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<RefreshFamily>, StoreError>;
    /// Marks the family revoked (its tokens stop working); `false` if unknown or already revoked.
    async fn revoke_refresh_family(&self, id: Uuid, now: UnixTime, reason: &str) -> Result<bool, StoreError>;
    /// Binds a family that is not bound yet to a DPoP key (RFC 9449 §5); `false` if unknown or
    /// already bound (never re-bound to another key).
    async fn bind_refresh_family_dpop(&self, id: Uuid, jkt: &str) -> Result<bool, StoreError>;
    async fn revoke_refresh_families_for_user(
        &self,
        user: UserId,
        now: UnixTime,
        reason: &str,
    ) -> Result<u64, StoreError>;
    /// Revokes the live families of one user with one client (a withdrawn consent).
    async fn revoke_refresh_families_for_user_client(
        &self,
        user: UserId,
        client_id: &str,
        now: UnixTime,
        reason: &str,
    ) -> Result<u64, StoreError>;
    /// Deletes families past their absolute expiry (or revoked) before `cutoff`, with their
    /// tokens, and revoked access tokens expired before `cutoff`.
    async fn purge_refresh_families(&self, cutoff: UnixTime) -> Result<u64, StoreError>;
    /// Records where a first-party token login came from (shown in the sign-in lists).
    async fn set_refresh_family_origin(
        &self,
        id: Uuid,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), StoreError>;
    /// The user's live families with `client_id`, newest first, with their origin and last use
    /// (the creation time of their newest token).
    async fn live_refresh_families(
        &self,
        user: UserId,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Vec<FamilyActivity>, StoreError>;
    /// Records a revoked access token that belongs to no family (RFC 7009 §2), kept until it
    /// expires; `false` if it was already recorded.
    async fn revoke_access_token(&self, jti: &str, client_id: &str, expires_at: UnixTime) -> Result<bool, StoreError>;
    async fn access_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;
}

/// OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// `StoreError::Conflict("client id")` when the id exists.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    async fn client_by_id(&self, id: &str) -> Result<Option<Client>, StoreError>;
    /// All clients, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Stores `client`'s settings and lifecycle if its stored revision is still
    /// `client.lifecycle.revision` (and bumps it); `false` when the client is gone or was
    /// changed since it was read.
    async fn update_client(&self, client: &Client) -> Result<bool, StoreError>;
    /// Deletes the client with its codes and consents and revokes its live refresh families
    /// (reason `client_deleted`), in one transaction.
    async fn delete_client(&self, id: &str, now: UnixTime) -> Result<bool, StoreError>;
}

/// The `jti`s of accepted `private_key_jwt` client assertions (RFC 7523 §3 point 7), shared by
/// every node so that an assertion is accepted once across the cluster.
#[async_trait]
pub trait AssertionReplayStore: Send + Sync {
    /// Records `(client_id, jti_hash)` until `expires_at`. Atomic insert-if-absent: `true` for
    /// the first of any number of concurrent calls, `false` (nothing changed) while a record
    /// with `expires_at > now` exists — a replay. A record that has expired is replaced.
    async fn record_assertion_jti(
        &self,
        client_id: &str,
        jti_hash: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Deletes records with `expires_at <= now`; returns how many.
    async fn purge_assertion_jtis(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// The `jti`s of accepted DPoP proofs (RFC 9449 §11.1), per key thumbprint, shared by every
/// node so that a proof is accepted once across the cluster.
#[async_trait]
pub trait DpopReplayStore: Send + Sync {
    /// Records `(jkt, jti_hash)` until `expires_at`; the same contract as
    /// [`AssertionReplayStore::record_assertion_jti`]: `false` means a replay.
    async fn record_dpop_jti(
        &self,
        jkt: &str,
        jti_hash: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Deletes records with `expires_at <= now`; returns how many.
    async fn purge_dpop_jtis(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Authorization codes, stored by SHA-256 only.
#[async_trait]
pub trait AuthorizationCodeStore: Send + Sync {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// Atomically marks the code used, if it was issued to `client_id`. Exactly one of any
    /// number of concurrent calls gets `Redeemed`; later calls get `Replayed` (with the code's
    /// data, so the caller can revoke what was issued from it); unknown or expired
    /// (`expires_at <= now`) codes, and codes of another client (left untouched), get `Invalid`.
    async fn redeem_code(&self, code_hash: &[u8], client_id: &str, now: UnixTime) -> Result<CodeOutcome, StoreError>;
    /// Deletes codes that expired before `cutoff`.
    async fn purge_codes(&self, cutoff: UnixTime) -> Result<u64, StoreError>;
    /// Deletes parked authorization requests that expired before `now`.
    async fn purge_parked_authorizations(&self, now: UnixTime) -> Result<u64, StoreError>;
    /// Parks an authorization request's query string under the SHA-256 of a reference.
    async fn park_authorization(&self, ref_hash: &[u8], query: &str, expires_at: UnixTime) -> Result<(), StoreError>;
    /// The parked query string, unless unknown or expired (`expires_at <= now`).
    async fn parked_authorization(&self, ref_hash: &[u8], now: UnixTime) -> Result<Option<String>, StoreError>;
    /// Stores a pushed authorization request (RFC 9126 §2.2): its query string under the
    /// SHA-256 of its request URI's random part, bound to `client_id`.
    async fn push_authorization(
        &self,
        ref_hash: &[u8],
        client_id: &str,
        query: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Takes a pushed request (RFC 9126 §4): atomically deletes and returns it if it was pushed
    /// by `client_id` and has not expired (`expires_at > now`). Exactly one of any number of
    /// concurrent calls gets it; another client's request is left untouched.
    async fn take_pushed_authorization(
        &self,
        ref_hash: &[u8],
        client_id: &str,
        now: UnixTime,
    ) -> Result<Option<String>, StoreError>;
    /// Deletes pushed requests with `expires_at <= now`; returns how many.
    async fn purge_pushed_authorizations(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Device authorization requests (RFC 8628), by the SHA-256 of their device and user codes.
#[async_trait]
pub trait DeviceCodeStore: Send + Sync {
    /// [`StoreError::Conflict`] when the user code is taken.
    async fn insert_device_authorization(&self, d: &DeviceAuthorization) -> Result<(), StoreError>;
    /// The request of a device code, in whatever state and however old.
    async fn device_authorization(&self, device_code_hash: &[u8]) -> Result<Option<DeviceAuthorization>, StoreError>;
    /// The request of a user code, only while pending and unexpired (`expires_at > now`).
    async fn pending_device_authorization(
        &self,
        user_code_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError>;
    /// Pending → approved (with `approval`) or denied (`None`), only while pending and
    /// unexpired; `false` when nothing changed.
    async fn decide_device_authorization(
        &self,
        user_code_hash: &[u8],
        approval: Option<&DeviceApproval>,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Records a poll at `now` and the interval that holds from now on.
    async fn record_device_poll(&self, device_code_hash: &[u8], now: UnixTime, interval: i64)
    -> Result<(), StoreError>;
    /// Approved → used, unexpired; of concurrent calls exactly one gets `true`.
    async fn consume_device_authorization(&self, device_code_hash: &[u8], now: UnixTime) -> Result<bool, StoreError>;
    /// Deletes requests that expired before `cutoff`.
    async fn purge_device_authorizations(&self, cutoff: UnixTime) -> Result<u64, StoreError>;
}

/// Remembered consents, one row per (user, client).
#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn consent(&self, user: UserId, client_id: &str) -> Result<Option<Consent>, StoreError>;
    /// Stores the union of the existing and the new scopes.
    async fn grant_consent(
        &self,
        user: UserId,
        client_id: &str,
        scopes: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError>;
    async fn revoke_consent(&self, user: UserId, client_id: &str) -> Result<bool, StoreError>;
    async fn consents_for_user(&self, user: UserId) -> Result<Vec<Consent>, StoreError>;
}
