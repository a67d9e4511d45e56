//! OAuth clients as an operator manages them: register, change (the same rules as a
//! registration), rotate the secret with an overlap, replace a `private_key_jwt` client's keys,
//! disable and enable, delete. One implementation for the admin API, the console and the
//! `gatehouse clients` command; every change is audited and goes through the store's
//! compare-and-set on the client's revision, so two concurrent edits never silently merge.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Actor, AdminCapability, AdminService, RbacError};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::oauth::{
    Client, ClientRegistration, ClientSecret, ClientUpdate, DEFAULT_SECRET_OVERLAP, RegistrationError,
    generate_client_id,
};
use crate::store::{AuditStore, ClientStore};

pub struct ClientAdmin {
    /// The node's cached store: every change here is seen at once on this node.
    clients: Arc<dyn ClientStore>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
}

impl AdminService {
    /// Registered clients and their lifecycle.
    pub fn client_admin(&self) -> &ClientAdmin {
        &self.client_admin
    }
}

fn invalid(e: RegistrationError) -> RbacError {
    RbacError::Invalid(e.to_string())
}

fn subject(id: &str) -> String {
    format!("client:{id}")
}

impl ClientAdmin {
    pub fn new(clients: Arc<dyn ClientStore>, audit: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> Self {
        Self { clients, audit: Auditor::new(audit, clock.clone()), clock }
    }

    async fn record(
        &self,
        event: AuditEventType,
        cap: &AdminCapability,
        id: &str,
        ctx: &RequestContext,
        details: Value,
    ) -> Result<(), RbacError> {
        Ok(self
            .audit
            .record(event, Outcome::Success, Some(cap.actor().to_string()), Some(subject(id)), ctx, details)
            .await?)
    }

    pub async fn clients(&self, _: &AdminCapability) -> Result<Vec<Client>, RbacError> {
        Ok(self.clients.list_clients().await?)
    }

    pub async fn client(&self, _: &AdminCapability, id: &str) -> Result<Client, RbacError> {
        self.clients.client_by_id(id).await?.ok_or(RbacError::NotFound("client"))
    }

    /// Registers a client; the secret (`client_secret_*` clients) is returned once.
    pub async fn create_client(
        &self,
        cap: &AdminCapability,
        registration: ClientRegistration,
        ctx: &RequestContext,
    ) -> Result<(Client, Option<ClientSecret>), RbacError> {
        let id = generate_client_id().map_err(|e| RbacError::Internal(e.to_string()))?;
        let (client, secret) = registration.validate(id, self.clock.now()).map_err(invalid)?;
        self.clients.insert_client(&client).await?;
        let details = json!({ "name": client.name, "scopes": client.scopes, "public": client.is_public() });
        self.record(AuditEventType::ClientCreated, cap, &client.id, ctx, details).await?;
        Ok((client, secret))
    }

    /// Reads the client, applies `change` and stores the result if nobody changed the client in
    /// between (else [`RbacError::Changed`]).
    async fn change<T>(
        &self,
        id: &str,
        change: impl FnOnce(&Client) -> Result<(Client, T), RbacError>,
    ) -> Result<(Client, T), RbacError> {
        let before = self.clients.client_by_id(id).await?.ok_or(RbacError::NotFound("client"))?;
        let (mut after, out) = change(&before)?;
        after.lifecycle.revision = before.lifecycle.revision;
        if !self.clients.update_client(&after).await? {
            return Err(match self.clients.client_by_id(id).await? {
                None => RbacError::NotFound("client"),
                Some(_) => RbacError::Changed("client"),
            });
        }
        after.lifecycle.revision += 1;
        Ok((after, out))
    }

    /// A partial change of the settings, checked by the registration's rules. Switching to
    /// `client_secret_*` from a method without a secret issues one, returned here once.
    pub async fn update_client(
        &self,
        cap: &AdminCapability,
        id: &str,
        update: ClientUpdate,
        ctx: &RequestContext,
    ) -> Result<(Client, Option<ClientSecret>), RbacError> {
        let (client, (secret, fields)) = self
            .change(id, |before| {
                if update.expected_revision.is_some_and(|r| r != before.lifecycle.revision) {
                    return Err(RbacError::Changed("client"));
                }
                let (after, secret) = update.apply(before).map_err(invalid)?;
                let fields = changed_fields(before, &after);
                Ok((after, (secret, fields)))
            })
            .await?;
        let details = json!({ "fields": fields, "secret_issued": secret.is_some() });
        self.record(AuditEventType::ClientUpdated, cap, id, ctx, details).await?;
        Ok((client, secret))
    }

    /// A new secret, shown once; the old one keeps working for `overlap` seconds (default one
    /// day, at most 30 days, 0 = it dies now).
    pub async fn rotate_secret(
        &self,
        cap: &AdminCapability,
        id: &str,
        overlap: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<(Client, ClientSecret), RbacError> {
        let now = self.clock.now();
        let overlap = overlap.unwrap_or(DEFAULT_SECRET_OVERLAP);
        let (client, secret) = self
            .change(id, |c| {
                let mut c = c.clone();
                let secret = c.rotate_secret(overlap, now).map_err(invalid)?;
                Ok((c, secret))
            })
            .await?;
        let details = json!({
            "overlap_seconds": overlap,
            "previous_secret_expires_at": client.lifecycle.previous_secret_expires_at,
        });
        self.record(AuditEventType::ClientSecretRotated, cap, id, ctx, details).await?;
        Ok((client, secret))
    }

    /// Replaces a `private_key_jwt` client's JWK Set (checked as at registration).
    pub async fn replace_jwks(
        &self,
        cap: &AdminCapability,
        id: &str,
        jwks: Value,
        ctx: &RequestContext,
    ) -> Result<Client, RbacError> {
        let (client, ()) = self
            .change(id, |c| {
                let mut c = c.clone();
                c.replace_jwks(jwks).map_err(invalid)?;
                Ok((c, ()))
            })
            .await?;
        let kids: Vec<Value> = client
            .jwks
            .as_ref()
            .and_then(|j| j.as_json().get("keys").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .map(|k| k.get("kid").cloned().unwrap_or(Value::Null))
            .collect();
        self.record(AuditEventType::ClientJwksReplaced, cap, id, ctx, json!({ "kids": kids })).await?;
        Ok(client)
    }

    /// Disables (no new tokens; the tokens it holds stop working) or enables the client.
    /// Setting the state it already has changes and records nothing.
    pub async fn set_disabled(
        &self,
        cap: &AdminCapability,
        id: &str,
        disabled: bool,
        ctx: &RequestContext,
    ) -> Result<Client, RbacError> {
        if disabled && matches!(cap.actor(), Actor::Client(me) if me == id) {
            return Err(RbacError::Forbidden("a client cannot disable itself"));
        }
        let now = self.clock.now();
        let current = self.client(cap, id).await?;
        if current.is_disabled() == disabled {
            return Ok(current);
        }
        let (client, ()) = self
            .change(id, |c| {
                let mut c = c.clone();
                c.lifecycle.disabled_at = disabled.then_some(now);
                Ok((c, ()))
            })
            .await?;
        let event = if disabled { AuditEventType::ClientDisabled } else { AuditEventType::ClientEnabled };
        self.record(event, cap, id, ctx, json!({})).await?;
        Ok(client)
    }

    /// Deletes the client with its codes and consents, and revokes its refresh families.
    pub async fn delete_client(&self, cap: &AdminCapability, id: &str, ctx: &RequestContext) -> Result<(), RbacError> {
        if matches!(cap.actor(), Actor::Client(me) if me == id) {
            return Err(RbacError::Forbidden("a client cannot delete itself"));
        }
        if !self.clients.delete_client(id, self.clock.now()).await? {
            return Err(RbacError::NotFound("client"));
        }
        self.record(AuditEventType::ClientDeleted, cap, id, ctx, json!({})).await
    }
}

/// The names of the settings an update changed (the audit trail's `fields`; never their
/// values, which may hold keys): a form that sends every field records only what differs.
fn changed_fields(before: &Client, after: &Client) -> Vec<&'static str> {
    [
        ("name", before.name != after.name),
        ("redirect_uris", before.redirect_uris != after.redirect_uris),
        ("post_logout_redirect_uris", before.post_logout_redirect_uris != after.post_logout_redirect_uris),
        ("grant_types", before.grant_types != after.grant_types),
        ("scopes", before.scopes != after.scopes),
        ("cors_origins", before.cors_origins != after.cors_origins),
        ("skip_consent", before.skip_consent != after.skip_consent),
        ("token_endpoint_auth_method", before.auth_method != after.auth_method),
        ("access_token_lifetime", before.access_token_lifetime != after.access_token_lifetime),
        ("require_mfa", before.require_mfa != after.require_mfa),
        (
            "require_pushed_authorization_requests",
            before.require_pushed_authorization_requests != after.require_pushed_authorization_requests,
        ),
        ("backchannel_logout_uri", before.backchannel_logout_uri != after.backchannel_logout_uri),
        (
            "backchannel_logout_session_required",
            before.backchannel_logout_session_required != after.backchannel_logout_session_required,
        ),
        ("dpop_bound_access_tokens", before.dpop_bound_access_tokens != after.dpop_bound_access_tokens),
        ("jwks", before.jwks != after.jwks),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}
