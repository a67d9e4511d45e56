//! `SessionStore`: browser sessions, stored by token hash only.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::session::Session;
use gatehouse_core::store::{SessionStore, StoreError};
use gatehouse_core::user::{User, UserId};
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rows::{SessionRow, SessionUserRow};
use crate::sql;

#[async_trait]
impl<D: Dialect> SessionStore for SqlStore<D> {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        self.query(sql::INSERT_SESSION)
            .bind(session.id)
            .bind(session.user_id.0)
            .bind(session.token_hash.as_slice())
            .bind(session.created_at)
            .bind(session.last_seen_at)
            .bind(session.expires_at)
            .bind(session.ip.as_deref())
            .bind(session.user_agent.as_deref())
            .bind(session.amr.as_str())
            .bind(session.auth_time)
            .on_unique(OnUnique::Session)
            .execute()
            .await?;
        Ok(())
    }

    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>, StoreError> {
        let row: Option<SessionRow> = self.query(sql::SESSION_BY_TOKEN_HASH).bind(token_hash).fetch_optional().await?;
        Ok(row.map(Session::from))
    }

    async fn session_with_user(&self, token_hash: &[u8]) -> Result<Option<(Session, User)>, StoreError> {
        let row: Option<SessionUserRow> = self.query(sql::SESSION_WITH_USER).bind(token_hash).fetch_optional().await?;
        row.map(TryFrom::try_from).transpose()
    }

    async fn touch_session(&self, id: Uuid, last_seen_at: UnixTime) -> Result<(), StoreError> {
        self.query(sql::TOUCH_SESSION).bind(id).bind(last_seen_at).execute().await?;
        Ok(())
    }

    async fn delete_session(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_SESSION).bind(id).execute().await? > 0)
    }

    async fn delete_user_session(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_USER_SESSION).bind(id).bind(user.0).execute().await? > 0)
    }

    async fn sessions_for_user(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let rows: Vec<SessionRow> = self.query(sql::SESSIONS_FOR_USER).bind(user.0).fetch_all().await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn delete_sessions_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        self.query(sql::DELETE_SESSIONS_FOR_USER).bind(user.0).execute().await
    }

    async fn purge_expired_sessions(&self, now: UnixTime, idle_cutoff: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_EXPIRED_SESSIONS).bind(now).bind(idle_cutoff).execute().await
    }
}
