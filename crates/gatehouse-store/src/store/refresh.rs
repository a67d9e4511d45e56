//! `RefreshTokenStore`: families and their rotating tokens (RFC 9700 §4.14.2).
//!
//! A rotation is one write transaction whose first statement is the conditional consume of
//! the presented token, so exactly one of any number of concurrent callers consumes it. On
//! SQLite, `BEGIN IMMEDIATE` runs these transactions one at a time, and a rotation sees the
//! effects of every rotation before it. On PostgreSQL (READ COMMITTED) row locks do the
//! serialising: the consume is an `UPDATE` of the token's row, so concurrent rotations of one
//! token queue on that row, and each later one re-evaluates its condition against the
//! committed `used_at`, matches nothing, and goes on to the reuse path; each later statement
//! reads a fresh snapshot, so it sees what the winners committed.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::store::{RefreshTokenStore, StoreError};
use gatehouse_core::token::{FamilyActivity, RefreshFamily, RefreshTokenRow, RotateOutcome};
use gatehouse_core::user::UserId;
use uuid::Uuid;

use super::{SqlStore, Tx};
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rotation::{REUSE_REASON, Unconsumed, revoked_for_reuse, unconsumed};
use crate::rows::{FamilyActivityRow, FamilyRow, TokenStateRow};
use crate::sql;

