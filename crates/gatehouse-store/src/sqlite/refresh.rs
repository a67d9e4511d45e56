//! `RefreshTokenStore` on SQLite: families and their rotating tokens (RFC 9700 §4.14.2).
//!
//! Every transaction here writes, so each starts with `BEGIN IMMEDIATE`: SQLite then runs them
//! one at a time, and a rotation sees the effects of every rotation before it. That is what
//! lets exactly one of any number of concurrent callers consume a token.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::{RefreshTokenStore, StoreError};
use gatehouse_core::token::{RefreshFamily, RefreshTokenRow, RotateOutcome};
use gatehouse_core::user::UserId;
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::SqliteStore;
use crate::error::{OnUnique, store_error, unavailable};
use crate::rotation::{REUSE_REASON, Unconsumed, revoked_for_reuse, unconsumed};
use crate::rows::{FamilyRow, TokenStateRow};
use crate::sql;

#[async_trait]
impl RefreshTokenStore for SqliteStore {
    async fn create_refresh_family(&self, family: &RefreshFamily, first: &RefreshTokenRow) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(unavailable)?;
        sqlx::query(sql::INSERT_REFRESH_FAMILY)
            .bind(family.id)
            .bind(family.user_id.0)
            .bind(family.client_id.as_str())
            .bind(family.scope.as_deref())
            .bind(family.created_at)
            .bind(family.expires_at)
            .bind(family.revoked_at)
            .bind(family.revoked_reason.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(|e| store_error(e, OnUnique::RefreshToken))?;
        insert_token(&mut tx, first, family.id).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next: &RefreshTokenRow,
        now: UnixTime,
    ) -> Result<RotateOutcome, StoreError> {
        let mut tx = self.begin_write().await.map_err(unavailable)?;
        // The consume comes first and is conditional: under the write lock taken by
        // `BEGIN IMMEDIATE`, the first caller matches the row and every later one does not.
        let consumed: Option<Uuid> = sqlx::query_scalar(sql::CONSUME_REFRESH_TOKEN)
            .bind(presented_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        if let Some(family_id) = consumed {
            insert_token(&mut tx, next, family_id).await?;
            let family: FamilyRow =
                sqlx::query_as(sql::REFRESH_FAMILY).bind(family_id).fetch_one(&mut *tx).await.map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            return Ok(RotateOutcome::Rotated(family.into()));
        }
        let state: Option<TokenStateRow> = sqlx::query_as(sql::REFRESH_TOKEN_STATE)
            .bind(presented_hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let Unconsumed::Reuse(family) = unconsumed(state, now) else {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(RotateOutcome::Invalid);
        };
        let revoked = sqlx::query(sql::REVOKE_REFRESH_FAMILY)
            .bind(family.id)
            .bind(now)
            .bind(REUSE_REASON)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if revoked.rows_affected() == 0 {
            // Cannot happen while transactions run one at a time; refuse rather than report
            // a revocation this call did not make.
            tx.rollback().await.map_err(unavailable)?;
            return Ok(RotateOutcome::Invalid);
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(RotateOutcome::Reused(revoked_for_reuse(family, now)))
    }

    async fn refresh_family_by_token(&self, token_hash: &[u8]) -> Result<Option<RefreshFamily>, StoreError> {
        let row: Option<FamilyRow> = sqlx::query_as(sql::REFRESH_FAMILY_BY_TOKEN)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(RefreshFamily::from))
    }

    async fn refresh_family(&self, id: Uuid) -> Result<Option<RefreshFamily>, StoreError> {
        if let Some(row) = self.reader.as_ref().and_then(|r| r.refresh_family(id)) {
            return Ok(row.map(RefreshFamily::from));
        }
        let row: Option<FamilyRow> =
            sqlx::query_as(sql::REFRESH_FAMILY).bind(id).fetch_optional(&self.pool).await.map_err(unavailable)?;
        Ok(row.map(RefreshFamily::from))
    }

    async fn current_refresh_family(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        if let Some(row) = self.reader.as_ref().and_then(|r| r.current_refresh_family(token_hash, now)) {
            return Ok(row.map(RefreshFamily::from));
        }
        let row: Option<FamilyRow> = sqlx::query_as(sql::CURRENT_REFRESH_FAMILY)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(RefreshFamily::from))
    }

    async fn revoke_or_preempt_refresh_family(
        &self,
        family: &RefreshFamily,
        now: UnixTime,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::REVOKE_OR_PREEMPT_REFRESH_FAMILY)
            .bind(family.id)
            .bind(family.user_id.0)
            .bind(family.client_id.as_str())
            .bind(family.scope.as_deref())
            .bind(family.created_at)
            .bind(family.expires_at)
            .bind(now)
            .bind(reason)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_refresh_family(&self, id: Uuid, now: UnixTime, reason: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::REVOKE_REFRESH_FAMILY)
            .bind(id)
            .bind(now)
            .bind(reason)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_refresh_families_for_user_client(
        &self,
        user: UserId,
        client_id: &str,
        now: UnixTime,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::REVOKE_REFRESH_FAMILIES_FOR_USER_CLIENT)
            .bind(user.0)
            .bind(now)
            .bind(reason)
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn revoke_refresh_families_for_user(
        &self,
        user: UserId,
        now: UnixTime,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::REVOKE_REFRESH_FAMILIES_FOR_USER)
            .bind(user.0)
            .bind(now)
            .bind(reason)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn purge_refresh_families(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        let done =
            sqlx::query(sql::PURGE_REFRESH_FAMILIES).bind(cutoff).execute(&self.pool).await.map_err(unavailable)?;
        Ok(done.rows_affected())
    }
}

/// Inserts `token` into `family_id`. The row's own `family_id` is not used: a successor joins
/// the presented token's family (as the trait says), a first token the family created with it.
async fn insert_token(
    tx: &mut Transaction<'static, Sqlite>,
    token: &RefreshTokenRow,
    family_id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query(sql::INSERT_REFRESH_TOKEN)
        .bind(token.token_hash.as_slice())
        .bind(family_id)
        .bind(token.created_at)
        .bind(token.idle_expires_at)
        .execute(&mut **tx)
        .await
        .map_err(|e| store_error(e, OnUnique::RefreshToken))?;
    Ok(())
}
