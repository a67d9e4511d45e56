//! `AuthorizationCodeStore` on SQLite: single-use authorization codes (RFC 6749 §4.1.2),
//! stored by SHA-256 only.
//!
//! A redemption is one `BEGIN IMMEDIATE` transaction: SQLite runs them one at a time, so of
//! any number of concurrent redemptions of one code exactly one finds it unused.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::oauth::{AuthorizationCode, CodeOutcome};
use gatehouse_core::store::{AuthorizationCodeStore, StoreError};

use super::SqliteStore;
use crate::error::{OnUnique, store_error, unavailable};
use crate::oauth::unredeemed;
use crate::rows::{CodeRow, CodeStateRow};
use crate::sql;

#[async_trait]
impl AuthorizationCodeStore for SqliteStore {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_CODE)
            .bind(code.code_hash.as_slice())
            .bind(code.client_id.as_str())
            .bind(code.user_id.0)
            .bind(code.redirect_uri.as_str())
            .bind(code.scope.as_str())
            .bind(code.nonce.as_deref())
            .bind(code.code_challenge.as_deref())
            .bind(code.auth_time)
            .bind(code.created_at)
            .bind(code.expires_at)
            .bind(code.grant_id)
            .bind(code.amr.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(e, OnUnique::Code))?;
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &[u8], client_id: &str, now: UnixTime) -> Result<CodeOutcome, StoreError> {
        let mut tx = self.begin_write().await.map_err(unavailable)?;
        // The mark comes first and is conditional: under the write lock taken by
        // `BEGIN IMMEDIATE`, the first caller matches the row and every later one does not.
        let redeemed: Option<CodeRow> = sqlx::query_as(sql::REDEEM_CODE)
            .bind(code_hash)
            .bind(now)
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        if let Some(code) = redeemed {
            tx.commit().await.map_err(unavailable)?;
            return Ok(CodeOutcome::Redeemed(code.into()));
        }
        let state: Option<CodeStateRow> =
            sqlx::query_as(sql::CODE_STATE).bind(code_hash).fetch_optional(&mut *tx).await.map_err(unavailable)?;
        // Nothing was written: end the transaction without a commit.
        tx.rollback().await.map_err(unavailable)?;
        Ok(unredeemed(state, client_id))
    }

    async fn purge_codes(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::PURGE_CODES).bind(cutoff).execute(&self.pool).await.map_err(unavailable)?;
        Ok(done.rows_affected())
    }
}
