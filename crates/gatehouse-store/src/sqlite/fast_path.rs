//! [`FastPath`]: the SQLite stores whose hot single-row reads go through the [`Reader`] and
//! whose hot writes go through the [`Writer`] first, the way `gatehouse-core`'s client cache
//! sits in front of a client store.
//!
//! Only the reads on every authenticated request's path are served here (user by id, session
//! with its user, refresh family by id or by token, the resources of a grant), and the writes of
//! sign-ins, code redemptions and token refreshes (a code's redemption, a new refresh family,
//! refresh-token rotation, a new session, an audit event); every other method, and
//! anything the reader or writer cannot do (see their module docs: any error falls back),
//! goes to the inner store unchanged. [`crate::connect`] puts it in front of the users,
//! sessions, codes, refresh, resources and audit stores of a file database; an in-memory one has
//! no decorator.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::audit::{AuditEvent, AuditQuery, AuditRecord};
use gatehouse_core::clock::UnixTime;
use gatehouse_core::oauth::{AuthorizationCode, CodeOutcome, ResourceServer, ResourceServerStore};
use gatehouse_core::session::Session;
use gatehouse_core::store::{
    AuditStore, AuthorizationCodeStore, RefreshTokenStore, SessionStore, StoreError, UserStore,
};
use gatehouse_core::token::{FamilyActivity, RefreshFamily, RefreshTokenRow, RotateOutcome};
use gatehouse_core::user::{User, UserId, UserStatus};
use uuid::Uuid;

use super::{Reader, Writer};

pub(crate) struct FastPath<S> {
    inner: Arc<S>,
    reader: Reader,
    writer: Writer,
}

impl<S> FastPath<S> {
    pub(crate) fn new(inner: Arc<S>, reader: Reader, writer: Writer) -> Self {
        Self { inner, reader, writer }
    }
}

#[async_trait]
impl<S: AuditStore> AuditStore for FastPath<S> {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        match self.writer.append_audit_event(event) {
            Some(()) => Ok(()),
            None => self.inner.append_audit_event(event).await,
        }
    }

    async fn recent_audit_events(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.recent_audit_events(limit).await
    }

    async fn query_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.query_audit_events(query).await
    }
}

#[async_trait]
impl<S: UserStore> UserStore for FastPath<S> {
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        match self.reader.user_by_id(id.0) {
            Some(row) => row.map(User::try_from).transpose(),
            None => self.inner.user_by_id(id).await,
        }
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        self.inner.insert_user(user).await
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_email(email_key).await
    }

    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, StoreError> {
        self.inner.list_users(after, limit).await
    }

    async fn set_password_hash(&self, id: UserId, hash: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.inner.set_password_hash(id, hash, now).await
    }

    async fn set_password_ending_sign_ins(
        &self,
        id: UserId,
        hash: &str,
        keep_session: Option<Uuid>,
        reason: &str,
        now: UnixTime,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        self.inner.set_password_ending_sign_ins(id, hash, keep_session, reason, now).await
    }

    async fn set_user_status(&self, id: UserId, status: UserStatus, now: UnixTime) -> Result<bool, StoreError> {
        self.inner.set_user_status(id, status, now).await
    }

    async fn search_users(
        &self,
        after: Option<UserId>,
        limit: u32,
        email_contains: Option<&str>,
    ) -> Result<Vec<User>, StoreError> {
        self.inner.search_users(after, limit, email_contains).await
    }

    async fn set_display_name(&self, id: UserId, name: Option<&str>, now: UnixTime) -> Result<bool, StoreError> {
        self.inner.set_display_name(id, name, now).await
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for FastPath<S> {
    async fn session_with_user(&self, token_hash: &[u8]) -> Result<Option<(Session, User)>, StoreError> {
        match self.reader.session_with_user(token_hash) {
            Some(row) => row.map(TryFrom::try_from).transpose(),
            None => self.inner.session_with_user(token_hash).await,
        }
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        match self.writer.insert_session(session) {
            Some(()) => Ok(()),
            None => self.inner.insert_session(session).await,
        }
    }

    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>, StoreError> {
        self.inner.session_by_token_hash(token_hash).await
    }

    async fn touch_session(&self, id: Uuid, last_seen_at: UnixTime) -> Result<(), StoreError> {
        self.inner.touch_session(id, last_seen_at).await
    }

    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError> {
        self.inner.delete_session(id).await
    }

    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        self.inner.delete_user_session(user, id).await
    }

    async fn sessions_for_user(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_for_user(user).await
    }

    async fn delete_sessions_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        self.inner.delete_sessions_for_user(user).await
    }

    async fn purge_expired_sessions(&self, now: UnixTime, idle_cutoff: UnixTime) -> Result<u64, StoreError> {
        self.inner.purge_expired_sessions(now, idle_cutoff).await
    }
}

#[async_trait]
impl<S: RefreshTokenStore> RefreshTokenStore for FastPath<S> {
    async fn refresh_family(&self, id: Uuid) -> Result<Option<RefreshFamily>, StoreError> {
        match self.reader.refresh_family(id) {
            Some(row) => Ok(row.map(RefreshFamily::from)),
            None => self.inner.refresh_family(id).await,
        }
    }

    async fn current_refresh_family(&self, hash: &[u8], now: UnixTime) -> Result<Option<RefreshFamily>, StoreError> {
        match self.reader.current_refresh_family(hash, now) {
            Some(row) => Ok(row.map(RefreshFamily::from)),
            None => self.inner.current_refresh_family(hash, now).await,
        }
    }

