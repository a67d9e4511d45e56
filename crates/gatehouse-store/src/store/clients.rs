//! `ClientStore`: registered OAuth clients (RFC 6749 §2), their lists as JSON arrays.

use async_trait::async_trait;
use gatehouse_core::oauth::Client;
use gatehouse_core::store::{ClientStore, StoreError};
use sqlx::types::Json;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::error::OnUnique;
use crate::rows::{ClientRow, grant_type_names};
use crate::sql;

#[async_trait]
impl<D: Dialect> ClientStore for SqlStore<D> {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.query(sql::INSERT_CLIENT)
            .bind(client.id.as_str())
            .bind(client.name.as_str())
            .bind(client.secret_hash.as_deref())
            .bind(client.auth_method.as_str())
            .bind(Json(&client.redirect_uris))
            .bind(Json(&client.post_logout_redirect_uris))
            .bind(grant_type_names(client))
            .bind(Json(&client.scopes))
            .bind(Json(&client.cors_origins))
            .bind(client.skip_consent)
            .bind(client.access_token_lifetime)
            .bind(client.created_at)
            .bind(client.jwks.as_ref().map(|j| Json(j.as_json())))
            .bind(client.require_mfa)
            .on_unique(OnUnique::Client)
            .execute()
            .await?;
        Ok(())
    }

    async fn client_by_id(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let row: Option<ClientRow> = self.query(sql::CLIENT_BY_ID).bind(id).fetch_optional().await?;
        row.map(Client::try_from).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows: Vec<ClientRow> = self.query(sql::LIST_CLIENTS).fetch_all().await?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_CLIENT).bind(id).execute().await? > 0)
    }
}
