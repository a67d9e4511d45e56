//! `PasskeyStore`: registered WebAuthn credentials (public material: the credential id, the
//! public key and counter as `webauthn-rs` serialises them) and ceremonies in progress by the
//! SHA-256 of their handle. Taking a ceremony is one `DELETE … RETURNING`, so of two finishes
//! one gets it; removing a passkey is one guarded delete under the user row's lock, so the
//! account's last way to sign in cannot be removed by two concurrent requests.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::mfa::passkey::{Ceremony, CeremonyPurpose, PasskeyRecord, PasskeyRemoval, PasskeyStore};
use gatehouse_core::store::StoreError;
use gatehouse_core::user::UserId;
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rows::{CeremonyRow, PasskeyRow};
use crate::sql;

#[async_trait]
impl<D: Dialect> PasskeyStore for SqlStore<D> {
    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let rows: Vec<PasskeyRow> = self.query(sql::PASSKEYS).bind(user.0).fetch_all().await?;
        Ok(rows.into_iter().map(PasskeyRecord::from).collect())
    }

    async fn passkey_by_credential_id(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>, StoreError> {
        let row: Option<PasskeyRow> =
            self.query(sql::PASSKEY_BY_CREDENTIAL_ID).bind(credential_id).fetch_optional().await?;
        Ok(row.map(PasskeyRecord::from))
    }

    async fn insert_passkey(&self, p: &PasskeyRecord) -> Result<(), StoreError> {
        self.query(sql::INSERT_PASSKEY)
            .bind(p.id)
            .bind(p.user_id.0)
            .bind(p.credential_id.as_slice())
            .bind(p.name.as_str())
            .bind(p.credential.as_str())
            .bind(p.discoverable)
            .bind(p.created_at)
            .bind(p.last_used_at)
            .on_unique(OnUnique::Passkey)
            .execute()
            .await?;
        Ok(())
    }

    async fn record_passkey_use(&self, id: Uuid, credential: &str, now: UnixTime) -> Result<(), StoreError> {
        self.query(sql::RECORD_PASSKEY_USE).bind(id).bind(credential).bind(now).execute().await?;
        Ok(())
    }

    async fn delete_passkey(&self, user: UserId, id: Uuid) -> Result<PasskeyRemoval, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.lock(D::LOCK_USER, user.0).await?;
        let removed: Option<(String,)> =
            tx.query(sql::DELETE_PASSKEY_GUARDED).bind(user.0).bind(id).fetch_optional().await?;
        let outcome = match removed {
            Some((name,)) => PasskeyRemoval::Removed(name),
            None => {
                let (left,): (i64,) = tx.query(sql::HAS_PASSKEY).bind(user.0).bind(id).fetch_one().await?;
                if left > 0 { PasskeyRemoval::LastMethod } else { PasskeyRemoval::NotFound }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_passkeys(&self, user: UserId) -> Result<u64, StoreError> {
        self.query(sql::DELETE_PASSKEYS).bind(user.0).execute().await
    }

    async fn insert_ceremony(&self, c: &Ceremony) -> Result<(), StoreError> {
        self.query(sql::INSERT_CEREMONY)
            .bind(c.handle_hash.as_slice())
            .bind(c.purpose.as_str())
            .bind(c.user_id.map(|u| u.0))
            .bind(c.binding.as_deref())
            .bind(c.state.as_str())
            .bind(c.created_at)
            .bind(c.expires_at)
            .on_unique(OnUnique::Code)
            .execute()
            .await?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        handle_hash: &[u8],
        purpose: CeremonyPurpose,
        now: UnixTime,
    ) -> Result<Option<Ceremony>, StoreError> {
        let row: Option<CeremonyRow> =
            self.query(sql::TAKE_CEREMONY).bind(handle_hash).bind(purpose.as_str()).bind(now).fetch_optional().await?;
        row.map(Ceremony::try_from).transpose()
    }

    async fn purge_ceremonies(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_CEREMONIES).bind(now).execute().await
    }
}
