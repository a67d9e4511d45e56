//! Server errors logged once, by a layer (DESIGN.md §2 "http … logs 5xx"): a handler that fails
//! answers a bare 5xx and leaves the internal cause in the response's extensions
//! ([`ErrorCause`], via [`with_cause`] or `ApiError::internal_cause`); [`log_server_errors`]
//! writes one line per 5xx with the request id, the method, the status and that cause — never
//! the path, query, headers or body, which may carry credentials or personal data.

use axum::extract::Request;
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;

/// The request id a proxy or caller sent; without one, the log line gets a fresh one.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Why a response is a 5xx: for the log only, never serialised into the body.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

/// Attaches the internal cause of a failure to its response (nothing when `cause` is `None`).
pub fn with_cause(mut resp: Response, cause: Option<String>) -> Response {
    if let Some(cause) = cause {
        resp.extensions_mut().insert(ErrorCause(cause));
    }
    resp
}

/// The 5xx log layer. Costs one header look-up per request; the id is only generated, and the
/// line only written, for a 5xx.
pub async fn log_server_errors(req: Request, next: Next) -> Response {
    let request_id = req.headers().get(&X_REQUEST_ID).cloned();
    let method = req.method().clone();
    let mut resp = next.run(req).await;
    let status = resp.status();
    if !status.is_server_error() {
        return resp;
    }
    let cause = resp.extensions_mut().remove::<ErrorCause>().map(|c| c.0);
    let cause = cause.as_deref().unwrap_or("none recorded");
    let request_id = match request_id.as_ref().and_then(|v| v.to_str().ok()) {
        Some(id) => id.chars().filter(|c| c.is_ascii_graphic()).take(128).collect(),
        None => uuid::Uuid::now_v7().to_string(),
    };
    let status = status.as_u16();
    if status == 500 {
        tracing::error!(%request_id, %method, status, cause, "request failed");
    } else {
        tracing::warn!(%request_id, %method, status, cause, "request failed");
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::error::ApiError;

    #[tokio::test]
    async fn the_cause_reaches_the_layer_and_never_the_body() {
        let app = Router::new()
            .route("/", get(|| async { ApiError::internal_cause("disk on fire").into_response() }))
            .layer(axum::middleware::from_fn(log_server_errors));
        let resp = app.oneshot(axum::http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(resp.extensions().get::<ErrorCause>().is_none(), "the layer took the cause");
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("disk"));
    }
}
