//! `ResourceServerStore`: registered resource servers (RFC 8707), their scopes as a JSON array,
//! changes compare-and-set on the revision; and the resources each grant was requested for.
//! The statements live here with their one user (the aggregate is small and self-contained).

use async_trait::async_trait;
use gatehouse_core::UnixTime;
use gatehouse_core::keys::Algorithm;
use gatehouse_core::oauth::{ResourceServer, ResourceServerStore};
use gatehouse_core::store::StoreError;
use sqlx::types::Json;
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;

macro_rules! columns {
    () => {
        "id, identifier, name, scopes, access_token_lifetime, signing_alg, allow_permissions, created_at, \
         updated_at, revision"
    };
}

const INSERT: &str =
    concat!("INSERT INTO resource_servers (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
const BY_ID: &str = concat!("SELECT ", columns!(), " FROM resource_servers WHERE id = $1");
const BY_IDENTIFIER: &str = concat!("SELECT ", columns!(), " FROM resource_servers WHERE identifier = $1");
/// Identifiers sort in byte order on both backends (SQLite BINARY, PostgreSQL `COLLATE "C"`).
const LIST: &str = concat!("SELECT ", columns!(), " FROM resource_servers ORDER BY identifier");
/// Compare-and-set on the revision (`$7`): a change made from an older read updates nothing.
const UPDATE: &str = "UPDATE resource_servers SET name = $2, scopes = $3, access_token_lifetime = $4, \
     signing_alg = $5, allow_permissions = $6, updated_at = $8, revision = revision + 1 \
     WHERE id = $1 AND revision = $7";
const DELETE: &str = "DELETE FROM resource_servers WHERE id = $1";
/// A grant's resources are written once, when its code or approval is made.
const SET_GRANT: &str = "INSERT INTO grant_resources (grant_id, resources, created_at) VALUES ($1, $2, $3)";
const GRANT: &str = "SELECT resources FROM grant_resources WHERE grant_id = $1";
const PURGE_GRANTS: &str = "DELETE FROM grant_resources WHERE created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = grant_resources.grant_id)";

#[derive(Debug, sqlx::FromRow)]
struct ResourceServerRow {
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

#[async_trait]
impl<D: Dialect> ResourceServerStore for SqlStore<D> {
    async fn insert_resource_server(&self, rs: &ResourceServer) -> Result<(), StoreError> {
        self.query(INSERT)
            .bind(rs.id)
            .bind(rs.identifier.as_str())
            .bind(rs.name.as_str())
            .bind(Json(&rs.scopes))
            .bind(rs.access_token_lifetime)
            .bind(rs.signing_alg.as_str())
            .bind(rs.allow_permissions)
            .bind(rs.created_at)
            .bind(rs.updated_at)
            .bind(rs.revision)
            .on_unique(OnUnique::ResourceServer)
            .execute()
            .await?;
        Ok(())
    }

    async fn resource_server(&self, id: Uuid) -> Result<Option<ResourceServer>, StoreError> {
        let row: Option<ResourceServerRow> = self.query(BY_ID).bind(id).fetch_optional().await?;
        row.map(ResourceServer::try_from).transpose()
    }

    async fn resource_server_by_identifier(&self, identifier: &str) -> Result<Option<ResourceServer>, StoreError> {
        let row: Option<ResourceServerRow> = self.query(BY_IDENTIFIER).bind(identifier).fetch_optional().await?;
        row.map(ResourceServer::try_from).transpose()
    }

    async fn list_resource_servers(&self) -> Result<Vec<ResourceServer>, StoreError> {
        let rows: Vec<ResourceServerRow> = self.query(LIST).fetch_all().await?;
        rows.into_iter().map(ResourceServer::try_from).collect()
    }

    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<bool, StoreError> {
        let changed = self
            .query(UPDATE)
            .bind(rs.id)
            .bind(rs.name.as_str())
            .bind(Json(&rs.scopes))
            .bind(rs.access_token_lifetime)
            .bind(rs.signing_alg.as_str())
            .bind(rs.allow_permissions)
            .bind(rs.revision)
            .bind(rs.updated_at)
            .execute()
            .await?;
        Ok(changed > 0)
    }

    async fn delete_resource_server(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.query(DELETE).bind(id).execute().await? > 0)
    }

    async fn set_grant_resources(&self, grant_id: Uuid, resources: &[String], now: UnixTime) -> Result<(), StoreError> {
        self.query(SET_GRANT).bind(grant_id).bind(Json(resources)).bind(now).execute().await?;
        Ok(())
    }

    async fn grant_resources(&self, grant_id: Uuid) -> Result<Vec<String>, StoreError> {
        let row: Option<(Json<Vec<String>>,)> = self.query(GRANT).bind(grant_id).fetch_optional().await?;
        Ok(row.map(|(Json(r),)| r).unwrap_or_default())
    }

    async fn purge_grant_resources(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        self.query(PURGE_GRANTS).bind(cutoff).execute().await
    }
}
