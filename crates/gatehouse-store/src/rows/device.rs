//! Device authorization requests (RFC 8628) as rows.

use gatehouse_core::oauth::{DeviceApproval, DeviceAuthorization, DeviceState};
use gatehouse_core::store::StoreError;
use gatehouse_core::user::UserId;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeviceRow {
    device_code_hash: Vec<u8>,
    user_code_hash: Vec<u8>,
    client_id: String,
    scope: String,
    created_at: i64,
    expires_at: i64,
    poll_interval: i64,
    last_polled_at: Option<i64>,
    status: String,
    user_id: Option<Uuid>,
    auth_time: Option<i64>,
    amr: Option<String>,
    grant_id: Uuid,
}

impl TryFrom<DeviceRow> for DeviceAuthorization {
    type Error = StoreError;

    fn try_from(row: DeviceRow) -> Result<Self, StoreError> {
        let state = match (row.status.as_str(), row.user_id, row.auth_time, row.amr) {
            ("pending", ..) => DeviceState::Pending,
            ("denied", ..) => DeviceState::Denied,
            ("used", ..) => DeviceState::Used,
            ("approved", Some(user), Some(auth_time), Some(amr)) => {
                DeviceState::Approved(DeviceApproval { user_id: UserId(user), auth_time, amr })
            }
            _ => return Err(StoreError::Corrupt(format!("device authorization of client {}", row.client_id))),
        };
        Ok(DeviceAuthorization {
            device_code_hash: row.device_code_hash,
            user_code_hash: row.user_code_hash,
            client_id: row.client_id,
            scope: row.scope,
            created_at: row.created_at,
            expires_at: row.expires_at,
            interval: row.poll_interval,
            last_polled_at: row.last_polled_at,
            state,
            grant_id: row.grant_id,
        })
    }
}
