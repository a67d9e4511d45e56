//! Layers every route shares: security headers, and the Origin check that refuses cross-site
//! state-changing requests (the first CSRF defence; forms also carry a token, see `pages`).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Refuses POST/PUT/PATCH/DELETE whose `Origin` (or, without one, `Referer`) is not the issuer's
/// origin, and any that the browser labels `Sec-Fetch-Site: cross-site`. Requests without these
/// headers (non-browser clients) pass; they carry no ambient browser credentials to abuse.
pub async fn origin_check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE);
    if unsafe_method && !same_origin(req.headers(), &state.settings.origin()) {
        return ApiError::forbidden("cross_site_request", "cross-site request refused").into_response();
    }
    next.run(req).await
}

fn same_origin(headers: &axum::http::HeaderMap, ours: &str) -> bool {
    let get = |name| headers.get(name).map(|v: &HeaderValue| v.to_str().unwrap_or("\u{0}"));
    if get("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    if let Some(origin) = get(header::ORIGIN.as_str()) {
        return origin == ours;
    }
    if let Some(referer) = get(header::REFERER.as_str()) {
        return url::Url::parse(referer).is_ok_and(|u| u.origin().ascii_serialization() == ours);
    }
    true
}

const CSP: &str = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Headers on every response, errors and static files included.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    if !is_static && !h.contains_key(header::CACHE_CONTROL) {
        // Pages and APIs carry credentials or personal data: never cache them (a route that
        // serves public data, like the JWKS, sets its own Cache-Control).
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_rules() {
        let ours = "https://id.example.com";
        assert!(same_origin(&headers(&[]), ours));
        assert!(same_origin(&headers(&[("origin", "https://id.example.com")]), ours));
        assert!(!same_origin(&headers(&[("origin", "https://id.example.com.evil.test")]), ours));
        assert!(!same_origin(&headers(&[("origin", "null")]), ours));
        assert!(!same_origin(&headers(&[("origin", "http://id.example.com")]), ours));
        assert!(same_origin(&headers(&[("referer", "https://id.example.com/login?x=1")]), ours));
        assert!(!same_origin(&headers(&[("referer", "https://evil.test/id.example.com")]), ours));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")]), ours));
    }
}
