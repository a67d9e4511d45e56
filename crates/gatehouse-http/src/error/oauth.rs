//! OAuth 2.0 error responses (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3): the token,
//! revocation and introspection endpoints answer `{"error", "error_description"}` with the exact
//! RFC codes, 401 plus a `Basic` challenge for `invalid_client`, and never a cached answer
//! (RFC 6749 §5.1).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::oauth::{ErrorCode, OAuthError};
use serde::Serialize;

/// An [`OAuthError`] as the token, revocation and introspection endpoints answer it.
#[derive(Debug)]
pub struct OAuthResponse(pub OAuthError);

impl From<OAuthError> for OAuthResponse {
    fn from(e: OAuthError) -> Self {
        Self(e)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// RFC 6749 §5.2: 401 with a challenge for `invalid_client`, 500 for `server_error`, 503 with
/// `Retry-After` for `temporarily_unavailable` (the database is unreachable), else 400.
impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = match e.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut resp =
            (status, axum::Json(Body { error: e.code.as_str(), error_description: &e.description })).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(super::RETRY_AFTER_UNREACHABLE));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"gatehouse\""));
        }
        no_store(resp)
    }
}

/// RFC 6749 §5.1: responses with tokens carry `Cache-Control: no-store` and `Pragma: no-cache`.
pub fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}
