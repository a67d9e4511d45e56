//! Registered resource servers (the APIs access tokens are for) and resource indicators (RFC
//! 8707 §2): what an operator registers, the rules a registration meets, and the store.
//!
//! A resource server is named by its identifier, an absolute URI without a fragment (RFC 8707
//! §2: the `resource` value "MUST be an absolute URI" and "MUST NOT include a fragment
//! component"), compared exactly. Tokens for it carry that identifier as `aud`, only the scopes
//! it lists, `permissions` only when it allows them, and its lifetime and signing algorithm.

use async_trait::async_trait;
use uuid::Uuid;

use super::scope::Scope;
use crate::clock::UnixTime;
use crate::keys::Algorithm;
use crate::store::StoreError;
use crate::token::PERMISSIONS_SCOPE;

/// Longest identifier accepted (a URL an operator types; anything longer is not one).
pub const MAX_RESOURCE_LEN: usize = 512;
/// Most resources one authorization request may name.
pub const MAX_RESOURCES_PER_REQUEST: usize = 10;

/// A registered resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServer {
    pub id: Uuid,
    /// The RFC 8707 resource indicator, and the `aud` of its tokens.
    pub identifier: String,
    pub name: String,
    /// The scopes its tokens may carry (the intersection with what was granted).
    pub scopes: Vec<String>,
    /// Seconds; `None`: the server's default access-token lifetime.
    pub access_token_lifetime: Option<i64>,
    /// The algorithm its tokens are signed with (never HS256: a resource server is not
    /// first-party and cannot hold our shared secret).
    pub signing_alg: Algorithm,
    /// Whether its tokens may carry the `permissions` claim.
    pub allow_permissions: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    /// Bumped by every change; an update is a compare-and-set on it.
    pub revision: i64,
}

impl ResourceServer {
    /// The scope of a token for this resource: the granted scopes it lists, plus `permissions`
    /// exactly when it was granted and the resource allows the claim (the flag decides,
    /// whatever the list says).
    pub fn narrow(&self, granted: &Scope) -> Scope {
        Scope::from_vec(
            granted
                .iter()
                .filter(|s| {
                    if *s == PERMISSIONS_SCOPE { self.allow_permissions } else { self.scopes.iter().any(|r| r == s) }
                })
                .map(str::to_owned)
                .collect(),
        )
    }
}

/// Why a `resource` value or a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("{0}")]
    Invalid(&'static str),
}

/// Checks an RFC 8707 §2 resource indicator: an absolute URI (scheme and hierarchical part),
/// no fragment, printable ASCII only, at most [`MAX_RESOURCE_LEN`] bytes. The value is compared
/// as sent (no normalisation), so what is registered is what clients must send.
pub fn check_resource_indicator(value: &str) -> Result<(), ResourceError> {
    if value.is_empty() || value.len() > MAX_RESOURCE_LEN {
        return Err(ResourceError::Invalid("a resource indicator must be 1 to 512 characters"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ResourceError::Invalid("a resource indicator must be printable ASCII without spaces"));
    }
    // RFC 8707 §2: "The URI MUST NOT include a fragment component."
    if value.contains('#') {
        return Err(ResourceError::Invalid("a resource indicator must not include a fragment"));
    }
    // RFC 8707 §2: "Its value MUST be an absolute URI" (RFC 3986 §4.3: a scheme, then the
    // rest); a relative reference has no scheme and does not parse without a base.
    url::Url::parse(value).map_err(|_| ResourceError::Invalid("a resource indicator must be an absolute URI"))?;
    Ok(())
}

/// What an operator registers (admin API, `gatehouse resources add`).
#[derive(Debug, Clone, Default)]
pub struct ResourceRegistration {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub access_token_lifetime: Option<i64>,
    /// `ES256` (default), `EdDSA` or `RS256`.
    pub signing_alg: Option<String>,
    pub allow_permissions: bool,
}

/// A partial change: absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ResourceUpdate {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// `Some(None)`: back to the server default.
    pub access_token_lifetime: Option<Option<i64>>,
    pub signing_alg: Option<String>,
    pub allow_permissions: Option<bool>,
}

fn check_name(name: &str) -> Result<String, ResourceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ResourceError::Invalid("name must be 1 to 200 characters without control characters"));
    }
    Ok(name.to_owned())
}

fn check_scopes(scopes: Vec<String>) -> Result<Vec<String>, ResourceError> {
    if scopes.len() > 100 {
        return Err(ResourceError::Invalid("at most 100 scopes"));
    }
    let parsed = Scope::parse(&scopes.join(" ")).map_err(|_| ResourceError::Invalid("a scope is not valid"))?;
    if scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
        return Err(ResourceError::Invalid("a scope is not valid"));
    }
    Ok(parsed.into_vec())
}

fn check_lifetime(lifetime: Option<i64>) -> Result<Option<i64>, ResourceError> {
    match lifetime {
        Some(l) if !(60..=86_400).contains(&l) => {
            Err(ResourceError::Invalid("access_token_lifetime must be 60 to 86400 seconds"))
        }
        other => Ok(other),
    }
}

fn check_alg(alg: &str) -> Result<Algorithm, ResourceError> {
    Algorithm::parse(alg).ok_or(ResourceError::Invalid("signing_alg must be ES256, EdDSA or RS256"))
}

