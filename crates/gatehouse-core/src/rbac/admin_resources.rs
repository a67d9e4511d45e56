//! Resource servers (RFC 8707) as an operator manages them: register, read, change, delete.
//! One implementation for the admin API and the `gatehouse resources` command; every change is
//! audited, and updates are compare-and-set on the revision.

use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

use super::{AdminCapability, AdminService, RbacError};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::oauth::{ResourceRegistration, ResourceServer, ResourceServerStore, ResourceUpdate};
use crate::store::AuditStore;

pub struct ResourceAdmin {
    store: Arc<dyn ResourceServerStore>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
    /// Gatehouse's own audiences (issuer, configured `aud`): never a resource server's
    /// identifier, or its tokens would be good for Gatehouse's own APIs.
    own_audiences: Vec<String>,
}

impl AdminService {
    /// Registered resource servers.
    pub fn resource_admin(&self) -> &ResourceAdmin {
        &self.resource_admin
    }
}

fn subject(rs: &ResourceServer) -> String {
    format!("resource:{}", rs.identifier)
}

impl ResourceAdmin {
    pub fn new(
        store: Arc<dyn ResourceServerStore>,
        audit: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
        own_audiences: Vec<String>,
    ) -> Self {
        Self { store, audit: Auditor::new(audit, clock.clone()), clock, own_audiences }
    }

    async fn record(
        &self,
        event: AuditEventType,
        cap: &AdminCapability,
        rs: &ResourceServer,
        ctx: &RequestContext,
        details: Value,
    ) -> Result<(), RbacError> {
        Ok(self
            .audit
            .record(event, Outcome::Success, Some(cap.actor().to_string()), Some(subject(rs)), ctx, details)
            .await?)
    }

    pub async fn resource_servers(&self, _: &AdminCapability) -> Result<Vec<ResourceServer>, RbacError> {
        Ok(self.store.list_resource_servers().await?)
    }

    pub async fn resource_server(&self, _: &AdminCapability, id: Uuid) -> Result<ResourceServer, RbacError> {
        self.store.resource_server(id).await?.ok_or(RbacError::NotFound("resource server"))
    }

    /// By its identifier (the command line names resource servers so).
    pub async fn resource_server_by_identifier(
        &self,
        _: &AdminCapability,
        identifier: &str,
    ) -> Result<ResourceServer, RbacError> {
        self.store.resource_server_by_identifier(identifier).await?.ok_or(RbacError::NotFound("resource server"))
    }

    /// Registers a resource server; an identifier registered already is a conflict.
    pub async fn create(
        &self,
        cap: &AdminCapability,
        registration: ResourceRegistration,
        ctx: &RequestContext,
    ) -> Result<ResourceServer, RbacError> {
        let rs = registration
            .validate(&self.own_audiences, self.clock.now())
            .map_err(|e| RbacError::Invalid(e.to_string()))?;
        self.store.insert_resource_server(&rs).await?;
        let details = json!({ "name": rs.name, "scopes": rs.scopes, "allow_permissions": rs.allow_permissions });
        self.record(AuditEventType::ResourceServerCreated, cap, &rs, ctx, details).await?;
        Ok(rs)
    }

    /// A partial change, checked by the registration's rules; refused with
    /// [`RbacError::Changed`] when the resource server changed since it was read.
    pub async fn update(
        &self,
        cap: &AdminCapability,
        id: Uuid,
        update: ResourceUpdate,
        ctx: &RequestContext,
    ) -> Result<ResourceServer, RbacError> {
        let before = self.resource_server(cap, id).await?;
        let mut after = update.apply(&before, self.clock.now()).map_err(|e| RbacError::Invalid(e.to_string()))?;
        if !self.store.update_resource_server(&after).await? {
            return Err(match self.store.resource_server(id).await? {
                None => RbacError::NotFound("resource server"),
                Some(_) => RbacError::Changed("resource server"),
            });
        }
        after.revision += 1;
        let fields: Vec<&str> = [
            ("name", before.name != after.name),
            ("scopes", before.scopes != after.scopes),
            ("access_token_lifetime", before.access_token_lifetime != after.access_token_lifetime),
            ("signing_alg", before.signing_alg != after.signing_alg),
            ("allow_permissions", before.allow_permissions != after.allow_permissions),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect();
        self.record(AuditEventType::ResourceServerUpdated, cap, &after, ctx, json!({ "fields": fields })).await?;
        Ok(after)
    }

    /// Deletes the resource server: no new tokens name it; tokens issued for it stay valid at
    /// the resource server until they expire, and refreshing a grant for it fails.
    pub async fn delete(&self, cap: &AdminCapability, id: Uuid, ctx: &RequestContext) -> Result<(), RbacError> {
        let rs = self.resource_server(cap, id).await?;
        if !self.store.delete_resource_server(id).await? {
            return Err(RbacError::NotFound("resource server"));
        }
        self.record(AuditEventType::ResourceServerDeleted, cap, &rs, ctx, json!({})).await
    }
}
