//! `ConsentStore`: the scopes each user allowed each client, remembered so the consent page is
//! shown again only for scopes not yet granted (OpenID Connect Core §3.1.2.4).
//!
//! A grant is one write transaction whose first statement is an upsert of the consent's row
//! (`sql::LOCK_CONSENT`) returning the scopes stored before; the merged scopes are written
//! before it commits. SQLite's `BEGIN IMMEDIATE` runs grants one at a time; on PostgreSQL the
//! upsert takes the row's lock (waiting for a concurrent insert of the same row to commit,
//! then updating it) and returns the latest committed scopes. Either way concurrent grants
//! merge one after the other and none is lost.

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::oauth::Consent;
use gatehouse_core::store::{ConsentStore, StoreError};
use gatehouse_core::user::UserId;
use sqlx::types::Json;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::oauth::merge_scopes;
use crate::rows::ConsentRow;
use crate::sql;

#[async_trait]
impl<D: Dialect> ConsentStore for SqlStore<D> {
    async fn consent(&self, user: UserId, client_id: &str) -> Result<Option<Consent>, StoreError> {
        let row: Option<ConsentRow> = self.query(sql::CONSENT).bind(user.0).bind(client_id).fetch_optional().await?;
        Ok(row.map(Consent::from))
    }

    async fn grant_consent(
        &self,
        user: UserId,
        client_id: &str,
        scopes: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let (Json(existing),): (Json<Vec<String>>,) =
            tx.query(sql::LOCK_CONSENT).bind(user.0).bind(client_id).bind(now).fetch_one().await?;
        let before = existing.len();
        // The merge only ever appends: an unchanged length means nothing new to store.
        let merged = merge_scopes(existing, scopes);
        if merged.len() != before {
            tx.query(sql::SET_CONSENT_SCOPES).bind(user.0).bind(client_id).bind(Json(&merged)).execute().await?;
        }
        tx.commit().await
    }

    async fn revoke_consent(&self, user: UserId, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.query(sql::REVOKE_CONSENT).bind(user.0).bind(client_id).execute().await? > 0)
    }

    async fn consents_for_user(&self, user: UserId) -> Result<Vec<Consent>, StoreError> {
        let rows: Vec<ConsentRow> = self.query(sql::CONSENTS_FOR_USER).bind(user.0).fetch_all().await?;
        Ok(rows.into_iter().map(Consent::from).collect())
    }
}
