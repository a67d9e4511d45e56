//! `SelfRegistrationStore`: initial access tokens (RFC 7591 §3, stored as SHA-256) and the
//! first use of self-registered clients (migration 0025).

use async_trait::async_trait;
use gatehouse_core::UnixTime;
use gatehouse_core::oauth::SelfRegistrationStore;
use gatehouse_core::store::StoreError;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::sql;

#[async_trait]
impl<D: Dialect> SelfRegistrationStore for SqlStore<D> {
    async fn insert_initial_access_token(
        &self,
        token_hash: &[u8],
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.query(sql::INSERT_INITIAL_ACCESS_TOKEN)
            .bind(token_hash)
            .bind(created_at)
            .bind(expires_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn initial_access_token_valid(&self, token_hash: &[u8], now: UnixTime) -> Result<bool, StoreError> {
        let (n,): (i64,) = self.query(sql::INITIAL_ACCESS_TOKEN_VALID).bind(token_hash).bind(now).fetch_one().await?;
        Ok(n > 0)
    }

    async fn mark_client_used(&self, client_id: &str, now: UnixTime) -> Result<(), StoreError> {
        self.query(sql::MARK_CLIENT_USED).bind(client_id).bind(now).execute().await?;
        Ok(())
    }

    async fn unused_registrations(&self, created_before: UnixTime) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = self.query(sql::UNUSED_REGISTRATIONS).bind(created_before).fetch_all().await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}
