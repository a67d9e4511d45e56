//! Dynamic client registration (RFC 7591 §3) and its management protocol (RFC 7592 §2): a
//! client registers itself, gets a registration access token (stored as its SHA-256, compared
//! in constant time) and reads, replaces or deletes its registration with it. Also the
//! operator's initial access tokens and the sweeper of registrations never used.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client::{AuthMethod, Client, ClientSecret, RegistrationKind, generate_client_id};
use super::self_registration::{
    ClientMetadata, MetadataError, RegistrationPolicy, SelfRegistrationStore, registered_metadata,
};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::{Clock, UnixTime};
use crate::random;
use crate::store::{AuditStore, ClientStore, StoreError};

/// Who may register (`[oauth.registration] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// Anyone (RFC 7591 §3: an "open" registration endpoint).
    Open,
    /// Only with an operator-issued initial access token (RFC 7591 §3, §1.2).
    InitialAccessToken,
}

/// Methods a dynamically registered client may use; the first is RFC 7591 §2's default.
const DYNAMIC_METHODS: &[AuthMethod] = &[AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost, AuthMethod::None];

/// Longest lifetime of an initial access token: a year.
pub const MAX_INITIAL_TOKEN_LIFETIME: i64 = 365 * 86_400;

#[derive(Debug, thiserror::Error)]
pub enum DynamicRegistrationError {
    /// RFC 6750 §3.1 `invalid_token` (401): a missing or wrong initial or registration access
    /// token, or (RFC 7592 §2.1) a client that does not exist.
    #[error("the access token is missing, invalid or expired")]
    InvalidToken,
    /// RFC 7591 §3.2.2.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("randomness failed")]
    Random,
}

type Result<T> = std::result::Result<T, DynamicRegistrationError>;

pub struct DynamicRegistration {
    clients: Arc<dyn ClientStore>,
    store: Arc<dyn SelfRegistrationStore>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
    policy: RegistrationPolicy,
    mode: RegistrationMode,
    /// `{issuer}/oauth2/register/`: the registration client URIs (RFC 7592 §3).
    client_uri_base: String,
}

/// RFC 7591 §3.2.1 / RFC 7592 §3: the client information response.
pub type ClientInformation = Map<String, Value>;

fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

impl DynamicRegistration {
    pub fn new(
        clients: Arc<dyn ClientStore>,
        store: Arc<dyn SelfRegistrationStore>,
        audit: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
        policy: RegistrationPolicy,
        mode: RegistrationMode,
        issuer: &str,
    ) -> Self {
        let audit = Auditor::new(audit, clock.clone());
        Self { clients, store, audit, clock, policy, mode, client_uri_base: format!("{issuer}/oauth2/register/") }
    }

    pub fn mode(&self) -> RegistrationMode {
        self.mode
    }

    /// RFC 7591 §3.1: registers a client from `metadata`. `initial_token` is the bearer token of
    /// the request, required in [`RegistrationMode::InitialAccessToken`].
    pub async fn register(
        &self,
        metadata: &Value,
        initial_token: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<ClientInformation> {
        let now = self.clock.now();
        if self.mode == RegistrationMode::InitialAccessToken {
            let valid = match initial_token {
                Some(t) => self.store.initial_access_token_valid(&sha256(t), now).await?,
                None => false,
            };
            if !valid {
                return Err(DynamicRegistrationError::InvalidToken);
            }
        }
        let parsed = ClientMetadata::parse(metadata, &self.policy, DYNAMIC_METHODS)?;
        let id = generate_client_id().map_err(|_| DynamicRegistrationError::Random)?;
        let (mut client, secret) = parsed
            .registration("Self-registered application")
            .validate(id, now)
            .map_err(|e| MetadataError::Metadata(e.to_string()))?;
        let token = random::token().map_err(|_| DynamicRegistrationError::Random)?;
        client.lifecycle.registration = RegistrationKind::Dynamic;
        client.lifecycle.registration_token_hash = Some(sha256(&token));
        self.clients.insert_client(&client).await?;
        self.record(AuditEventType::ClientSelfRegistered, &client, ctx, json!({"registration": "dynamic"})).await;
        Ok(self.information(&client, secret.as_ref(), Some(&token)))
    }

    /// RFC 7592 §2.1: the registration of `client_id`, for the holder of its token.
    pub async fn read(&self, client_id: &str, token: Option<&str>) -> Result<ClientInformation> {
        let client = self.authorized(client_id, token).await?;
        Ok(self.information(&client, None, None))
    }

    /// RFC 7592 §2.2: replaces every metadata field of the registration. The secret and the
    /// registration access token stay as they are; the authentication method cannot change.
    pub async fn update(
        &self,
        client_id: &str,
        token: Option<&str>,
        metadata: &Value,
        ctx: &RequestContext,
    ) -> Result<ClientInformation> {
        let before = self.authorized(client_id, token).await?;
        // §2.2: the request MUST include client_id, equal to the one of the registration.
        if metadata.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(
                MetadataError::Metadata("client_id must be included and equal the registered one".into()).into()
            );
        }
        // §2.2: a client_secret, if included, MUST match the current one.
        if let Some(secret) = metadata.get("client_secret") {
            let ok = secret.as_str().is_some_and(|s| before.secret_matches(s, self.clock.now()));
            if !ok {
                return Err(MetadataError::Metadata("client_secret does not match the registered one".into()).into());
            }
        }
        let mut fields = metadata.clone();
        if let Some(obj) = fields.as_object_mut() {
            // Server-issued values that §2.2 lets the client send back unchanged.
            for k in [
                "client_id",
                "client_secret",
                "client_id_issued_at",
                "client_secret_expires_at",
                "registration_access_token",
                "registration_client_uri",
            ] {
                obj.remove(k);
            }
        }
        let parsed = ClientMetadata::parse(&fields, &self.policy, DYNAMIC_METHODS)?;
        if parsed.auth_method != before.auth_method {
            return Err(
                MetadataError::Metadata("token_endpoint_auth_method cannot be changed; register anew".into()).into()
            );
        }
        let (checked, _) = parsed
            .registration(&before.name)
            .validate(before.id.clone(), before.created_at)
            .map_err(|e| MetadataError::Metadata(e.to_string()))?;
        // Only what the client registered changes; what an operator set on it since stays.
        let after = before.clone().redescribed(checked);
        if !self.clients.update_client(&after).await? {
            // Changed or deleted meanwhile: as if the token were wrong (§2.1's answer).
            return Err(DynamicRegistrationError::InvalidToken);
        }
        self.record(AuditEventType::ClientSelfUpdated, &after, ctx, json!({})).await;
        let stored = self.clients.client_by_id(client_id).await?.unwrap_or(after);
        Ok(self.information(&stored, None, None))
    }

