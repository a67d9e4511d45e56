//! `ResourceServerStore`: registered resource servers (RFC 8707), their scopes as a JSON array,
//! changes compare-and-set on the revision; and the resources each grant was requested for.

use async_trait::async_trait;
use gatehouse_core::UnixTime;
use gatehouse_core::oauth::{ResourceServer, ResourceServerStore};
use gatehouse_core::store::StoreError;
use sqlx::types::Json;
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rows::ResourceServerRow;
use crate::sql::{
    DELETE_RESOURCE_SERVER, GRANT_RESOURCES, INSERT_RESOURCE_SERVER, LIST_RESOURCE_SERVERS, PURGE_GRANT_RESOURCES,
    RESOURCE_SERVER_BY_ID, RESOURCE_SERVER_BY_IDENTIFIER, SET_GRANT_RESOURCES, UPDATE_RESOURCE_SERVER,
};

#[async_trait]
impl<D: Dialect> ResourceServerStore for SqlStore<D> {
    async fn insert_resource_server(&self, rs: &ResourceServer) -> Result<(), StoreError> {
        self.query(INSERT_RESOURCE_SERVER)
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
        let row: Option<ResourceServerRow> = self.query(RESOURCE_SERVER_BY_ID).bind(id).fetch_optional().await?;
        row.map(ResourceServer::try_from).transpose()
    }

    async fn resource_server_by_identifier(&self, identifier: &str) -> Result<Option<ResourceServer>, StoreError> {
        let row: Option<ResourceServerRow> =
            self.query(RESOURCE_SERVER_BY_IDENTIFIER).bind(identifier).fetch_optional().await?;
        row.map(ResourceServer::try_from).transpose()
    }

    async fn list_resource_servers(&self) -> Result<Vec<ResourceServer>, StoreError> {
        let rows: Vec<ResourceServerRow> = self.query(LIST_RESOURCE_SERVERS).fetch_all().await?;
        rows.into_iter().map(ResourceServer::try_from).collect()
    }

    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<bool, StoreError> {
        let changed = self
            .query(UPDATE_RESOURCE_SERVER)
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
        Ok(self.query(DELETE_RESOURCE_SERVER).bind(id).execute().await? > 0)
    }

    async fn set_grant_resources(&self, grant_id: Uuid, resources: &[String], now: UnixTime) -> Result<(), StoreError> {
        self.query(SET_GRANT_RESOURCES).bind(grant_id).bind(Json(resources)).bind(now).execute().await?;
        Ok(())
    }

    async fn grant_resources(&self, grant_id: Uuid) -> Result<Vec<String>, StoreError> {
        let row: Option<(Json<Vec<String>>,)> = self.query(GRANT_RESOURCES).bind(grant_id).fetch_optional().await?;
        Ok(row.map(|(Json(r),)| r).unwrap_or_default())
    }

    async fn purge_grant_resources(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        self.query(PURGE_GRANT_RESOURCES).bind(cutoff).execute().await
    }
}
