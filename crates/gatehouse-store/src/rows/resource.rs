//! Resource servers (RFC 8707) as rows.

use gatehouse_core::keys::Algorithm;
use gatehouse_core::oauth::ResourceServer;
use gatehouse_core::store::StoreError;
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ResourceServerRow {
    id: Uuid,
    identifier: String,
    name: String,
    scopes: Json<Vec<String>>,
    access_token_lifetime: Option<i64>,
    signing_alg: String,
    allow_permissions: bool,
    created_at: i64,
    updated_at: i64,
    revision: i64,
}

impl TryFrom<ResourceServerRow> for ResourceServer {
    type Error = StoreError;

    fn try_from(row: ResourceServerRow) -> Result<Self, StoreError> {
        let signing_alg = Algorithm::parse(&row.signing_alg)
            .ok_or_else(|| StoreError::Corrupt(format!("resource server {}: unknown algorithm", row.identifier)))?;
        Ok(Self {
            id: row.id,
            identifier: row.identifier,
            name: row.name,
            scopes: row.scopes.0,
            access_token_lifetime: row.access_token_lifetime,
            signing_alg,
            allow_permissions: row.allow_permissions,
            created_at: row.created_at,
            updated_at: row.updated_at,
            revision: row.revision,
        })
    }
}