    /// RFC 7592 §2.3: deletes the registration (its tokens go with it).
    pub async fn delete(&self, client_id: &str, token: Option<&str>, ctx: &RequestContext) -> Result<()> {
        let client = self.authorized(client_id, token).await?;
        self.clients.delete_client(&client.id, self.clock.now()).await?;
        self.record(AuditEventType::ClientSelfDeleted, &client, ctx, json!({})).await;
        Ok(())
    }

    /// A new initial access token (RFC 7591 §3) valid for `lifetime` seconds, shown once.
    pub async fn create_initial_access_token(&self, lifetime: i64) -> Result<(String, UnixTime)> {
        if !(60..=MAX_INITIAL_TOKEN_LIFETIME).contains(&lifetime) {
            return Err(MetadataError::Metadata("the lifetime must be 60 seconds to 365 days".into()).into());
        }
        let token = random::token().map_err(|_| DynamicRegistrationError::Random)?;
        let now = self.clock.now();
        self.store.insert_initial_access_token(&sha256(&token), now, now + lifetime).await?;
        Ok((token, now + lifetime))
    }

    /// The self-registered client `client_id` if `token` is its registration access token.
    /// Every failure looks the same (RFC 7592 §2.1: an unknown client is a 401 too).
    async fn authorized(&self, client_id: &str, token: Option<&str>) -> Result<Client> {
        let token = token.ok_or(DynamicRegistrationError::InvalidToken)?;
        let presented = sha256(token);
        let client = self.clients.client_by_id(client_id).await?;
        let ok = client.as_ref().is_some_and(|c| {
            c.lifecycle.registration == RegistrationKind::Dynamic
                && c.lifecycle.registration_token_hash.as_deref().is_some_and(|h| bool::from(h.ct_eq(&presented)))
        });
        match client {
            Some(c) if ok => Ok(c),
            _ => Err(DynamicRegistrationError::InvalidToken),
        }
    }

    fn information(&self, client: &Client, secret: Option<&ClientSecret>, token: Option<&str>) -> ClientInformation {
        let mut m = registered_metadata(client);
        if let Some(secret) = secret {
            m.insert("client_secret".into(), json!(secret.expose()));
            // RFC 7591 §3.2.1: 0 means the secret does not expire.
            m.insert("client_secret_expires_at".into(), json!(0));
        }
        if let Some(token) = token {
            m.insert("registration_access_token".into(), json!(token));
        }
        m.insert("registration_client_uri".into(), json!(format!("{}{}", self.client_uri_base, client.id)));
        m
    }

    async fn record(&self, event: AuditEventType, client: &Client, ctx: &RequestContext, mut details: Value) {
        if let Some(d) = details.as_object_mut() {
            d.insert("redirect_uris".into(), json!(client.redirect_uris));
            d.insert("auth_method".into(), json!(client.auth_method.as_str()));
        }
        let subject = Some(format!("client:{}", client.id));
        if let Err(e) =
            self.audit.record(event, Outcome::Success, Some("anonymous".into()), subject, ctx, details).await
        {
            tracing::warn!(error = %e, "audit event not stored");
        }
    }
}

/// Deletes self-registered clients (both kinds) that were never used within the policy's
/// lifetime; returns how many.
pub async fn sweep_unused_registrations(
    clients: &dyn ClientStore,
    store: &dyn SelfRegistrationStore,
    audit: &Auditor,
    now: UnixTime,
    lifetime: i64,
) -> std::result::Result<usize, StoreError> {
    if lifetime <= 0 {
        return Ok(0);
    }
    let ids = store.unused_registrations(now - lifetime).await?;
    let mut deleted = 0;
    for id in ids {
        if clients.delete_client(&id, now).await? {
            deleted += 1;
            let details = json!({"reason": "never used", "lifetime_seconds": lifetime});
            let subject = Some(format!("client:{id}"));
            let ctx = RequestContext::default();
            if let Err(e) =
                audit.record(AuditEventType::ClientSelfExpired, Outcome::Success, None, subject, &ctx, details).await
            {
                tracing::warn!(error = %e, "audit event not stored");
            }
        }
    }
    Ok(deleted)
}
