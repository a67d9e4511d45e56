//! What the HTTP layer needs to know about the deployment.

use url::Url;

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Public base URL; its origin is the only one allowed to send state-changing requests.
    pub issuer: Url,
    /// Maximum request body in bytes (default 64 KiB).
    pub body_limit: usize,
}

impl HttpSettings {
    pub fn new(issuer: Url, body_limit: usize) -> Self {
        Self { issuer, body_limit }
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

    /// `scheme://host[:port]` of the issuer, as browsers send it in `Origin`.
    pub fn origin(&self) -> String {
        self.issuer.origin().ascii_serialization()
    }
}
