//! The SQL and row decoding behind `PolicyStore`, shared by both backends (the schemas agree;
//! only the id column's type and the write lock differ).

use gatehouse_core::policy::{ActiveDocuments, DocumentKind, PolicyVersion};
use gatehouse_core::store::StoreError;

pub(crate) const REVISION: &str = "SELECT COALESCE(MAX(id), 0) FROM policy_versions";

/// The latest row of every (kind, name), deletions included: the largest id among them is the
/// global revision, so one statement reads the documents and their revision consistently.
pub(crate) const LATEST: &str = "SELECT id, kind, name, version, body, author, created_at FROM policy_versions p \
     WHERE id = (SELECT MAX(q.id) FROM policy_versions q WHERE q.kind = p.kind AND q.name = p.name) \
     ORDER BY kind, name";

pub(crate) const VERSIONS: &str = "SELECT id, kind, name, version, body, author, created_at FROM policy_versions \
     WHERE kind = $1 AND name = $2 ORDER BY version";

pub(crate) const NEXT_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) + 1 FROM policy_versions WHERE kind = $1 AND name = $2";

pub(crate) const INSERT: &str = "INSERT INTO policy_versions (kind, name, version, body, author, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// PostgreSQL: writers queue here (readers are not blocked), so the revision check and the
/// insert are one step and ids are assigned in commit order.
pub(crate) const PG_LOCK: &str = "LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE";

#[derive(sqlx::FromRow)]
pub(crate) struct VersionRow {
    id: i64,
    kind: String,
    name: String,
    version: i64,
    body: Option<String>,
    author: String,
    created_at: i64,
}

impl TryFrom<VersionRow> for PolicyVersion {
    type Error = StoreError;

    fn try_from(r: VersionRow) -> Result<Self, StoreError> {
        let kind = DocumentKind::parse(&r.kind).ok_or_else(|| StoreError::Corrupt("policy document kind".into()))?;
        Ok(Self {
            revision: r.id,
            kind,
            name: r.name,
            version: r.version,
            body: r.body,
            author: r.author,
            created_at: r.created_at,
        })
    }
}

/// Rows from [`LATEST`] as the active documents.
pub(crate) fn active(rows: Vec<VersionRow>) -> Result<ActiveDocuments, StoreError> {
    let mut out = ActiveDocuments::default();
    for row in rows {
        let v = PolicyVersion::try_from(row)?;
        out.revision = out.revision.max(v.revision);
        if v.body.is_none() {
            continue;
        }
        match v.kind {
            DocumentKind::Schema => out.schema = Some(v),
            DocumentKind::Policy => out.policies.push(v),
        }
    }
    Ok(out)
}
