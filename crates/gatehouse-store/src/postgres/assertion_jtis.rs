//! `AssertionReplayStore` on PostgreSQL: one statement each (see `sql::RECORD_ASSERTION_JTI`).

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::{AssertionReplayStore, StoreError};

use super::PgStore;
use crate::error::unavailable;
use crate::sql;

#[async_trait]
impl AssertionReplayStore for PgStore {
    async fn record_assertion_jti(
        &self,
        client_id: &str,
        jti_hash: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::RECORD_ASSERTION_JTI)
            .bind(client_id)
            .bind(jti_hash)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_assertion_jtis(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::PURGE_ASSERTION_JTIS).bind(now).execute(&self.pool).await.map_err(unavailable)?;
        Ok(done.rows_affected())
    }
}
