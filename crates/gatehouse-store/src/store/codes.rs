//! `AuthorizationCodeStore`: single-use authorization codes (RFC 6749 §4.1.2), stored by
//! SHA-256 only.
//!
//! A redemption is one write transaction whose first statement is the conditional `UPDATE` of
//! the code's row. On SQLite, `BEGIN IMMEDIATE` runs such transactions one at a time; on
//! PostgreSQL (READ COMMITTED) concurrent redemptions queue on the row's lock, and each later
//! one re-evaluates its condition against the committed `used_at`, matches nothing, and then
//! reads (in a fresh snapshot) the code the winner marked. Either way, of any number of
//! concurrent redemptions of one code exactly one finds it unused.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::oauth::{AuthorizationCode, CodeOutcome};
use gatehouse_core::store::{AuthorizationCodeStore, StoreError};

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::oauth::unredeemed;
use crate::rows::{CodeRow, CodeStateRow};
use crate::sql;

#[async_trait]
impl<D: Dialect> AuthorizationCodeStore for SqlStore<D> {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.query(sql::INSERT_CODE)
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
            .bind(code.dpop_jkt.as_deref())
            .on_unique(OnUnique::Code)
            .execute()
            .await?;
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &[u8], client_id: &str, now: UnixTime) -> Result<CodeOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        // The mark comes first and is conditional: of concurrent callers the first matches the
        // row and every later one (after the first commits) does not.
        let redeemed: Option<CodeRow> =
            tx.query(sql::REDEEM_CODE).bind(code_hash).bind(now).bind(client_id).fetch_optional().await?;
        if let Some(code) = redeemed {
            tx.commit().await?;
            return Ok(CodeOutcome::Redeemed(code.into()));
        }
        let state: Option<CodeStateRow> = tx.query(sql::CODE_STATE).bind(code_hash).fetch_optional().await?;
        // Nothing was written: end the transaction without a commit.
        tx.rollback().await?;
        Ok(unredeemed(state, client_id))
    }

    async fn purge_codes(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_CODES).bind(cutoff).execute().await
    }

    async fn purge_parked_authorizations(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_PARKED_AUTHORIZATIONS).bind(now).execute().await
    }

    async fn park_authorization(&self, ref_hash: &[u8], query: &str, expires_at: UnixTime) -> Result<(), StoreError> {
        let insert = self.query(sql::PARK_AUTHORIZATION).bind(ref_hash).bind(query).bind(expires_at);
        insert.on_unique(OnUnique::Code).execute().await?;
        Ok(())
    }

    async fn parked_authorization(&self, ref_hash: &[u8], now: UnixTime) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            self.query(sql::PARKED_AUTHORIZATION).bind(ref_hash).bind(now).fetch_optional().await?;
        Ok(row.map(|(query,)| query))
    }

    async fn push_authorization(
        &self,
        ref_hash: &[u8],
        client_id: &str,
        query: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let insert = self.query(sql::PUSH_AUTHORIZATION).bind(ref_hash).bind(client_id).bind(query).bind(expires_at);
        insert.on_unique(OnUnique::Code).execute().await?;
        Ok(())
    }

    async fn take_pushed_authorization(
        &self,
        ref_hash: &[u8],
        client_id: &str,
        now: UnixTime,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = self
            .query(sql::TAKE_PUSHED_AUTHORIZATION)
            .bind(ref_hash)
            .bind(client_id)
            .bind(now)
            .fetch_optional()
            .await?;
        Ok(row.map(|(query,)| query))
    }

    async fn purge_pushed_authorizations(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_PUSHED_AUTHORIZATIONS).bind(now).execute().await
    }
}
