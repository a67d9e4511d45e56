//! `KeyStore`: signing keys, their private halves sealed by the caller.

use async_trait::async_trait;
use gatehouse_core::keys::StoredKey;
use gatehouse_core::store::{KeyStore, StoreError};
use sqlx::types::Json;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::rows::KeyRow;
use crate::sql;

#[async_trait]
impl<D: Dialect> KeyStore for SqlStore<D> {
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        let done = self
            .query(sql::INSERT_SIGNING_KEY)
            .bind(key.kid.as_str())
            .bind(key.alg.as_str())
            .bind(key.sealed_private_key.as_slice())
            .bind(Json(&key.public_jwk))
            .bind(key.created_at)
            .bind(key.activates_at)
            .bind(key.rotation_slot)
            .execute()
            .await?;
        Ok(done > 0)
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows: Vec<KeyRow> = self.query(sql::SIGNING_KEYS).fetch_all().await?;
        rows.into_iter().map(StoredKey::try_from).collect()
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_SIGNING_KEY).bind(kid).execute().await? > 0)
    }
}