    async fn create_refresh_family(&self, family: &RefreshFamily, first: &RefreshTokenRow) -> Result<(), StoreError> {
        match self.writer.create_refresh_family(family, first) {
            Some(()) => Ok(()),
            None => self.inner.create_refresh_family(family, first).await,
        }
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next: &RefreshTokenRow,
        now: UnixTime,
    ) -> Result<RotateOutcome, StoreError> {
        match self.writer.rotate_refresh_token(presented_hash, next, now) {
            Some(outcome) => Ok(outcome),
            None => self.inner.rotate_refresh_token(presented_hash, next, now).await,
        }
    }

    async fn refresh_family_by_token(&self, token_hash: &[u8]) -> Result<Option<RefreshFamily>, StoreError> {
        match self.reader.refresh_family_by_token(token_hash) {
            Some(row) => Ok(row.map(RefreshFamily::from)),
            None => self.inner.refresh_family_by_token(token_hash).await,
        }
    }

    async fn revoke_refresh_family(&self, id: Uuid, now: UnixTime, reason: &str) -> Result<bool, StoreError> {
        self.inner.revoke_refresh_family(id, now, reason).await
    }

    async fn bind_refresh_family_dpop(&self, id: Uuid, jkt: &str) -> Result<bool, StoreError> {
        self.inner.bind_refresh_family_dpop(id, jkt).await
    }

    async fn revoke_refresh_families_for_user(
        &self,
        user: UserId,
        now: UnixTime,
        why: &str,
    ) -> Result<u64, StoreError> {
        self.inner.revoke_refresh_families_for_user(user, now, why).await
    }

    async fn revoke_refresh_families_for_user_client(
        &self,
        user: UserId,
        client_id: &str,
        now: UnixTime,
        reason: &str,
    ) -> Result<u64, StoreError> {
        self.inner.revoke_refresh_families_for_user_client(user, client_id, now, reason).await
    }

    async fn purge_refresh_families(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        self.inner.purge_refresh_families(cutoff).await
    }

    async fn set_refresh_family_origin(
        &self,
        id: Uuid,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.set_refresh_family_origin(id, ip, user_agent).await
    }

    async fn live_refresh_families(
        &self,
        user: UserId,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Vec<FamilyActivity>, StoreError> {
        self.inner.live_refresh_families(user, client_id, now).await
    }

    async fn revoke_access_token(&self, jti: &str, client_id: &str, expires_at: UnixTime) -> Result<bool, StoreError> {
        self.inner.revoke_access_token(jti, client_id, expires_at).await
    }

    async fn access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        match self.reader.access_token_revoked(jti) {
            Some(revoked) => Ok(revoked),
            None => self.inner.access_token_revoked(jti).await,
        }
    }
}

#[async_trait]
impl<S: AuthorizationCodeStore> AuthorizationCodeStore for FastPath<S> {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.inner.insert_code(code).await
    }

    async fn redeem_code(&self, code_hash: &[u8], client_id: &str, now: UnixTime) -> Result<CodeOutcome, StoreError> {
        match self.writer.redeem_code(code_hash, client_id, now) {
            Some(outcome) => Ok(outcome),
            None => self.inner.redeem_code(code_hash, client_id, now).await,
        }
    }

    async fn purge_codes(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        self.inner.purge_codes(cutoff).await
    }

    async fn purge_parked_authorizations(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.inner.purge_parked_authorizations(now).await
    }

    async fn park_authorization(&self, ref_hash: &[u8], query: &str, expires_at: UnixTime) -> Result<(), StoreError> {
        self.inner.park_authorization(ref_hash, query, expires_at).await
    }

    async fn parked_authorization(&self, ref_hash: &[u8], now: UnixTime) -> Result<Option<String>, StoreError> {
        self.inner.parked_authorization(ref_hash, now).await
    }

    async fn push_authorization(
        &self,
        ref_hash: &[u8],
        client_id: &str,
        query: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.inner.push_authorization(ref_hash, client_id, query, expires_at).await
    }

    async fn take_pushed_authorization(
        &self,
        ref_hash: &[u8],
        client_id: &str,
        now: UnixTime,
    ) -> Result<Option<String>, StoreError> {
        self.inner.take_pushed_authorization(ref_hash, client_id, now).await
    }

    async fn purge_pushed_authorizations(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.inner.purge_pushed_authorizations(now).await
    }
}

#[async_trait]
impl<S: ResourceServerStore> ResourceServerStore for FastPath<S> {
    async fn insert_resource_server(&self, rs: &ResourceServer) -> Result<(), StoreError> {
        self.inner.insert_resource_server(rs).await
    }

    async fn resource_server(&self, id: Uuid) -> Result<Option<ResourceServer>, StoreError> {
        self.inner.resource_server(id).await
    }

    async fn resource_server_by_identifier(&self, identifier: &str) -> Result<Option<ResourceServer>, StoreError> {
        self.inner.resource_server_by_identifier(identifier).await
    }

    async fn list_resource_servers(&self) -> Result<Vec<ResourceServer>, StoreError> {
        self.inner.list_resource_servers().await
    }

    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<bool, StoreError> {
        self.inner.update_resource_server(rs).await
    }

    async fn delete_resource_server(&self, id: Uuid) -> Result<bool, StoreError> {
        self.inner.delete_resource_server(id).await
    }

    async fn set_grant_resources(&self, grant_id: Uuid, resources: &[String], now: UnixTime) -> Result<(), StoreError> {
        self.inner.set_grant_resources(grant_id, resources, now).await
    }

    async fn grant_resources(&self, grant_id: Uuid) -> Result<Vec<String>, StoreError> {
        match self.reader.grant_resources(grant_id) {
            Some(resources) => Ok(resources),
            None => self.inner.grant_resources(grant_id).await,
        }
    }

    async fn purge_grant_resources(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        self.inner.purge_grant_resources(cutoff).await
    }
}
