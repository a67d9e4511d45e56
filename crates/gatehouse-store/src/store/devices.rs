//! `DeviceCodeStore`: device authorization requests (RFC 8628), stored by the SHA-256 of their
//! device and user codes. Deciding and spending are conditional updates: of concurrent calls
//! exactly one changes the row.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::oauth::{DeviceApproval, DeviceAuthorization};
use gatehouse_core::store::{DeviceCodeStore, StoreError};

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rows::DeviceRow;
use crate::sql;

#[async_trait]
impl<D: Dialect> DeviceCodeStore for SqlStore<D> {
    async fn insert_device_authorization(&self, d: &DeviceAuthorization) -> Result<(), StoreError> {
        self.query(sql::INSERT_DEVICE_AUTHORIZATION)
            .bind(d.device_code_hash.as_slice())
            .bind(d.user_code_hash.as_slice())
            .bind(d.client_id.as_str())
            .bind(d.scope.as_str())
            .bind(d.created_at)
            .bind(d.expires_at)
            .bind(d.interval)
            .bind(d.grant_id)
            .on_unique(OnUnique::Code)
            .execute()
            .await?;
        Ok(())
    }

    async fn device_authorization(&self, device_code_hash: &[u8]) -> Result<Option<DeviceAuthorization>, StoreError> {
        let row: Option<DeviceRow> =
            self.query(sql::DEVICE_AUTHORIZATION).bind(device_code_hash).fetch_optional().await?;
        row.map(DeviceAuthorization::try_from).transpose()
    }

    async fn pending_device_authorization(
        &self,
        user_code_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let row: Option<DeviceRow> =
            self.query(sql::PENDING_DEVICE_AUTHORIZATION).bind(user_code_hash).bind(now).fetch_optional().await?;
        row.map(DeviceAuthorization::try_from).transpose()
    }

    async fn decide_device_authorization(
        &self,
        user_code_hash: &[u8],
        approval: Option<&DeviceApproval>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let status = if approval.is_some() { "approved" } else { "denied" };
        let changed = self
            .query(sql::DECIDE_DEVICE_AUTHORIZATION)
            .bind(user_code_hash)
            .bind(status)
            .bind(approval.map(|a| a.user_id.0))
            .bind(approval.map(|a| a.auth_time))
            .bind(approval.map(|a| a.amr.as_str()))
            .bind(now)
            .execute()
            .await?;
        Ok(changed == 1)
    }

    async fn record_device_poll(
        &self,
        device_code_hash: &[u8],
        now: UnixTime,
        interval: i64,
    ) -> Result<(), StoreError> {
        self.query(sql::RECORD_DEVICE_POLL).bind(device_code_hash).bind(now).bind(interval).execute().await?;
        Ok(())
    }

    async fn consume_device_authorization(&self, device_code_hash: &[u8], now: UnixTime) -> Result<bool, StoreError> {
        let changed = self.query(sql::CONSUME_DEVICE_AUTHORIZATION).bind(device_code_hash).bind(now).execute().await?;
        Ok(changed == 1)
    }

    async fn purge_device_authorizations(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_DEVICE_AUTHORIZATIONS).bind(cutoff).execute().await
    }
}
