//! `[oauth]`: authorization-server policy.

use std::path::PathBuf;

use anyhow::{Context, bail};
use gatehouse_core::oauth::{GrantType, MetadataDocumentPolicy, RegistrationMode, RegistrationPolicy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthConfig {
    /// RFC 9126 §5: every client must push its authorization requests to `/oauth2/par` first;
    /// a plain request to `/oauth2/authorize` is refused with `invalid_request`. A client can
    /// also be required to on its own (`require_pushed_authorization_requests`).
    pub require_pushed_authorization_requests: bool,
    /// `[oauth.registration]`: dynamic client registration (RFC 7591/7592) and the policy
    /// every self-registered client must fit (metadata-document clients included).
    pub registration: RegistrationConfig,
    /// `[oauth.client_id_metadata_document]`: https client_ids resolved by fetching them.
    pub client_id_metadata_document: MetadataDocumentConfig,
}

/// `[oauth.registration] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationModeConfig {
    /// No registration endpoint (the default).
    #[default]
    Disabled,
    /// Registration needs an initial access token (`gatehouse clients registration-token create`).
    InitialAccessToken,
    /// Anyone may register a client.
    Open,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistrationConfig {
    pub mode: RegistrationModeConfig,
    /// Schemes a self-registered redirect URI may use (https, and http on loopback only).
    pub allowed_redirect_schemes: Vec<String>,
    /// Hosts a self-registered redirect URI may name (`*.example.com` for subdomains); empty: any.
    pub allowed_redirect_hosts: Vec<String>,
    pub allowed_grant_types: Vec<String>,
    /// Scopes a self-registered client may be given (never `gatehouse:admin`).
    pub allowed_scopes: Vec<String>,
    /// Seconds after which a self-registered client never used at the token endpoint is deleted
    /// (0: never). Default 30 days.
    pub unused_registration_lifetime: i64,
    /// Seconds between two runs of that sweeper. Default one hour.
    pub sweep_interval: u64,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        let p = RegistrationPolicy::default();
        Self {
            mode: RegistrationModeConfig::Disabled,
            allowed_redirect_schemes: p.allowed_redirect_schemes,
            allowed_redirect_hosts: p.allowed_redirect_hosts,
            allowed_grant_types: p.allowed_grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            allowed_scopes: p.allowed_scopes,
            unused_registration_lifetime: p.unused_lifetime,
            sweep_interval: 3600,
        }
    }
}

impl RegistrationConfig {
    pub fn mode(&self) -> Option<RegistrationMode> {
        match self.mode {
            RegistrationModeConfig::Disabled => None,
            RegistrationModeConfig::InitialAccessToken => Some(RegistrationMode::InitialAccessToken),
            RegistrationModeConfig::Open => Some(RegistrationMode::Open),
        }
    }

    pub fn policy(&self) -> anyhow::Result<RegistrationPolicy> {
        for s in &self.allowed_redirect_schemes {
            if s != "https" && s != "http" {
                bail!("oauth.registration.allowed_redirect_schemes: only https and http (loopback) are supported");
            }
        }
        let allowed_grant_types = self
            .allowed_grant_types
            .iter()
            .map(|g| {
                GrantType::parse(g).with_context(|| format!("oauth.registration.allowed_grant_types: unknown {g:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if self.allowed_scopes.iter().any(|s| gatehouse_core::oauth::is_privileged(s)) {
            bail!("oauth.registration.allowed_scopes: privileged scopes are never given to self-registered clients");
        }
        if self.unused_registration_lifetime < 0 || self.sweep_interval == 0 {
            bail!("oauth.registration: unused_registration_lifetime must be >= 0 and sweep_interval > 0");
        }
        Ok(RegistrationPolicy {
            allowed_redirect_schemes: self.allowed_redirect_schemes.clone(),
            allowed_redirect_hosts: self.allowed_redirect_hosts.clone(),
            allowed_grant_types,
            allowed_scopes: self.allowed_scopes.clone(),
            unused_lifetime: self.unused_registration_lifetime,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MetadataDocumentConfig {
    pub enabled: bool,
    /// DEVELOPMENT ONLY: fetch documents from loopback and private addresses too. Anyone who can
    /// start an authorization request could make the server fetch URLs inside your network.
    pub allow_private_addresses_insecure_dev_only: bool,
    /// PEM certificates trusted for these fetches on top of the system's roots.
    pub extra_ca_file: Option<PathBuf>,
    /// Largest document accepted, 1024 to 65536 bytes. Default 5120.
    pub max_document_bytes: usize,
    /// Seconds one fetch may take. Default 5.
    pub fetch_timeout: u64,
    /// Bounds of how long a fetched document is trusted, whatever its Cache-Control/Expires say.
    pub min_cache_seconds: i64,
    pub max_cache_seconds: i64,
}

impl Default for MetadataDocumentConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            allow_private_addresses_insecure_dev_only: false,
            extra_ca_file: None,
            max_document_bytes: 5120,
            fetch_timeout: 5,
            min_cache_seconds: 60,
            max_cache_seconds: 86_400,
        }
    }
}

impl MetadataDocumentConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        if !(1024..=65_536).contains(&self.max_document_bytes) {
            bail!("oauth.client_id_metadata_document.max_document_bytes must be 1024 to 65536");
        }
        if !(1..=30).contains(&self.fetch_timeout) {
            bail!("oauth.client_id_metadata_document.fetch_timeout must be 1 to 30 seconds");
        }
        if self.min_cache_seconds < 0 || self.max_cache_seconds < self.min_cache_seconds {
            bail!("oauth.client_id_metadata_document: need 0 <= min_cache_seconds <= max_cache_seconds");
        }
        Ok(())
    }

    pub fn policy(&self, registration: RegistrationPolicy) -> MetadataDocumentPolicy {
        MetadataDocumentPolicy { min_cache: self.min_cache_seconds, max_cache: self.max_cache_seconds, registration }
    }
}

/// `[dpop]`: DPoP (RFC 9449) policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DpopConfig {
    /// RFC 9449 §8, §9: every DPoP proof (token endpoint, UserInfo, admin and decision APIs)
    /// must carry a recent server nonce (`DPoP-Nonce`); a proof without one is refused with
    /// `use_dpop_nonce` and a fresh nonce. Off by default: it costs every DPoP client one extra
    /// round trip per nonce lifetime, and replay is already refused cluster-wide by the `jti`
    /// record and the five-minute `iat` window. Turn it on to stop proofs pre-made by a
    /// compromised client (e.g. XSS) with a future `iat` (RFC 9449 §11.2).
    pub require_nonce: bool,
}
