//! `ConsentStore` on PostgreSQL: the scopes each user allowed each client, remembered so the
//! consent page is shown again only for scopes not yet granted (OpenID Connect Core §3.1.2.4).
//!
//! A grant is one READ COMMITTED transaction whose first statement is an upsert of the
//! consent's row: it takes the row's lock (waiting for a concurrent insert of the same row to
//! commit, then updating it) and returns the latest committed scopes, so concurrent grants
//! merge one after the other and none is lost.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::oauth::Consent;
use gatehouse_core::store::{ConsentStore, StoreError};
use gatehouse_core::user::UserId;
use sqlx::types::Json;

use super::PgStore;
use crate::error::unavailable;
use crate::oauth::merge_scopes;
use crate::rows::ConsentRow;
use crate::sql;

#[async_trait]
impl ConsentStore for PgStore {
    async fn consent(&self, user: UserId, client_id: &str) -> Result<Option<Consent>, StoreError> {
        let row: Option<ConsentRow> = sqlx::query_as(sql::CONSENT)
            .bind(user.0)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(Consent::from))
    }

    async fn grant_consent(
        &self,
        user: UserId,
        client_id: &str,
        scopes: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(unavailable)?;
        let Json(existing): Json<Vec<String>> = sqlx::query_scalar(sql::LOCK_CONSENT)
            .bind(user.0)
            .bind(client_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        let before = existing.len();
        // The merge only ever appends: an unchanged length means nothing new to store.
        let merged = merge_scopes(existing, scopes);
        if merged.len() != before {
            sqlx::query(sql::SET_CONSENT_SCOPES)
                .bind(user.0)
                .bind(client_id)
                .bind(Json(&merged))
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn revoke_consent(&self, user: UserId, client_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::REVOKE_CONSENT)
            .bind(user.0)
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn consents_for_user(&self, user: UserId) -> Result<Vec<Consent>, StoreError> {
        let rows: Vec<ConsentRow> =
            sqlx::query_as(sql::CONSENTS_FOR_USER).bind(user.0).fetch_all(&self.pool).await.map_err(unavailable)?;
        Ok(rows.into_iter().map(Consent::from).collect())
    }
}
