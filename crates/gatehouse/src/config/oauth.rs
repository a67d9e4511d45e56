//! `[oauth]`: authorization-server policy.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthConfig {
    /// RFC 9126 §5: every client must push its authorization requests to `/oauth2/par` first;
    /// a plain request to `/oauth2/authorize` is refused with `invalid_request`. A client can
    /// also be required to on its own (`require_pushed_authorization_requests`).
    pub require_pushed_authorization_requests: bool,
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