impl ResourceRegistration {
    /// The resource server this registration describes, or the first rule it breaks.
    /// `reserved` are Gatehouse's own audiences (the issuer and the configured default): a
    /// resource server under one of them would make its tokens good for Gatehouse's own APIs.
    pub fn validate(self, reserved: &[String], now: UnixTime) -> Result<ResourceServer, ResourceError> {
        check_resource_indicator(&self.identifier)?;
        if reserved.contains(&self.identifier) {
            return Err(ResourceError::Invalid("this identifier is Gatehouse's own audience"));
        }
        Ok(ResourceServer {
            id: Uuid::now_v7(),
            identifier: self.identifier,
            name: check_name(&self.name)?,
            scopes: check_scopes(self.scopes)?,
            access_token_lifetime: check_lifetime(self.access_token_lifetime)?,
            signing_alg: check_alg(self.signing_alg.as_deref().unwrap_or("ES256"))?,
            allow_permissions: self.allow_permissions,
            created_at: now,
            updated_at: now,
            revision: 0,
        })
    }
}

impl ResourceUpdate {
    /// `before` with this change applied, checked by the registration's rules.
    pub fn apply(self, before: &ResourceServer, now: UnixTime) -> Result<ResourceServer, ResourceError> {
        let mut after = before.clone();
        if let Some(name) = self.name {
            after.name = check_name(&name)?;
        }
        if let Some(scopes) = self.scopes {
            after.scopes = check_scopes(scopes)?;
        }
        if let Some(lifetime) = self.access_token_lifetime {
            after.access_token_lifetime = check_lifetime(lifetime)?;
        }
        if let Some(alg) = self.signing_alg {
            after.signing_alg = check_alg(&alg)?;
        }
        if let Some(allow) = self.allow_permissions {
            after.allow_permissions = allow;
        }
        after.updated_at = now;
        Ok(after)
    }
}

/// Registered resource servers, and the resources each grant (authorization code, device
/// approval, and the refresh family it becomes, all under one grant id) was given.
#[async_trait]
pub trait ResourceServerStore: Send + Sync {
    /// [`StoreError::Conflict`] when the identifier is registered already.
    async fn insert_resource_server(&self, rs: &ResourceServer) -> Result<(), StoreError>;
    async fn resource_server(&self, id: Uuid) -> Result<Option<ResourceServer>, StoreError>;
    async fn resource_server_by_identifier(&self, identifier: &str) -> Result<Option<ResourceServer>, StoreError>;
    /// All, ordered by identifier.
    async fn list_resource_servers(&self) -> Result<Vec<ResourceServer>, StoreError>;
    /// Stores `rs` if its stored revision is still `rs.revision` (and bumps it); `false` when
    /// it is gone or changed since it was read.
    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<bool, StoreError>;
    async fn delete_resource_server(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Records the resources a grant was given (once, when its code or device approval is made).
    async fn set_grant_resources(&self, grant_id: Uuid, resources: &[String], now: UnixTime) -> Result<(), StoreError>;
    /// The resources of a grant; empty when it named none.
    async fn grant_resources(&self, grant_id: Uuid) -> Result<Vec<String>, StoreError>;
    /// Deletes the records of grants created before `cutoff` that no refresh family holds.
    async fn purge_grant_resources(&self, cutoff: UnixTime) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8707_s2_resource_must_be_absolute_without_fragment() {
        assert!(check_resource_indicator("https://api.example.com/").is_ok());
        assert!(check_resource_indicator("https://api.example.com/v1?tenant=a").is_ok(), "a query is allowed");
        assert!(check_resource_indicator("urn:example:api").is_ok());
        for bad in ["/api", "api.example.com", "", "https://api.example.com/#x", "https://a.example/ b", "x\0y"] {
            assert!(check_resource_indicator(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_resource_indicator(&format!("https://a.example/{}", "a".repeat(600))).is_err());
    }

    fn registration() -> ResourceRegistration {
        ResourceRegistration {
            identifier: "https://api.example.com/".into(),
            name: "API".into(),
            scopes: vec!["read".into(), "write".into()],
            ..Default::default()
        }
    }

    #[test]
    fn registrations_follow_the_rules() {
        let rs = registration().validate(&[], 1).unwrap();
        assert_eq!(rs.signing_alg, Algorithm::ES256);
        assert_eq!(rs.scopes, ["read", "write"]);
        let reserved = ["https://api.example.com/".to_owned()];
        assert!(registration().validate(&reserved, 1).is_err(), "Gatehouse's own audience is reserved");
        let bad_alg = ResourceRegistration { signing_alg: Some("HS256".into()), ..registration() };
        assert!(bad_alg.validate(&[], 1).is_err());
        let bad_life = ResourceRegistration { access_token_lifetime: Some(10), ..registration() };
        assert!(bad_life.validate(&[], 1).is_err());
        let bad_name = ResourceRegistration { name: "a\0b".into(), ..registration() };
        assert!(bad_name.validate(&[], 1).is_err());
        let bad_scope = ResourceRegistration { scopes: vec!["a b".into()], ..registration() };
        assert!(bad_scope.validate(&[], 1).is_err());
    }

    #[test]
    fn a_token_for_a_resource_carries_only_its_scopes_and_permissions_when_allowed() {
        let mut rs = registration().validate(&[], 1).unwrap();
        let granted = Scope::parse("openid read permissions offline_access").unwrap();
        assert_eq!(rs.narrow(&granted).to_string(), "read");
        rs.allow_permissions = true;
        assert_eq!(rs.narrow(&granted).to_string(), "read permissions");
        let updated = ResourceUpdate { access_token_lifetime: Some(Some(120)), ..Default::default() }.apply(&rs, 5);
        assert_eq!(updated.unwrap().access_token_lifetime, Some(120));
    }
}
