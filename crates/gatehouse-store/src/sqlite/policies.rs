//! `PolicyStore` on SQLite: appends run under `BEGIN IMMEDIATE`, so the revision check and the insert see no writer in between.

use async_trait::async_trait;
use gatehouse_core::policy::{ActiveDocuments, DocumentKind, NewPolicyVersion, PolicyStore, PolicyVersion};
use gatehouse_core::store::StoreError;

use super::SqliteStore;
use crate::error::unavailable;
use crate::policies::{self, VersionRow};

#[async_trait]
impl PolicyStore for SqliteStore {
    async fn policy_revision(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(policies::REVISION).fetch_one(&self.pool).await.map_err(unavailable)
    }

    async fn active_policy_documents(&self) -> Result<ActiveDocuments, StoreError> {
        let rows: Vec<VersionRow> =
            sqlx::query_as(policies::LATEST).fetch_all(&self.pool).await.map_err(unavailable)?;
        policies::active(rows)
    }

    async fn policy_versions(&self, kind: DocumentKind, name: &str) -> Result<Vec<PolicyVersion>, StoreError> {
        let rows: Vec<VersionRow> = sqlx::query_as(policies::VERSIONS)
            .bind(kind.as_str())
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(PolicyVersion::try_from).collect()
    }

    async fn append_policy_version(
        &self,
        doc: &NewPolicyVersion<'_>,
        expected_revision: i64,
    ) -> Result<Option<PolicyVersion>, StoreError> {
        let mut tx = self.begin_write().await.map_err(unavailable)?;
        let revision: i64 = sqlx::query_scalar(policies::REVISION).fetch_one(&mut *tx).await.map_err(unavailable)?;
        if revision != expected_revision {
            return Ok(None);
        }
        let version: i64 = sqlx::query_scalar(policies::NEXT_VERSION)
            .bind(doc.kind.as_str())
            .bind(doc.name)
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        let id: i64 = sqlx::query_scalar(policies::INSERT)
            .bind(doc.kind.as_str())
            .bind(doc.name)
            .bind(version)
            .bind(doc.body)
            .bind(doc.author)
            .bind(doc.created_at)
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Some(PolicyVersion {
            revision: id,
            kind: doc.kind,
            name: doc.name.to_owned(),
            version,
            body: doc.body.map(str::to_owned),
            author: doc.author.to_owned(),
            created_at: doc.created_at,
        }))
    }
}
