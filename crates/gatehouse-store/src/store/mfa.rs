//! `MfaStore`: TOTP factors (secrets sealed by core, never seen here in clear), recovery codes
//! by SHA-256, and pending second-factor steps by the SHA-256 of their handle. The replay
//! refusal of a TOTP step, the use of a recovery code and of a pending step are each one
//! conditional write, so of concurrent uses exactly one succeeds; enrolment confirmation,
//! regeneration and removal are one transaction each.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::mfa::{MfaChallenge, MfaStore, TotpFactor};
use gatehouse_core::store::StoreError;
use gatehouse_core::user::UserId;

use super::{SqlStore, Tx};
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rows::{MfaChallengeRow, TotpFactorRow};
use crate::sql;

async fn insert_codes<D: Dialect>(
    tx: &mut Tx<D>,
    user: UserId,
    codes: &[Vec<u8>],
    now: UnixTime,
) -> Result<(), StoreError> {
    tx.query(sql::DELETE_RECOVERY_CODES).bind(user.0).execute().await?;
    for code in codes {
        tx.query(sql::INSERT_RECOVERY_CODE).bind(user.0).bind(code.as_slice()).bind(now).execute().await?;
    }
    Ok(())
}

#[async_trait]
impl<D: Dialect> MfaStore for SqlStore<D> {
    async fn totp_factor(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError> {
        let row: Option<TotpFactorRow> = self.query(sql::TOTP_FACTOR).bind(user.0).fetch_optional().await?;
        Ok(row.map(TotpFactor::from))
    }

    async fn begin_totp(&self, user: UserId, secret_sealed: &[u8], now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::BEGIN_TOTP).bind(user.0).bind(secret_sealed).bind(now).execute().await? > 0)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        codes: &[Vec<u8>],
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if tx.query(sql::CONFIRM_TOTP).bind(user.0).bind(step).bind(now).execute().await? == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_codes(&mut tx, user, codes, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        Ok(self.query(sql::USE_TOTP_STEP).bind(user.0).bind(step).execute().await? > 0)
    }

    async fn recovery_code_hashes(&self, user: UserId) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows: Vec<(Vec<u8>,)> = self.query(sql::RECOVERY_CODE_HASHES).bind(user.0).fetch_all().await?;
        Ok(rows.into_iter().map(|(h,)| h).collect())
    }

    async fn use_recovery_code(&self, user: UserId, code_hash: &[u8]) -> Result<bool, StoreError> {
        Ok(self.query(sql::USE_RECOVERY_CODE).bind(user.0).bind(code_hash).execute().await? > 0)
    }

    async fn replace_recovery_codes(&self, user: UserId, codes: &[Vec<u8>], now: UnixTime) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_codes(&mut tx, user, codes, now).await?;
        tx.commit().await
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_TOTP).bind(user.0).execute().await? > 0)
    }

    async fn delete_mfa(&self, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let removed = tx.query(sql::DELETE_TOTP).bind(user.0).execute().await? > 0;
        tx.query(sql::DELETE_RECOVERY_CODES).bind(user.0).execute().await?;
        tx.query(sql::DELETE_MFA_CHALLENGES_FOR_USER).bind(user.0).execute().await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn insert_mfa_challenge(&self, c: &MfaChallenge) -> Result<(), StoreError> {
        self.query(sql::INSERT_MFA_CHALLENGE)
            .bind(c.handle_hash.as_slice())
            .bind(c.user_id.0)
            .bind(c.channel.as_str())
            .bind(c.next.as_deref())
            .bind(c.amr.as_str())
            .bind(c.auth_time)
            .bind(c.created_at)
            .bind(c.expires_at)
            .on_unique(OnUnique::Code)
            .execute()
            .await?;
        Ok(())
    }

    async fn mfa_challenge(&self, handle_hash: &[u8], now: UnixTime) -> Result<Option<MfaChallenge>, StoreError> {
        let row: Option<MfaChallengeRow> =
            self.query(sql::MFA_CHALLENGE).bind(handle_hash).bind(now).fetch_optional().await?;
        row.map(MfaChallenge::try_from).transpose()
    }

    async fn take_mfa_challenge(&self, handle_hash: &[u8], now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::TAKE_MFA_CHALLENGE).bind(handle_hash).bind(now).execute().await? > 0)
    }

    async fn purge_mfa_challenges(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.query(sql::PURGE_MFA_CHALLENGES).bind(now).execute().await
    }
}
