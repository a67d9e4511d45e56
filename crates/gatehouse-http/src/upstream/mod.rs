//! The upstream identity providers Gatehouse signs users in through (issue #8), as an OAuth 2.0
//! / OpenID Connect client: discovery and JWKS (cached, JWKS refetched on an unknown `kid`),
//! the authorization URL with `state`, `nonce` and PKCE S256, the server-to-server code
//! exchange with the client secret, and full ID token validation (OIDC Core §3.1.3.7). GitHub
//! speaks plain OAuth 2.0: its identity comes from its REST API ([`github`]).
//!
//! The rules (which issuer, which claims, who becomes whom) are in `gatehouse_core::federation`;
//! this module only talks HTTP.

mod github;
mod http;
mod oidc;

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_core::federation::{FlowSecrets, LoginState, ProviderConfig, ProviderKind, UpstreamIdentity};
use secrecy::SecretString;

pub use http::Http;
use oidc::OidcUpstream;

/// Why talking to an upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream could not be reached or answered nonsense (discovery, JWKS, token endpoint):
    /// a 502 page, logged.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// The upstream's answer failed a check (ID token, `iss`, token response): a 400 page and a
    /// `federation.login_failed` audit event with `reason`.
    #[error("{reason}: {detail}")]
    Rejected { reason: &'static str, detail: String },
}

impl UpstreamError {
    pub(crate) fn rejected(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::Rejected { reason, detail: detail.into() }
    }
}

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

    /// RFC 9207 §2.4 (and RFC 9700 §4.4.2, mix-up defence): an `iss` in the authorization
    /// response must be this provider's; a provider that advertises
    /// `authorization_response_iss_parameter_supported` must send one.
    pub async fn check_response_iss(&self, iss: Option<&str>) -> Result<(), UpstreamError> {
        match (iss, self.config.kind) {
            (Some(iss), _) if !self.config.issuer_rule.accepts_response_iss(iss) => {
                Err(UpstreamError::rejected("issuer_mismatch", "the authorization response names another issuer"))
            }
            (Some(_), _) | (None, ProviderKind::GitHub) => Ok(()),
            (None, _) if self.oidc.iss_parameter_required(self).await? => {
                Err(UpstreamError::rejected("issuer_missing", "the provider must send `iss` (RFC 9207)"))
            }
            (None, _) => Ok(()),
        }
    }

    /// Exchanges the code (with the PKCE verifier and the client secret) and returns who the
    /// upstream says the user is, after every check.
    pub async fn identity(
        &self,
        code: &str,
        secrets: &FlowSecrets,
        state: &LoginState,
        now: i64,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        match self.config.kind {
            ProviderKind::GitHub => github::identity(self, code, secrets).await,
            _ => self.oidc.identity(self, code, secrets, state, now).await,
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
