//! `AssertionReplayStore` and `DpopReplayStore`: one statement each (see
//! `sql::RECORD_ASSERTION_JTI`).

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::{AssertionReplayStore, DpopReplayStore, StoreError};

use super::SqlStore;
use crate::dialect::Dialect;
use crate::sql;

#[async_trait]
impl<D: Dialect> AssertionReplayStore for SqlStore<D> {
    async fn record_assertion_jti(
        &self,
        client_id: &str,
        jti_hash: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = self
            .query(sql::RECORD_ASSERTION_JTI)
            .bind(client_id)
            .bind(jti_hash)
            .bind(expires_at)
            .bind(now)
            .execute()
            .await?;
        Ok(done == 1)
    }

    async fn purge_assertion_jtis(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_ASSERTION_JTIS).bind(now).execute().await
    }
}

#[async_trait]
impl<D: Dialect> DpopReplayStore for SqlStore<D> {
    async fn record_dpop_jti(
        &self,
        jkt: &str,
        jti_hash: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done =
            self.query(sql::RECORD_DPOP_JTI).bind(jkt).bind(jti_hash).bind(expires_at).bind(now).execute().await?;
        Ok(done == 1)
    }

    async fn purge_dpop_jtis(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_DPOP_JTIS).bind(now).execute().await
    }
}
