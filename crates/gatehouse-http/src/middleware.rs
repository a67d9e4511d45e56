//! Layers every route shares: security headers (HSTS per RFC 6797 when the request came over
//! HTTPS, CSP, framing and caching rules), and the same-origin test behind the Origin check
//! that refuses cross-site state-changing requests (the first CSRF defence, applied per route
//! by `policy`; forms also carry a token, see `pages`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;
use crate::proxy::HttpsRequest;

/// Whether a request comes from our own origin `ours`: its `Origin` (or, without one, its
/// `Referer`) is ours (or `null` in a request the browser labels `Sec-Fetch-Site: same-origin`),
/// and the browser did not label it `Sec-Fetch-Site: cross-site`. Requests
/// without these headers (non-browser clients) pass; they carry no ambient browser credentials
/// to abuse. `policy::Policy` refuses state-changing requests that fail this.
pub fn same_origin(headers: &HeaderMap, ours: &str) -> bool {
    let get = |name| headers.get(name).map(|v: &HeaderValue| v.to_str().unwrap_or("\u{0}"));
    if get("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    if let Some(origin) = get(header::ORIGIN.as_str()) {
        // Fetch Standard, "append a request `Origin` header": under `Referrer-Policy:
        // no-referrer` (every page here) a browser's form POST carries `Origin: null`, even to
        // its own origin. Then `Sec-Fetch-Site` (Fetch Metadata; set by the browser, never by
        // a page's script) tells a same-origin form from an opaque-origin one.
        return origin == ours || (origin == "null" && get("sec-fetch-site") == Some("same-origin"));
    }
    if let Some(referer) = get(header::REFERER.as_str()) {
        return url::Url::parse(referer).is_ok_and(|u| u.origin().ascii_serialization() == ours);
    }
    true
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// RFC 6797 §6.1: one year, subdomains included; `preload` only when the operator opts in
/// (it is hard to undo).
const HSTS: &str = "max-age=31536000; includeSubDomains";
const HSTS_PRELOAD: &str = "max-age=31536000; includeSubDomains; preload";

/// Headers on every response, errors and static files included. HSTS only when the request
/// came over HTTPS (RFC 6797 §7.2: never over plain HTTP), as `proxy::resolve_client` decided.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let https = req.extensions().get::<HttpsRequest>().map_or(state.settings.tls, |h| h.0);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if https {
        let hsts = if state.settings.hsts_preload { HSTS_PRELOAD } else { HSTS };
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(hsts));
    }
    add_security_headers(h, is_static);
    resp
}

/// The headers of [`security_headers`] other than HSTS (also used by the HTTP→HTTPS redirect
/// listener, which never sends HSTS because it speaks plain HTTP).
pub fn add_security_headers(h: &mut HeaderMap, is_static: bool) {
    h.remove(header::SERVER);
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
}

/// RFC 9449 §8 (token endpoint) and §9 (resources): when nonces are required, every answer
/// to a request that carries a `DPoP` header carries a fresh `DPoP-Nonce` — the
/// `use_dpop_nonce` refusals (where §8 and §9 require it) and successes alike (§8.2: the next
/// nonce, so the client need not be refused first). Nonces are stateless: issuing one costs
/// an HMAC and no storage.
pub async fn dpop_nonce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let with_proof = req.headers().contains_key("dpop");
    let mut resp = next.run(req).await;
    if with_proof
        && let Some(nonce) = state.dpop.fresh_nonce()
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        resp.headers_mut().insert("dpop-nonce", value);
    }
    resp
}

#[cfg(test)]
mod tests {
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
        // Chromium's form POST from our own page under `Referrer-Policy: no-referrer`.
        assert!(same_origin(&headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]), ours));
        for site in ["cross-site", "same-site", "none"] {
            assert!(!same_origin(&headers(&[("origin", "null"), ("sec-fetch-site", site)]), ours), "{site}");
        }
        assert!(!same_origin(&headers(&[("origin", "http://id.example.com")]), ours));
        assert!(same_origin(&headers(&[("referer", "https://id.example.com/login?x=1")]), ours));
        assert!(!same_origin(&headers(&[("referer", "https://evil.test/id.example.com")]), ours));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")]), ours));
    }
}
