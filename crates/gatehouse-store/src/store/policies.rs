//! `PolicyStore`: appends are one write transaction that first takes the dialect's lock
//! ([`Dialect::LOCK_POLICIES`]; SQLite's `BEGIN IMMEDIATE` needs none), so the revision check
//! and the insert see no other writer in between.

use async_trait::async_trait;
use gatehouse_core::policy::{ActiveDocuments, DocumentKind, NewPolicyVersion, PolicyStore, PolicyVersion};
use gatehouse_core::store::StoreError;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::policies::{self, VersionRow};

#[async_trait]
impl<D: Dialect> PolicyStore for SqlStore<D> {
    async fn policy_revision(&self) -> Result<i64, StoreError> {
        let (revision,): (i64,) = self.query(policies::REVISION).fetch_one().await?;
        Ok(revision)
    }

    async fn active_policy_documents(&self) -> Result<ActiveDocuments, StoreError> {
        policies::active(self.query(policies::LATEST).fetch_all().await?)
    }

    async fn policy_versions(&self, kind: DocumentKind, name: &str) -> Result<Vec<PolicyVersion>, StoreError> {
        let rows: Vec<VersionRow> = self.query(policies::VERSIONS).bind(kind.as_str()).bind(name).fetch_all().await?;
        rows.into_iter().map(PolicyVersion::try_from).collect()
    }

    async fn append_policy_version(
        &self,
        doc: &NewPolicyVersion<'_>,
        expected_revision: i64,
    ) -> Result<Option<PolicyVersion>, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(lock) = D::LOCK_POLICIES {
            tx.query(lock).execute().await?;
        }
        let (revision,): (i64,) = tx.query(policies::REVISION).fetch_one().await?;
        if revision != expected_revision {
            return Ok(None);
        }
        let (version,): (i64,) =
            tx.query(policies::NEXT_VERSION).bind(doc.kind.as_str()).bind(doc.name).fetch_one().await?;
        let (id,): (i64,) = tx
            .query(policies::INSERT)
            .bind(doc.kind.as_str())
            .bind(doc.name)
            .bind(version)
            .bind(doc.body)
            .bind(doc.author)
            .bind(doc.created_at)
            .fetch_one()
            .await?;
        tx.commit().await?;
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
