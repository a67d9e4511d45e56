//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a
//! `client_id` that is an https URL with a path names the JSON document describing the client.
//! [`MetadataDocumentClients`] sits in front of the client store: such an id is resolved by
//! fetching the document (through a [`MetadataDocumentFetcher`], which the HTTP layer provides
//! with its size, time and address limits), checking it, and storing the client it describes
//! until the document's cache lifetime ends (so codes, consents and refresh tokens can refer to
//! it like to any client). Only public clients (`token_endpoint_auth_method` `none`).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use url::Url;

use super::client::{AuthMethod, Client, RegistrationKind};
use super::self_registration::{ClientMetadata, RegistrationPolicy};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::{Clock, UnixTime};
use crate::store::{AuditStore, ClientStore, StoreError};

/// Longest client_id URL accepted.
pub const MAX_CLIENT_ID_URL: usize = 2048;

/// A fetched document: its body and the lifetime its `Cache-Control`/`Expires` gave it.
#[derive(Debug, Clone)]
pub struct FetchedDocument {
    pub body: Vec<u8>,
    /// Seconds; `None` when the response said nothing about caching.
    pub max_age: Option<i64>,
}

/// Fetches a metadata document: https only, no redirects, bounded in size and time, never from
/// a private address unless the operator allowed it for development.
#[async_trait]
pub trait MetadataDocumentFetcher: Send + Sync {
    async fn fetch(&self, url: &Url) -> Result<FetchedDocument, String>;
}

/// How long a fetched document is trusted.
#[derive(Debug, Clone)]
pub struct MetadataDocumentPolicy {
    /// Lower bound of the cache lifetime (a `no-store` document is still reused this long).
    pub min_cache: i64,
    /// Upper bound, and the lifetime of a document that says nothing about caching (capped).
    pub max_cache: i64,
    /// Shared with dynamic registration: redirect URI schemes and hosts, grant types, scopes.
    pub registration: RegistrationPolicy,
}

/// Why a client_id URL or its document was refused (logged, never shown: the user sees "not
/// registered").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataDocumentError {
    #[error("the client_id is not a valid client metadata document URL: {0}")]
    Url(&'static str),
    #[error("the metadata document could not be fetched: {0}")]
    Fetch(String),
    #[error("the metadata document is invalid: {0}")]
    Document(String),
}

/// Whether `id` is meant as a metadata document URL (and so is never a stored client's id
/// unless an operator registered it so).
pub fn is_metadata_document_id(id: &str) -> bool {
    id.starts_with("https://")
}

