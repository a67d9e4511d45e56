//! The one mapping from failures to HTTP responses (DESIGN.md §2-3, RFC 6749 §5.2, RFC 6750
//! §3.1, RFC 9110 §15.5.2).
//!
//! JSON APIs answer `{"error": "<code>", "error_description": "<text>"}`; pages answer an HTML
//! error page; the OAuth endpoints answer RFC 6749 §5.2 ([`oauth`]). Every `From<…Error>` of a
//! core error is in [`convert`]. 5xx details are never shown: the internal cause rides in a
//! response extension ([`ErrorCause`]) that the [`log`] layer writes to the log, once per
//! response. Every 401 carries `WWW-Authenticate`.

mod convert;
pub mod log;
pub mod oauth;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use gatehouse_core::abuse::RateLimited;
use serde::Serialize;

use crate::pages;

pub use log::{ErrorCause, log_server_errors, with_cause};
pub use oauth::{OAuthResponse, no_store};

/// Seconds a client should wait before retrying while the database is unreachable.
pub const RETRY_AFTER_UNREACHABLE: u64 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// Seconds for `Retry-After` (429 answers, and 503 while the database is unreachable).
    pub retry_after: Option<u64>,
    /// Why a 5xx happened, for the log only ([`ErrorCause`]); never in the body.
    pub cause: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self { status, code, description: description.into(), retry_after: None, cause: None }
    }

    /// 429 with `Retry-After` (RFC 6585 §4, RFC 9110 §10.2.3).
    pub fn rate_limited(limited: &RateLimited) -> Self {
        let seconds = limited.retry_after.0;
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; try again in {seconds} seconds"),
            )
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
    }

    pub fn forbidden(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, description)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the server could not complete the request")
    }

    /// 503 with `Retry-After` (RFC 9110 §15.6.4): the database is unreachable; the request
    /// may succeed once it is back. The cause goes to the log only.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_UNREACHABLE),
            cause: Some(cause.to_string()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service is temporarily unavailable; try again shortly",
            )
        }
    }

    /// 503 with `Retry-After: 1`: every password-hashing slot is busy and the queue is full
    /// (overload). Refused at once rather than queued without limit; nothing was changed.
    pub fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the server is busy; try again in a second",
            )
        }
    }

    /// A storage failure: 503 when the database is unreachable, else a bare 500 (the one place
    /// that decides; every `Store(_)` variant of a core error comes through here).
    pub fn store(e: &gatehouse_core::store::StoreError, cause: impl std::fmt::Display) -> Self {
        if e.is_unreachable() { Self::unavailable(cause) } else { Self::internal_cause(cause) }
    }

    /// [`Self::internal`], with the cause the log layer records (the client never sees it).
    pub fn internal_cause(cause: impl std::fmt::Display) -> Self {
        Self { cause: Some(cause.to_string()), ..Self::internal() }
    }

    /// The same failure, rendered as an HTML page for browser forms.
    pub fn into_page(self) -> Response {
        let page = pages::ErrorPage { status: self.status.as_u16(), message: &self.description };
        let mut resp = (self.status, Html(pages::render(&page))).into_response();
        add_www_authenticate(&mut resp);
        add_retry_after(&mut resp, self.retry_after);
        with_cause(resp, self.cause)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.code, error_description: &self.description };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.code == "invalid_token" {
            // RFC 6750 §3.1: a refused bearer token names the error in the challenge.
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
            );
        }
        if self.code == "invalid_dpop_proof" {
            // RFC 9449 §7.1: the DPoP challenge, with the algorithms a proof may use.
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("DPoP error=\"invalid_dpop_proof\", algs=\"ES256 EdDSA RS256\""),
            );
        }
        if self.code == "use_dpop_nonce" {
            // RFC 9449 §9: a resource that requires a nonce says so in the DPoP challenge.
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("DPoP error=\"use_dpop_nonce\", algs=\"ES256 EdDSA RS256\""),
            );
        }
        add_www_authenticate(&mut resp);
        add_retry_after(&mut resp, self.retry_after);
        with_cause(resp, self.cause)
    }
}

fn add_retry_after(resp: &mut Response, seconds: Option<u64>) {
    if let Some(seconds) = seconds {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
}

/// RFC 9110 §15.5.2: a 401 response MUST carry `WWW-Authenticate`.
fn add_www_authenticate(resp: &mut Response) {
    if resp.status() == StatusCode::UNAUTHORIZED && !resp.headers().contains_key(header::WWW_AUTHENTICATE) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gatehouse\""));
    }
}
