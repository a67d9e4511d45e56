//! What the HTTP layer needs to know about the deployment.

use url::Url;

use crate::limits::InputLimits;
use crate::proxy::{ProxyHeader, TrustedProxies};

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Public base URL; its origin is the only one allowed to send state-changing requests.
    pub issuer: Url,
    /// Maximum request body in bytes (default 64 KiB).
    pub body_limit: usize,
    /// Our own listener terminates TLS (HSTS is sent on its responses).
    pub tls: bool,
    /// Add `preload` to `Strict-Transport-Security`.
    pub hsts_preload: bool,
    /// Peers whose forwarding headers are believed (see `proxy`).
    pub trusted_proxies: TrustedProxies,
    /// Which forwarding header those proxies set.
    pub proxy_header: ProxyHeader,
    /// Per-request input limits (see `limits`).
    pub limits: InputLimits,
}

impl HttpSettings {
    pub fn new(issuer: Url, body_limit: usize) -> Self {
        Self {
            issuer,
            body_limit,
            tls: false,
            hsts_preload: false,
            trusted_proxies: TrustedProxies::default(),
            proxy_header: ProxyHeader::default(),
            limits: InputLimits::default(),
        }
    }

    /// Cookies carry `Secure` and the `__Host-` prefix only when the issuer is `https`
    /// (browsers refuse both over plain http; plain http is allowed for loopback only).
    pub fn secure_cookies(&self) -> bool {
        self.issuer.scheme() == "https"
    }

    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies() { "__Host-gatehouse_session" } else { "gatehouse_session" }
    }

    pub fn csrf_cookie(&self) -> &'static str {
        if self.secure_cookies() { "__Host-gatehouse_csrf" } else { "gatehouse_csrf" }
    }

    /// The pending second-factor step of a page sign-in (its random handle).
    pub fn mfa_cookie(&self) -> &'static str {
        if self.secure_cookies() { "__Host-gatehouse_mfa" } else { "gatehouse_mfa" }
    }

    /// The browser binding of federated logins (`state`, `nonce` and PKCE verifier derive from it).
    pub fn federation_cookie(&self) -> &'static str {
        if self.secure_cookies() { "__Host-gatehouse_federation" } else { "gatehouse_federation" }
    }

    /// `scheme://host[:port]` of the issuer, as browsers send it in `Origin`.
    pub fn origin(&self) -> String {
        self.issuer.origin().ascii_serialization()
    }
}
