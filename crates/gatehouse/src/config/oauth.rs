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
