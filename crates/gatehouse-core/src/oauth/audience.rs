//! Resource indicators in requests (RFC 8707 §2.1 authorization requests, §2.2 access-token
//! requests): which registered resource servers a grant is for, and which one an access token
//! names as its `aud`.
//!
//! - The authorization request may name several resources; each must be registered (else
//!   `invalid_target`). The grant remembers them under its id.
//! - A token request names at most one (Gatehouse issues one audience per token); it must be
//!   one the grant was given. When the grant has exactly one, it is the default. A grant with
//!   several needs the token request to choose ("missing" is one of RFC 8707's reasons for
//!   `invalid_target`).
//! - Without any `resource`, tokens are Gatehouse's as before (`aud` = the configured
//!   audience).

use uuid::Uuid;

use super::error::{ErrorCode, OAuthError};
use super::params::Param;
use super::resource::{MAX_RESOURCES_PER_REQUEST, ResourceServer, check_resource_indicator};
use super::service::OAuthService;

pub(super) fn invalid_target(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

impl OAuthService {
    /// The registered resource server `identifier` names, or `invalid_target`.
    async fn registered_resource(&self, identifier: &str) -> Result<ResourceServer, OAuthError> {
        // RFC 8707 §2: "MUST be an absolute URI" and "MUST NOT include a fragment component".
        check_resource_indicator(identifier).map_err(|e| invalid_target(e.to_string()))?;
        self.resources
            .resource_server_by_identifier(identifier)
            .await?
            .ok_or_else(|| invalid_target("the resource is not registered"))
    }

    /// RFC 8707 §2.1: the `resource` values of an authorization request, each checked and
    /// registered, without duplicates.
    pub(super) async fn requested_resources(&self, param: &Param) -> Result<Vec<String>, OAuthError> {
        let mut out: Vec<String> = Vec::new();
        for value in param.all() {
            if !out.iter().any(|r| r == value) {
                out.push(value.to_owned());
            }
        }
        if out.len() > MAX_RESOURCES_PER_REQUEST {
            return Err(invalid_target("too many resources in one request"));
        }
        for r in &out {
            self.registered_resource(r).await?;
        }
        Ok(out)
    }

    /// Records the resources of a grant (nothing when it names none).
    pub(super) async fn remember_resources(&self, grant_id: Uuid, resources: &[String]) -> Result<(), OAuthError> {
        if resources.is_empty() {
            return Ok(());
        }
        Ok(self.resources.set_grant_resources(grant_id, resources, self.clock.now()).await?)
    }

    /// RFC 8707 §2.2: the resource server an access token of grant `grant_id` is for, from the
    /// token request's `resource` and the resources the grant was given. `None`: Gatehouse's
    /// own audience (neither names one).
    pub(super) async fn token_resource(
        &self,
        requested: &Param,
        grant_id: Option<Uuid>,
    ) -> Result<Option<ResourceServer>, OAuthError> {
        let requested = match requested.get_raw() {
            Err(_) => return Err(invalid_target("Gatehouse issues one audience per token: send one resource")),
            Ok(v) => v.filter(|v| !v.is_empty()),
        };
        let granted = match grant_id {
            Some(id) => self.resources.grant_resources(id).await?,
            None => Vec::new(),
        };
        let chosen = match (requested, granted.as_slice()) {
            (None, []) => return Ok(None),
            (None, [only]) => only.clone(),
            (None, _) => {
                return Err(invalid_target("the grant is for several resources: name one with the resource parameter"));
            }
            // Client credentials: no grant, any registered resource.
            (Some(r), _) if grant_id.is_none() => r.to_owned(),
            (Some(r), granted) if granted.iter().any(|g| g == r) => r.to_owned(),
            (Some(_), _) => return Err(invalid_target("the resource was not granted with this authorization")),
        };
        // A resource server deleted since the grant is unknown now.
        self.registered_resource(&chosen).await.map(Some)
    }
}
