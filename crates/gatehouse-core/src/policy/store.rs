//! `PolicyStore`: the versioned storage of Cedar policies and of the Cedar schema (one trait for
//! the policy aggregate, object-safe like the others in `crate::store`).
//!
//! Every change appends a row: a new version of a named document, or a deletion (a version
//! without a body). Rows have a global, increasing id; the largest id is the store's
//! *revision*, which every node compares cheaply to know whether its compiled copy is current.

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::store::StoreError;

/// What a stored document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// A named Cedar policy text (one or more `permit`/`forbid` statements).
    Policy,
    /// The Cedar schema (one document, named [`SCHEMA_NAME`]).
    Schema,
}

/// The name the schema document is stored under.
pub const SCHEMA_NAME: &str = "schema";

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Schema => "schema",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "policy" => Some(Self::Policy),
            "schema" => Some(Self::Schema),
            _ => None,
        }
    }
}

/// One stored version of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// The global row id (the store's revision right after this row was written).
    pub revision: i64,
    pub kind: DocumentKind,
    pub name: String,
    /// 1, 2, … per (kind, name).
    pub version: i64,
    /// `None`: this version deletes the document.
    pub body: Option<String>,
    /// Who wrote it (the audit trail's actor: a user id, `client:<id>` or `cli`).
    pub author: String,
    pub created_at: UnixTime,
}

/// A version to append; the store numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicyVersion<'a> {
    pub kind: DocumentKind,
    pub name: &'a str,
    pub body: Option<&'a str>,
    pub author: &'a str,
    pub created_at: UnixTime,
}

/// The latest version of every document that is not deleted, and the revision they were read at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveDocuments {
    pub revision: i64,
    pub schema: Option<PolicyVersion>,
    /// Sorted by name.
    pub policies: Vec<PolicyVersion>,
}

#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// The largest row id (0 when nothing was ever stored). One indexed read: cheap enough to
    /// ask on every decision, and asked at most once a second.
    async fn policy_revision(&self) -> Result<i64, StoreError>;

    /// The active documents, read in one statement (so the revision matches the rows).
    async fn active_policy_documents(&self) -> Result<ActiveDocuments, StoreError>;

    /// Every version of one document, oldest first (deletions included); empty when unknown.
    async fn policy_versions(&self, kind: DocumentKind, name: &str) -> Result<Vec<PolicyVersion>, StoreError>;

    /// Appends `doc` as the next version of its document, provided the store is still at
    /// `expected_revision` (what the caller validated against); `None` when another change
    /// came in between (nothing written). Writers serialise (SQLite `BEGIN IMMEDIATE`,
    /// PostgreSQL a table lock), so revisions grow in commit order.
    async fn append_policy_version(
        &self,
        doc: &NewPolicyVersion<'_>,
        expected_revision: i64,
    ) -> Result<Option<PolicyVersion>, StoreError>;
}
