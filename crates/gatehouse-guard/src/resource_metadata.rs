//! OAuth 2.0 Protected Resource Metadata (RFC 9728) for a resource server: the JSON document
//! (§2), where it is published (§3.1), an axum route serving it (§3.2), and the URL that
//! `WWW-Authenticate: Bearer resource_metadata="…"` (§5.1) points at.
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # fn demo() -> Result<(), gatehouse_guard::MetadataError> {
//! use gatehouse_guard::ProtectedResourceMetadata;
//!
//! let metadata = ProtectedResourceMetadata::new("https://api.example.com/v1", "https://id.example.com")?
//!     .scopes(["posts:read", "posts:write"]);
//! assert_eq!(
//!     metadata.metadata_url(),
//!     "https://api.example.com/.well-known/oauth-protected-resource/v1"
//! );
//! let routes: axum::Router = metadata.router();
//! # Ok(()) }
//! ```

use serde::Serialize;

/// RFC 9728 §3: the well-known URI suffix.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// Why metadata could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// RFC 9728 §2: `resource` is "the protected resource's resource identifier … a URL that
    /// uses the https scheme and has no fragment component" (http is accepted for loopback
    /// development only).
    #[error("the resource identifier must be an https URL without a fragment")]
    Resource,
    #[error("an authorization server must be an https URL without a query or fragment")]
    AuthorizationServer,
}

/// The metadata document of RFC 9728 §2 (the members Gatehouse's resource servers use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    /// REQUIRED: the resource identifier (what clients send as RFC 8707 `resource`, and the
    /// `aud` the guard pins).
    pub resource: String,
    /// The issuer identifiers of the authorization servers (RFC 8414) that issue its tokens.
    pub authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How bearer tokens are accepted: `header` only (RFC 6750 §2.1).
    pub bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

/// `https://…`, or `http://` on a loopback host (development), with a host.
fn web_url(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix("https://").or_else(|| {
        value.strip_prefix("http://").filter(|r| {
            ["localhost", "127.0.0.1", "[::1]"]
                .iter()
                .any(|h| r.strip_prefix(h).is_some_and(|after| after.is_empty() || after.starts_with([':', '/', '?'])))
        })
    })?;
    let scheme = &value[..value.len() - rest.len()];
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    if host_end == 0 || value.contains('#') || value.bytes().any(|b| !b.is_ascii_graphic()) {
        return None;
    }
    Some((&value[..scheme.len() + host_end], &rest[host_end..]))
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource` protected by tokens of the authorization server `issuer`.
    pub fn new(resource: impl Into<String>, issuer: impl Into<String>) -> Result<Self, MetadataError> {
        let (resource, issuer) = (resource.into(), issuer.into());
        web_url(&resource).ok_or(MetadataError::Resource)?;
        if web_url(&issuer).is_none() || issuer.contains('?') {
            return Err(MetadataError::AuthorizationServer);
        }
        Ok(Self {
            resource,
            authorization_servers: vec![issuer],
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: None,
            resource_documentation: None,
        })
    }

    /// `scopes_supported` (RECOMMENDED): the scopes clients ask for to call this resource.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// `resource_name`: a human-readable name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// RFC 9728 §3.1: the path the document is published at, the well-known suffix inserted
    /// between the host and the resource's path and query ("any terminating slash (/) following
    /// the host component MUST be removed" first): `/.well-known/oauth-protected-resource` for
    /// `https://api.example.com/`, `/.well-known/oauth-protected-resource/v1` for
    /// `https://api.example.com/v1`.
    pub fn well_known_path(&self) -> String {
        let (_, path) = web_url(&self.resource).unwrap_or_default();
        let path = if path == "/" { "" } else { path };
        format!("{WELL_KNOWN_PATH}{path}")
    }

    /// The absolute URL of the document: the value of `resource_metadata` in a
    /// `WWW-Authenticate` challenge (RFC 9728 §5.1).
    pub fn metadata_url(&self) -> String {
        let (origin, _) = web_url(&self.resource).unwrap_or_default();
        format!("{origin}{}", self.well_known_path())
    }
}

#[cfg(feature = "axum")]
mod routes {
    use axum::Router;
    use axum::http::{HeaderValue, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    use super::ProtectedResourceMetadata;

    impl ProtectedResourceMetadata {
        /// An axum router serving the document (RFC 9728 §3.2: 200, `application/json`) at
        /// [`Self::well_known_path`] only: §3.3 has a client reject a document whose `resource`
        /// differs from the identifier it derived the URL from, so the document of
        /// `https://api.example.com/v1` is not served at the bare
        /// `/.well-known/oauth-protected-resource` (that URL describes `https://api.example.com`).
        /// Merge it into the resource server's router, outside the guard.
        pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
            let path = self.well_known_path();
            let body = serde_json::to_vec(&self).unwrap_or_default();
            let serve = move || {
                let body = body.clone();
                async move { json(body) }
            };
            Router::new().route(&path, get(serve))
        }
    }

    impl ProtectedResourceMetadata {
        /// A bare 401 for a request without credentials, outside a [`crate::Guard`] (which adds
        /// the same parameter to its own challenges when built with
        /// [`crate::GuardBuilder::resource_metadata`]): `WWW-Authenticate: Bearer
        /// resource_metadata="…"` (RFC 9728 §5.1) and an error body.
        pub fn unauthorized(&self) -> Response {
            let challenge = format!("Bearer resource_metadata=\"{}\"", self.metadata_url());
            let body = serde_json::json!({
                "error": "unauthenticated",
                "error_description": "A bearer access token is required",
            });
            let mut resp = (axum::http::StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
            resp
        }
    }

    fn json(body: Vec<u8>) -> Response {
        let mut resp = body.into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9728_s3_1_the_suffix_goes_between_host_and_path() {
        let m = |r: &str| ProtectedResourceMetadata::new(r, "https://id.example.com").unwrap();
        assert_eq!(
            m("https://api.example.com").metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(m("https://api.example.com/").well_known_path(), WELL_KNOWN_PATH, "terminating slash removed");
        assert_eq!(
            m("https://api.example.com:8443/v1/mcp").metadata_url(),
            "https://api.example.com:8443/.well-known/oauth-protected-resource/v1/mcp"
        );
        assert_eq!(
            m("http://127.0.0.1:9000/").metadata_url(),
            "http://127.0.0.1:9000/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn rfc9728_s2_resource_and_servers_are_checked() {
        for bad in ["http://api.example.com/", "https://api.example.com/#x", "urn:x", "https:///v1", "https://a b/"] {
            assert_eq!(
                ProtectedResourceMetadata::new(bad, "https://id.example.com"),
                Err(MetadataError::Resource),
                "{bad}"
            );
        }
        let bad_issuer = ProtectedResourceMetadata::new("https://api.example.com/", "https://id.example.com?x=1");
        assert_eq!(bad_issuer, Err(MetadataError::AuthorizationServer));
        let doc = serde_json::to_value(
            ProtectedResourceMetadata::new("https://api.example.com/", "https://id.example.com")
                .unwrap()
                .scopes(["read"]),
        )
        .unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "resource": "https://api.example.com/",
                "authorization_servers": ["https://id.example.com"],
                "scopes_supported": ["read"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
}
