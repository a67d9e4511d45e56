//! The upstream identity providers Gatehouse signs users in through (issue #8), as an OAuth 2.0
//! / OpenID Connect client: discovery and JWKS (cached, JWKS refetched on an unknown `kid`),
//! the authorization URL with `state`, `nonce` and PKCE S256, the server-to-server code
//! exchange with the client secret, and full ID token validation (OIDC Core §3.1.3.7). GitHub
//! speaks plain OAuth 2.0: its identity comes from its REST API ([`github`]).
//!
//! The rules (which issuer, which claims, who becomes whom, and the order of the callback's
//! steps) are in `gatehouse_core::federation`; this module only talks HTTP, as core's
//! `UpstreamExchange` port.

mod github;
mod http;
pub mod metadata_document;
mod oidc;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::UnixTime;
use gatehouse_core::federation::{
    FlowSecrets, LoginState, ProviderConfig, ProviderKind, UpstreamExchange, UpstreamIdentity,
};
use secrecy::SecretString;

pub use gatehouse_core::federation::UpstreamError;
pub use http::Http;
use oidc::OidcUpstream;

/// One configured provider with its secret and its caches.
pub struct Upstream {
    pub config: ProviderConfig,
    secret: SecretString,
    redirect_uri: String,
    http: Http,
    oidc: OidcUpstream,
    clock: Arc<dyn gatehouse_core::Clock>,
}

impl Upstream {
    /// The URL to send the browser to (RFC 6749 §4.1.1, OIDC Core §3.1.2.1). Only ever built
    /// from the configured issuer's discovery document (or GitHub's configured base URL).
    pub async fn authorization_url(&self, secrets: &FlowSecrets, force_login: bool) -> Result<String, UpstreamError> {
        match self.config.kind {
            ProviderKind::GitHub => Ok(github::authorization_url(self, secrets, force_login)),
            _ => self.oidc.authorization_url(self, secrets, force_login).await,
        }
    }
}

/// The callback's upstream steps; their order is `FederationService::callback`'s.
#[async_trait]
impl UpstreamExchange for Upstream {
    fn provider(&self) -> &ProviderConfig {
        &self.config
    }

    async fn iss_parameter_required(&self) -> Result<bool, UpstreamError> {
        match self.config.kind {
            ProviderKind::GitHub => Ok(false),
            _ => self.oidc.iss_parameter_required(self).await,
        }
    }

    /// Exchanges the code (with the PKCE verifier and the client secret) and returns who the
    /// upstream says the user is, after every check.
    async fn redeem(
        &self,
        code: &str,
        secrets: &FlowSecrets,
        login: &LoginState,
        now: UnixTime,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        match self.config.kind {
            ProviderKind::GitHub => github::identity(self, code, secrets).await,
            _ => self.oidc.identity(self, code, secrets, login, now).await,
        }
    }
}

/// Federation as the handlers see it: the core service and the configured upstreams.
pub struct Federation {
    pub service: Arc<gatehouse_core::federation::FederationService>,
    pub upstreams: Upstreams,
}

/// Every configured provider, by id, in configuration order for the login page.
#[derive(Default)]
pub struct Upstreams {
    by_id: BTreeMap<String, Arc<Upstream>>,
    order: Vec<String>,
}

impl Upstreams {
    /// `issuer` is ours: callbacks are `<issuer>/login/<id>/callback`.
    pub fn new(
        providers: Vec<(ProviderConfig, SecretString)>,
        issuer: &str,
        clock: Arc<dyn gatehouse_core::Clock>,
    ) -> Result<Self, reqwest::Error> {
        let http = Http::new()?;
        let mut me = Self::default();
        for (config, secret) in providers {
            let redirect_uri = config.redirect_uri(issuer);
            me.order.push(config.id.clone());
            let upstream = Upstream {
                config,
                secret,
                redirect_uri,
                http: http.clone(),
                oidc: OidcUpstream::default(),
                clock: clock.clone(),
            };
            me.by_id.insert(upstream.config.id.clone(), Arc::new(upstream));
        }
        Ok(me)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Upstream>> {
        self.by_id.get(id).cloned()
    }

    /// `(id, display name)` in configuration order.
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .map(|u| (u.config.id.clone(), u.config.display_name.clone()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}
