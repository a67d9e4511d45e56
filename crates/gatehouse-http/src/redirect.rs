//! The plain-HTTP listener beside the TLS one: it only sends browsers to HTTPS. GET and HEAD get
//! `308 Permanent Redirect` to the same path and query on the issuer's origin (never to the
//! `Host` the client named, so it cannot be used as an open redirect); every other method is
//! refused with 405, because a redirected body would already have crossed the network in clear.
//! It never proxies and never sends HSTS (RFC 6797 §7.2).

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::error::ApiError;
use crate::middleware::add_security_headers;

/// The redirect listener's whole application.
pub fn redirect_app(issuer: &Url) -> Router {
    let origin = issuer.origin().ascii_serialization();
    Router::new()
        .fallback(move |req: Request| {
            let origin = origin.clone();
            async move { redirect(&origin, &req) }
        })
        .layer(axum::middleware::from_fn(headers))
}

fn redirect(origin: &str, req: &Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "https_required",
            "this listener only redirects GET and HEAD requests to HTTPS; send the request over HTTPS",
        )
        .into_response();
        resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    // Only the path and query of the request target: an absolute-form target
    // (`GET http://evil.test/ HTTP/1.1`) cannot choose the host we redirect to.
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    match HeaderValue::from_str(&format!("{origin}{path}")) {
        Ok(location) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response(),
        Err(_) => ApiError::bad_request("the request target cannot be redirected").into_response(),
    }
}

async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    add_security_headers(resp.headers_mut(), false);
    resp
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    async fn call(method: Method, uri: &str) -> Response {
        let app = redirect_app(&Url::parse("https://id.example.com").unwrap());
        app.oneshot(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn get_and_head_redirect_to_the_issuer_origin() {
        for method in [Method::GET, Method::HEAD] {
            let r = call(method, "/login?next=%2Faccount").await;
            assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
            assert_eq!(r.headers()[header::LOCATION], "https://id.example.com/login?next=%2Faccount");
            assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(!r.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));
        }
        let r = call(Method::GET, "http://evil.test/x").await;
        assert_eq!(r.headers()[header::LOCATION], "https://id.example.com/x");
    }

    #[tokio::test]
    async fn other_methods_are_refused() {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            let r = call(method.clone(), "/api/v1/auth/login").await;
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
            assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
            assert!(!r.headers().contains_key(header::LOCATION));
        }
    }
}
