//! `ClientStore`: registered OAuth clients (RFC 6749 §2), their lists as JSON arrays; changes
//! are compare-and-set on the client's revision.

use async_trait::async_trait;
use gatehouse_core::UnixTime;
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
            .bind(client.lifecycle.previous_secret_hash.as_deref())
            .bind(client.lifecycle.previous_secret_expires_at)
            .bind(client.lifecycle.secret_rotated_at)
            .bind(client.lifecycle.disabled_at)
            .bind(client.lifecycle.revision)
            .bind(client.require_pushed_authorization_requests)
            .bind(client.lifecycle.registration.as_str())
            .bind(client.lifecycle.registration_token_hash.as_deref())
            .bind(client.lifecycle.metadata_expires_at)
            .bind(client.backchannel_logout_uri.as_deref())
            .bind(client.backchannel_logout_session_required)
            .bind(client.dpop_bound_access_tokens)
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

    async fn update_client(&self, client: &Client) -> Result<bool, StoreError> {
        let changed = self
            .query(sql::UPDATE_CLIENT)
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
            .bind(client.jwks.as_ref().map(|j| Json(j.as_json())))
            .bind(client.require_mfa)
            .bind(client.lifecycle.previous_secret_hash.as_deref())
            .bind(client.lifecycle.previous_secret_expires_at)
            .bind(client.lifecycle.secret_rotated_at)
            .bind(client.lifecycle.disabled_at)
            .bind(client.lifecycle.revision)
            .bind(client.require_pushed_authorization_requests)
            .bind(client.lifecycle.registration.as_str())
            .bind(client.lifecycle.registration_token_hash.as_deref())
            .bind(client.lifecycle.metadata_expires_at)
            .bind(client.backchannel_logout_uri.as_deref())
            .bind(client.backchannel_logout_session_required)
            .bind(client.dpop_bound_access_tokens)
            .execute()
            .await?;
        Ok(changed > 0)
    }

    async fn delete_client(&self, id: &str, now: UnixTime) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        tx.query(sql::REVOKE_REFRESH_FAMILIES_FOR_CLIENT).bind(id).bind(now).bind("client_deleted").execute().await?;
        let deleted = tx.query(sql::DELETE_CLIENT).bind(id).execute().await? > 0;
        if deleted {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(deleted)
    }
}