#[async_trait]
impl<D: Dialect> RefreshTokenStore for SqlStore<D> {
    async fn create_refresh_family(&self, family: &RefreshFamily, first: &RefreshTokenRow) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.query(sql::INSERT_REFRESH_FAMILY)
            .bind(family.id)
            .bind(family.user_id.0)
            .bind(family.client_id.as_str())
            .bind(family.scope.as_deref())
            .bind(family.created_at)
            .bind(family.expires_at)
            .bind(family.revoked_at)
            .bind(family.revoked_reason.as_deref())
            .bind(family.auth.amr.as_str())
            .bind(family.auth.acr.as_str())
            .bind(family.auth.auth_time)
            .bind(family.dpop_jkt.as_deref())
            .on_unique(OnUnique::RefreshToken)
            .execute()
            .await?;
        insert_token(&mut tx, first, family.id).await?;
        tx.commit().await
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next: &RefreshTokenRow,
        now: UnixTime,
    ) -> Result<RotateOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        // The consume comes first and is conditional: of concurrent callers the first matches
        // the row and every later one (after the first commits) does not.
        let consumed: Option<(Uuid,)> =
            tx.query(sql::CONSUME_REFRESH_TOKEN).bind(presented_hash).bind(now).fetch_optional().await?;
        if let Some((family_id,)) = consumed {
            insert_token(&mut tx, next, family_id).await?;
            let family: FamilyRow = tx.query(sql::REFRESH_FAMILY).bind(family_id).fetch_one().await?;
            let family = RefreshFamily::from(family);
            // PostgreSQL: the consume checked the family in its own snapshot; a revocation
            // committed while it ran shows only now. Refuse rather than hand out a token of a
            // revoked family. On SQLite no revocation can commit inside this transaction, so
            // the check always passes there; it runs on both to keep one rotation.
            if !family.is_live(now) {
                tx.rollback().await?;
                return Ok(RotateOutcome::Invalid);
            }
            tx.commit().await?;
            return Ok(RotateOutcome::Rotated(family));
        }
        let state: Option<TokenStateRow> =
            tx.query(sql::REFRESH_TOKEN_STATE).bind(presented_hash).fetch_optional().await?;
        let Unconsumed::Reuse(family) = unconsumed(state, now) else {
            tx.rollback().await?;
            return Ok(RotateOutcome::Invalid);
        };
        let family = *family;
        let revoked =
            tx.query(sql::REVOKE_REFRESH_FAMILY).bind(family.id).bind(now).bind(REUSE_REASON).execute().await?;
        if revoked == 0 {
            // PostgreSQL: a concurrent caller presenting the same used token revoked the family
            // first (this statement waited for its row lock): the family is already dead, and
            // this call reports no revocation it did not make. (Cannot happen on SQLite.)
            tx.rollback().await?;
            return Ok(RotateOutcome::Invalid);
        }
        tx.commit().await?;
        Ok(RotateOutcome::Reused(revoked_for_reuse(family, now)))
    }

    async fn refresh_family_by_token(&self, token_hash: &[u8]) -> Result<Option<RefreshFamily>, StoreError> {
        let row: Option<FamilyRow> = self.query(sql::REFRESH_FAMILY_BY_TOKEN).bind(token_hash).fetch_optional().await?;
        Ok(row.map(RefreshFamily::from))
    }

    async fn refresh_family(&self, id: Uuid) -> Result<Option<RefreshFamily>, StoreError> {
        let row: Option<FamilyRow> = self.query(sql::REFRESH_FAMILY).bind(id).fetch_optional().await?;
        Ok(row.map(RefreshFamily::from))
    }

    async fn current_refresh_family(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        let row: Option<FamilyRow> =
            self.query(sql::CURRENT_REFRESH_FAMILY).bind(token_hash).bind(now).fetch_optional().await?;
        Ok(row.map(RefreshFamily::from))
    }

    async fn revoke_refresh_family(&self, id: Uuid, now: UnixTime, reason: &str) -> Result<bool, StoreError> {
        Ok(self.query(sql::REVOKE_REFRESH_FAMILY).bind(id).bind(now).bind(reason).execute().await? > 0)
    }

    async fn bind_refresh_family_dpop(&self, id: Uuid, jkt: &str) -> Result<bool, StoreError> {
        Ok(self.query(sql::BIND_REFRESH_FAMILY_DPOP).bind(id).bind(jkt).execute().await? > 0)
    }

    async fn revoke_refresh_families_for_user_client(
        &self,
        user: UserId,
        client_id: &str,
        now: UnixTime,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let query = self.query(sql::REVOKE_REFRESH_FAMILIES_FOR_USER_CLIENT).bind(user.0).bind(now).bind(reason);
        query.bind(client_id).execute().await
    }

    async fn revoke_refresh_families_for_user(
        &self,
        user: UserId,
        now: UnixTime,
        reason: &str,
    ) -> Result<u64, StoreError> {
        self.query(sql::REVOKE_REFRESH_FAMILIES_FOR_USER).bind(user.0).bind(now).bind(reason).execute().await
    }

    async fn purge_refresh_families(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        let tokens = self.query(sql::PURGE_REVOKED_ACCESS_TOKENS).bind(cutoff).execute().await?;
        Ok(tokens + self.query(sql::PURGE_REFRESH_FAMILIES).bind(cutoff).execute().await?)
    }

    async fn set_refresh_family_origin(
        &self,
        id: Uuid,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<(), StoreError> {
        self.query(sql::SET_REFRESH_FAMILY_ORIGIN).bind(id).bind(ip).bind(user_agent).execute().await?;
        Ok(())
    }

    async fn live_refresh_families(
        &self,
        user: UserId,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Vec<FamilyActivity>, StoreError> {
        let query = self.query(sql::LIVE_REFRESH_FAMILIES).bind(user.0).bind(client_id).bind(now);
        let rows: Vec<FamilyActivityRow> = query.fetch_all().await?;
        Ok(rows.into_iter().map(FamilyActivity::from).collect())
    }

    async fn revoke_access_token(&self, jti: &str, client_id: &str, expires_at: UnixTime) -> Result<bool, StoreError> {
        Ok(self.query(sql::REVOKE_ACCESS_TOKEN).bind(jti).bind(client_id).bind(expires_at).execute().await? > 0)
    }

    async fn access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = self.query(sql::ACCESS_TOKEN_REVOKED).bind(jti).fetch_optional().await?;
        Ok(row.is_some())
    }
}

/// Inserts `token` into `family_id`. The row's own `family_id` is not used: a successor joins
/// the presented token's family (as the trait says), a first token the family created with it.
async fn insert_token<D: Dialect>(tx: &mut Tx<D>, token: &RefreshTokenRow, family_id: Uuid) -> Result<(), StoreError> {
    tx.query(sql::INSERT_REFRESH_TOKEN)
        .bind(token.token_hash.as_slice())
        .bind(family_id)
        .bind(token.created_at)
        .bind(token.idle_expires_at)
        .on_unique(OnUnique::RefreshToken)
        .execute()
        .await?;
    Ok(())
}
