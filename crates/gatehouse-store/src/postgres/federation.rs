//! `FederationStore` on PostgreSQL: links to upstream identities and logins in progress.
//!
//! Creating an account with its first link is one transaction: both rows or
//! neither. A login state is taken with `DELETE … RETURNING`, so it is used at most once.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::federation::{FederatedIdentity, FederationStore, LoginState, UnlinkOutcome};
use gatehouse_core::store::StoreError;
use gatehouse_core::user::{User, UserId};

use super::PgStore;
use crate::error::{OnUnique, store_error, unavailable};
use crate::rows::{IdentityRow, LoginStateRow};
use crate::sql;

/// PostgreSQL only (SQLite's single writer already serialises unlinks).
const LOCK_USER: &str = "SELECT id FROM users WHERE id = $1 FOR UPDATE";

#[async_trait]
impl FederationStore for PgStore {
    async fn insert_login_state(&self, state: &LoginState) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_LOGIN_STATE)
            .bind(state.state_hash.as_slice())
            .bind(state.binding_hash.as_slice())
            .bind(state.provider.as_str())
            .bind(state.return_to.as_deref())
            .bind(state.link_user.map(|u| u.0))
            .bind(state.force_login)
            .bind(state.pending.as_ref().map(|p| p.subject.as_str()))
            .bind(state.pending.as_ref().map(|p| p.user_id.0))
            .bind(state.pending.as_ref().and_then(|p| p.email.as_deref()))
            .bind(state.created_at)
            .bind(state.expires_at)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_login_state(&self, state_hash: &[u8]) -> Result<Option<LoginState>, StoreError> {
        let row: Option<LoginStateRow> = sqlx::query_as(sql::TAKE_LOGIN_STATE)
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(LoginState::from))
    }

    async fn purge_login_states(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::PURGE_LOGIN_STATES).bind(now).execute(&self.pool).await.map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn identity(&self, provider: &str, subject: &str) -> Result<Option<FederatedIdentity>, StoreError> {
        let row: Option<IdentityRow> = sqlx::query_as(sql::IDENTITY)
            .bind(provider)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(FederatedIdentity::from))
    }

    async fn identities_for_user(&self, user: UserId) -> Result<Vec<FederatedIdentity>, StoreError> {
        let rows: Vec<IdentityRow> =
            sqlx::query_as(sql::IDENTITIES_FOR_USER).bind(user.0).fetch_all(&self.pool).await.map_err(unavailable)?;
        Ok(rows.into_iter().map(FederatedIdentity::from).collect())
    }

    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<(), StoreError> {
        bind_identity(sqlx::query(sql::INSERT_IDENTITY), identity)
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(e, OnUnique::Federation))?;
        Ok(())
    }

    async fn create_user_with_identity(&self, user: &User, identity: &FederatedIdentity) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(unavailable)?;
        sqlx::query(sql::INSERT_USER)
            .bind(user.id.0)
            .bind(user.email.as_str())
            .bind(user.email.key())
            .bind(user.display_name.as_deref())
            .bind(user.password_hash.as_deref())
            .bind(user.status.as_str())
            .bind(user.email_verified)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| store_error(e, OnUnique::User))?;
        bind_identity(sqlx::query(sql::INSERT_IDENTITY), identity)
            .execute(&mut *tx)
            .await
            .map_err(|e| store_error(e, OnUnique::Federation))?;
        tx.commit().await.map_err(unavailable)
    }

    async fn touch_identity(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::TOUCH_IDENTITY)
            .bind(provider)
            .bind(subject)
            .bind(email)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn unlink_identity(&self, user: UserId, provider: &str) -> Result<UnlinkOutcome, StoreError> {
        let mut tx = self.begin_write().await.map_err(unavailable)?;
        // Under READ COMMITTED two unlinks of different providers would each still see the
        // other link and both delete, leaving no way to sign in: the user row serialises them
        // (the second statement runs after the first commits, with a fresh snapshot).
        sqlx::query(LOCK_USER).bind(user.0).fetch_optional(&mut *tx).await.map_err(unavailable)?;
        let done = sqlx::query(sql::UNLINK_IDENTITY)
            .bind(user.0)
            .bind(provider)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let outcome = if done.rows_affected() > 0 {
            UnlinkOutcome::Unlinked
        } else {
            let left: i64 = sqlx::query_scalar(sql::HAS_IDENTITY)
                .bind(user.0)
                .bind(provider)
                .fetch_one(&mut *tx)
                .await
                .map_err(unavailable)?;
            if left > 0 { UnlinkOutcome::LastMethod } else { UnlinkOutcome::NotFound }
        };
        tx.commit().await.map_err(unavailable)?;
        Ok(outcome)
    }
}

fn bind_identity<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    identity: &'q FederatedIdentity,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(identity.provider.as_str())
        .bind(identity.subject.as_str())
        .bind(identity.user_id.0)
        .bind(identity.email.as_deref())
        .bind(identity.created_at)
        .bind(identity.last_login_at)
}