/// The draft's rules for a client identifier URL ("Client Identifier"): https, a host, a path
/// other than `/`, no dot segments, no fragment, no user name or password; and canonical (so
/// one client has one id).
pub fn parse_client_id_url(id: &str) -> Result<Url, MetadataDocumentError> {
    let err = MetadataDocumentError::Url;
    if id.len() > MAX_CLIENT_ID_URL {
        return Err(err("longer than 2048 bytes"));
    }
    let url = Url::parse(id).map_err(|_| err("not a URL"))?;
    if url.scheme() != "https" || url.host().is_none() {
        return Err(err("must be an https URL with a host"));
    }
    if url.fragment().is_some() || id.contains('#') {
        return Err(err("must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err("must not contain a user name or password"));
    }
    let raw_path = id.splitn(4, '/').nth(3).unwrap_or_default();
    if raw_path
        .split(['/', '?'])
        .any(|s| s == "." || s == ".." || s.eq_ignore_ascii_case("%2e") || s.eq_ignore_ascii_case("%2e%2e"))
    {
        return Err(err("must not contain dot segments"));
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err(err("must have a path"));
    }
    if url.as_str() != id {
        return Err(err("must be written in canonical form"));
    }
    Ok(url)
}

/// Checks a fetched document against its URL and the policy, and builds the client it
/// describes ("Client Metadata"): the document's `client_id` MUST equal the URL exactly; a
/// shared secret MUST NOT appear and the client authenticates with `none`.
pub fn client_from_document(
    url: &Url,
    doc: &FetchedDocument,
    policy: &MetadataDocumentPolicy,
    now: UnixTime,
) -> Result<Client, MetadataDocumentError> {
    let bad = |m: &str| MetadataDocumentError::Document(m.to_owned());
    let value: Value = serde_json::from_slice(&doc.body).map_err(|_| bad("not a JSON document"))?;
    let obj = value.as_object().ok_or_else(|| bad("not a JSON object"))?;
    if obj.get("client_id").and_then(Value::as_str) != Some(url.as_str()) {
        return Err(bad("its client_id is not the URL it was fetched from"));
    }
    if obj.contains_key("client_secret") || obj.contains_key("client_secret_expires_at") {
        return Err(bad("it contains a client secret"));
    }
    let mut metadata = value.clone();
    if let Some(m) = metadata.as_object_mut() {
        m.remove("client_id");
    }
    let parsed = ClientMetadata::parse(&metadata, &policy.registration, &[AuthMethod::None])
        .map_err(|e| MetadataDocumentError::Document(e.to_string()))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let (mut client, _) = parsed
        .registration(&host)
        .validate(url.as_str().to_owned(), now)
        .map_err(|e| MetadataDocumentError::Document(e.to_string()))?;
    client.lifecycle.registration = RegistrationKind::MetadataDocument;
    let lifetime = doc.max_age.unwrap_or(policy.max_cache).clamp(policy.min_cache, policy.max_cache);
    client.lifecycle.metadata_expires_at = Some(now + lifetime);
    Ok(client)
}

/// At most this many documents are fetched at once (each one is a DNS lookup and an outbound
/// request any unauthenticated caller can cause); a lookup beyond it is an unknown client.
const MAX_CONCURRENT_FETCHES: usize = 8;
/// A client_id whose document was refused is not fetched again for this long (seconds)...
const REFUSAL_MEMORY: i64 = 60;
/// ...and at most this many such ids are remembered.
const MAX_REMEMBERED_REFUSALS: usize = 4096;

/// Recently refused client_ids, so that a caller repeating one cannot make us fetch it again
/// and again (a fetch per authorization request against someone else's host).
#[derive(Default)]
struct Refusals(std::sync::Mutex<std::collections::HashMap<String, UnixTime>>);

impl Refusals {
    fn recent(&self, id: &str, now: UnixTime) -> bool {
        let map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(id).is_some_and(|until| now < *until)
    }

    fn remember(&self, id: &str, now: UnixTime) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_REMEMBERED_REFUSALS {
            map.retain(|_, until| now < *until);
            if map.len() >= MAX_REMEMBERED_REFUSALS {
                map.clear();
            }
        }
        map.insert(id.to_owned(), now + REFUSAL_MEMORY);
    }
}

/// A [`ClientStore`] that resolves metadata document client_ids; every other id and every
/// other operation goes to `inner` unchanged.
pub struct MetadataDocumentClients {
    inner: Arc<dyn ClientStore>,
    refusals: Refusals,
    fetches: tokio::sync::Semaphore,
    fetcher: Arc<dyn MetadataDocumentFetcher>,
    clock: Arc<dyn Clock>,
    policy: MetadataDocumentPolicy,
    audit: Auditor,
}

impl MetadataDocumentClients {
    pub fn new(
        inner: Arc<dyn ClientStore>,
        fetcher: Arc<dyn MetadataDocumentFetcher>,
        clock: Arc<dyn Clock>,
        policy: MetadataDocumentPolicy,
        audit: Arc<dyn AuditStore>,
    ) -> Self {
        let audit = Auditor::new(audit, clock.clone());
        let (refusals, fetches) = (Refusals::default(), tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES));
        Self { inner, refusals, fetches, fetcher, clock, policy, audit }
    }

    /// Fetches and checks the document, and stores the client (keeping what an operator set
    /// on an earlier copy: disabled, revision, creation time).
    async fn refresh(&self, id: &str, stored: Option<Client>) -> Result<Option<Client>, StoreError> {
        let now = self.clock.now();
        if self.refusals.recent(id, now) {
            return Ok(None);
        }
        let Ok(_fetching) = self.fetches.try_acquire() else {
            tracing::warn!("client metadata document not fetched: too many fetches at once");
            return Ok(None);
        };
        let resolved = async {
            let url = parse_client_id_url(id)?;
            let doc = self.fetcher.fetch(&url).await.map_err(MetadataDocumentError::Fetch)?;
            client_from_document(&url, &doc, &self.policy, now)
        }
        .await;
        let mut client = match resolved {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(client_id = %id.escape_debug(), reason = %e, "client metadata document refused");
                self.refusals.remember(id, now);
                return Ok(None);
            }
        };
        match stored {
            Some(old) => {
                // The document decides what it describes; what an operator set on the client
                // (disabled, MFA, PAR, DPoP, back-channel logout, …) stays.
                let expires = client.lifecycle.metadata_expires_at;
                client = old.redescribed(client);
                client.lifecycle.metadata_expires_at = expires;
                // A concurrent refresh won: its copy is as good as ours.
                self.inner.update_client(&client).await?;
            }
            None => match self.inner.insert_client(&client).await {
                Ok(()) => {
                    let details = json!({"registration": "metadata_document", "redirect_uris": client.redirect_uris});
                    let subject = Some(format!("client:{}", client.id));
                    let (event, ctx) = (AuditEventType::ClientSelfRegistered, RequestContext::default());
                    if let Err(e) = self.audit.record(event, Outcome::Success, None, subject, &ctx, details).await {
                        tracing::warn!(error = %e, "audit event not stored");
                    }
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            },
        }
        Ok(Some(client))
    }
}

