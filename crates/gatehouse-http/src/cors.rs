//! CORS (Fetch Standard §3.2) for the JSON API: an exact allow-list of origins, credentials only
//! for those origins, `Vary: Origin` always, and preflights that name only what we allow.
//!
//! Origins come from configuration ([`CorsPolicy::new`]) and from any number of pluggable
//! [`OriginSource`]s — the OAuth work adds the registered origins of clients that way. A
//! disallowed origin gets no CORS headers at all (the browser then withholds the response) and
//! is counted in `gatehouse_cors_refused_total`. `*` is never sent: every answer names the one
//! origin that asked, because every answer allows credentials.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Which allow-list a route answers cross-origin callers from (named in its `policy::Policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsList {
    /// The first-party JSON API under `/api/`: the configured origins ([`AppState::cors`]).
    Api,
    /// The OAuth endpoints a browser app calls directly (token, userinfo, revocation, discovery,
    /// JWKS): the configured origins plus the registered origins of public clients
    /// ([`AppState::oauth_cors`]); those origins do not reach the first-party API.
    OAuth,
}

impl CorsList {
    pub fn of(self, state: &AppState) -> &CorsPolicy {
        match self {
            Self::Api => &state.cors,
            Self::OAuth => &state.oauth_cors,
        }
    }
}

/// Methods a preflight may ask for.
const ALLOWED_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Request headers a preflight may ask for (lower case; compared case-insensitively).
/// `dpop`: RFC 9449 §4.1, sent by browser apps to the token endpoint and with bound tokens.
const ALLOWED_HEADERS: &[&str] = &["content-type", "authorization", "x-gatehouse-csrf", "dpop"];
/// Response headers a cross-origin script may read besides the CORS-safelisted ones.
/// `dpop-nonce`: RFC 9449 §8, §9, read by a browser app to put the nonce in its next proof.
const EXPOSED_HEADERS: &str = "www-authenticate, retry-after, dpop-nonce";
/// Seconds a browser may cache a successful preflight.
const PREFLIGHT_MAX_AGE: &str = "600";

/// A second source of allowed origins (for example the registered origins of OAuth clients).
/// `origin` is exactly what the browser sent (`scheme://host[:port]`); answer `true` only for an
/// exact match. `null` never reaches a source.
#[async_trait::async_trait]
pub trait OriginSource: Send + Sync {
    async fn allows(&self, origin: &str) -> bool;
}

/// The allow-list: configured origins plus every [`OriginSource`].
#[derive(Default, Clone)]
pub struct CorsPolicy {
    configured: BTreeSet<String>,
    sources: Vec<Arc<dyn OriginSource>>,
}

impl std::fmt::Debug for CorsPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorsPolicy")
            .field("configured", &self.configured)
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl CorsPolicy {
    /// The configured origins, each checked by [`normalize_origin`].
    pub fn new<S: AsRef<str>>(origins: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let configured = origins.into_iter().map(|o| normalize_origin(o.as_ref())).collect::<Result<_, _>>()?;
        Ok(Self { configured, sources: Vec::new() })
    }

    /// Adds another source of allowed origins.
    pub fn with_source(mut self, source: Arc<dyn OriginSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Exact match only: no suffixes, patterns or case folding, and never `null`.
    pub async fn allows(&self, origin: &str) -> bool {
        if origin.is_empty() || origin == "null" {
            return false;
        }
        if self.configured.contains(origin) {
            return true;
        }
        for source in &self.sources {
            if source.allows(origin).await {
                return true;
            }
        }
        false
    }
}

/// Checks a configured origin and returns it as browsers serialise it in `Origin`
/// (`https://app.example.com`, lower-case host, default port dropped). Refuses wildcards,
/// `null`, paths, queries, credentials and schemes other than http(s).
pub fn normalize_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.contains('*') || text.eq_ignore_ascii_case("null") {
        return Err(format!("CORS origin {text:?}: wildcards and null are not allowed; list exact origins"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("CORS origin {text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("CORS origin {text:?} must be http(s)://host[:port]"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!("CORS origin {text:?} must not have a path, query or credentials"));
    }
    Ok(url.origin().ascii_serialization())
}

/// The request's `Origin` when it is on `policy`'s allow-list. The Origin check
/// (`policy::Policy`) lets such requests through on the JSON API.
pub async fn allowed_origin(policy: &CorsPolicy, headers: &HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    policy.allows(origin).await.then(|| origin.to_owned())
}

fn refused() {
    metrics::counter!("gatehouse_cors_refused_total").increment(1);
}

/// An OPTIONS request asking for permission (Fetch Standard §3.2.2 CORS-preflight request).
pub fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The CORS headers of an actual response: the one allowed origin with credentials, or none
/// (counted when the request came from another origin); `Vary: Origin` always.
pub fn add_headers(mut resp: Response, allowed: Option<String>, cross_origin: bool) -> Response {
    let h = resp.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("origin"));
    match allowed.and_then(|o| HeaderValue::from_str(&o).ok()) {
        Some(origin) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
        None if cross_origin => refused(),
        None => {}
    }
    resp
}

/// A preflight is allowed only for an allowed origin asking for allowed methods and headers;
/// the answer lists our fixed allow-lists, never an echo of the request.
pub fn preflight(headers: &HeaderMap, allowed: Option<String>) -> Response {
    let method_ok = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| ALLOWED_METHODS.contains(&m));
    let headers_ok = headers.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS).iter().all(|v| {
        v.to_str().is_ok_and(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .all(|h| ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(h)))
        })
    });
    let origin = allowed.filter(|_| method_ok && headers_ok).and_then(|o| HeaderValue::from_str(&o).ok());
    let mut resp = match origin {
        Some(origin) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type, authorization, x-gatehouse-csrf, dpop"),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
            resp
        }
        None => {
            refused();
            ApiError::forbidden("cors_not_allowed", "this cross-origin request is not allowed").into_response()
        }
    };
    resp.headers_mut().append(
        header::VARY,
        HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_origins_are_normalised_and_checked() {
        assert_eq!(normalize_origin("https://App.Example.com/").unwrap(), "https://app.example.com");
        assert_eq!(normalize_origin("https://app.example.com:443").unwrap(), "https://app.example.com");
        assert_eq!(normalize_origin("http://localhost:3000").unwrap(), "http://localhost:3000");
        for bad in [
            "*",
            "null",
            "https://*.example.com",
            "https://app.example.com/path",
            "https://app.example.com?x",
            "ftp://app.example.com",
            "app.example.com",
            "https://user@app.example.com",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }

    struct Registered;

    #[async_trait::async_trait]
    impl OriginSource for Registered {
        async fn allows(&self, origin: &str) -> bool {
            origin == "https://client.example.org" || origin == "null"
        }
    }

    #[tokio::test]
    async fn exact_match_only_and_sources_plug_in() {
        let policy = CorsPolicy::new(["https://app.example.com"]).unwrap().with_source(Arc::new(Registered));
        assert!(policy.allows("https://app.example.com").await);
        assert!(policy.allows("https://client.example.org").await, "from the second source");
        for no in [
            "https://app.example.com.evil.test",
            "https://evil-app.example.com",
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://APP.example.com",
            "null",
            "",
        ] {
            assert!(!policy.allows(no).await, "{no}");
        }
    }

    #[test]
    fn allow_lists_match_the_constants() {
        assert_eq!(ALLOWED_METHODS.join(", "), "GET, POST, PUT, PATCH, DELETE");
        assert_eq!(ALLOWED_HEADERS.join(", "), "content-type, authorization, x-gatehouse-csrf, dpop");
    }
}