#[async_trait]
impl ClientStore for MetadataDocumentClients {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.inner.insert_client(client).await
    }

    async fn client_by_id(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let stored = self.inner.client_by_id(id).await?;
        if !is_metadata_document_id(id) {
            return Ok(stored);
        }
        match stored {
            // An operator registered this URL as an ordinary client id: it stays one.
            Some(c) if c.lifecycle.registration != RegistrationKind::MetadataDocument => Ok(Some(c)),
            Some(c) if c.lifecycle.metadata_expires_at.is_some_and(|at| self.clock.now() < at) => Ok(Some(c)),
            stored => self.refresh(id, stored).await,
        }
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.inner.list_clients().await
    }

    async fn update_client(&self, client: &Client) -> Result<bool, StoreError> {
        self.inner.update_client(client).await
    }

    async fn delete_client(&self, id: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.inner.delete_client(id, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> MetadataDocumentPolicy {
        MetadataDocumentPolicy { min_cache: 60, max_cache: 3600, registration: RegistrationPolicy::default() }
    }

    fn doc(v: Value, max_age: Option<i64>) -> FetchedDocument {
        FetchedDocument { body: serde_json::to_vec(&v).unwrap(), max_age }
    }

    #[test]
    fn client_id_url_rules() {
        assert!(parse_client_id_url("https://app.example.com/client.json").is_ok());
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com/",
            "https://app.example.com",
            "https://app.example.com/a/../b",
            "https://app.example.com/a/%2e%2e/b",
            "https://app.example.com/c#x",
            "https://user:pw@app.example.com/c",
            "https://APP.example.com/c",
            "not a url",
        ] {
            assert!(parse_client_id_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn document_client_id_must_equal_the_url() {
        let url = parse_client_id_url("https://app.example.com/client.json").unwrap();
        let ok =
            json!({"client_id": url.as_str(), "client_name": "App", "redirect_uris": ["https://app.example.com/cb"]});
        let c = client_from_document(&url, &doc(ok.clone(), Some(10)), &policy(), 1000).unwrap();
        assert_eq!((c.id.as_str(), c.is_public()), (url.as_str(), true));
        assert_eq!(c.lifecycle.registration, RegistrationKind::MetadataDocument);
        assert_eq!(c.lifecycle.metadata_expires_at, Some(1060), "cache lifetime raised to the minimum");
        let long = client_from_document(&url, &doc(ok.clone(), Some(1_000_000)), &policy(), 0).unwrap();
        assert_eq!(long.lifecycle.metadata_expires_at, Some(3600), "and capped at the maximum");
        let mut other = ok.clone();
        other["client_id"] = json!("https://evil.example/client.json");
        assert!(client_from_document(&url, &doc(other, None), &policy(), 0).is_err());
        let mut secret = ok.clone();
        secret["token_endpoint_auth_method"] = json!("client_secret_basic");
        assert!(client_from_document(&url, &doc(secret, None), &policy(), 0).is_err());
        let mut with_secret = ok;
        with_secret["client_secret"] = json!("s");
        assert!(client_from_document(&url, &doc(with_secret, None), &policy(), 0).is_err());
    }
}
