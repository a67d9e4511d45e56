//! Input limits enforced per request: the `Host` header (400 when an HTTP/1.1 request has none,
//! or any request has two or an invalid one: RFC 9112 §3.2), URL length (414), header count (431), JSON nesting depth
//! and form field count (checked by the body extractors), and a deadline for the whole request
//! (408 when the client was still sending its body, else 503). The connection-level limits —
//! header bytes, header read timeout (slowloris), concurrent connections — are set on the
//! listener by the binary. Every limit answers in our JSON error format; none hangs or panics.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};

use crate::AppState;
use crate::error::ApiError;

/// Per-request limits (the defaults are the documented configuration defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLimits {
    /// Longest accepted path plus query, in bytes.
    pub max_url_length: usize,
    /// Most request headers (HTTP/1 is also capped by the listener; this covers HTTP/2).
    pub max_headers: usize,
    /// Deepest nesting of JSON arrays and objects (serde_json alone would allow 128).
    pub max_json_depth: usize,
    /// Most fields in an `application/x-www-form-urlencoded` body.
    pub max_form_fields: usize,
    /// Time from the request head to the response head.
    pub request_timeout: Duration,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_url_length: 8 * 1024,
            max_headers: 64,
            max_json_depth: 32,
            max_form_fields: 64,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without `Host`, and to any
/// request with more than one `Host` line or an invalid value. (HTTP/2 and HTTP/3 carry the
/// authority in `:authority` and may omit `Host`; HTTP/1.0 predates it.)
fn host_is_valid(req: &Request) -> bool {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => false,
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<axum::http::uri::Authority>().ok())
            .is_some_and(|a| !a.as_str().contains('@') && !a.host().is_empty()),
        (None, _) => req.version() != axum::http::Version::HTTP_11,
    }
}

/// Checks URL length and header count, makes the limits available to the body extractors (as a
/// request extension), and bounds the request's total time.
pub async fn enforce(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let limits = &state.settings.limits;
    let url_length = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if url_length > limits.max_url_length {
        return ApiError::new(StatusCode::URI_TOO_LONG, "uri_too_long", "the request URL is too long").into_response();
    }
    if req.headers().len() > limits.max_headers {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            "the request has too many header fields",
        )
        .into_response();
    }
    if !host_is_valid(&req) {
        return ApiError::bad_request("the request needs exactly one valid Host header").into_response();
    }
    if !url_is_text(req.uri()) {
        return ApiError::bad_request("the URL must be UTF-8 text without NUL characters").into_response();
    }
    req.extensions_mut().insert(limits.clone());
    let body_done = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        if body.is_end_stream() {
            body_done.store(true, Ordering::Relaxed);
        }
        Body::new(Tracked { inner: body, done: body_done.clone() })
    });
    match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) if !body_done.load(Ordering::Relaxed) => {
            // The client has not finished sending: RFC 9110 §15.5.9, and close the connection
            // so that the rest of a slow body is not read as the next request.
            let mut resp =
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request body arrived too slowly")
                    .into_response();
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
        Err(_) => {
            tracing::warn!(timeout = ?limits.request_timeout, "request timed out in the server");
            let mut resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the server is too busy to answer in time; try again later",
            )
            .into_response();
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            resp
        }
    }
}

/// A request body that records when it has been read to the end.
struct Tracked {
    inner: Body,
    done: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether JSON text nests arrays/objects deeper than `max`. Checked before parsing, so that
/// deep input costs one linear scan and never reaches the recursive parser.
pub fn json_too_deep(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Whether JSON text holds a NUL character (`\u0000`, the only way valid JSON can carry one).
/// No text we store may contain NUL: PostgreSQL refuses it, and C-based consumers truncate at it.
pub fn json_has_nul(bytes: &[u8]) -> bool {
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            if b == b'u' && bytes.get(i + 1..i + 5) == Some(b"0000".as_slice()) {
                return true;
            }
        } else if b == b'\\' {
            escaped = true;
        }
    }
    false
}

/// Whether the percent-decoded path and query are UTF-8 text without NUL. (A raw NUL or
/// non-ASCII byte cannot reach us in a URI: hyper refuses those.) Nothing we serve takes binary
/// data in the URL, and `%00` or a broken escape would otherwise reach the database or be
/// silently replaced by U+FFFD.
pub fn url_is_text(uri: &axum::http::Uri) -> bool {
    let Some(pq) = uri.path_and_query().map(|pq| pq.as_str()) else { return true };
    if !pq.contains('%') {
        return true;
    }
    percent_encoding::percent_decode_str(pq).decode_utf8().is_ok_and(|text| !text.contains('\0'))
}

/// Number of `name=value` pairs in a urlencoded body.
pub fn form_fields(bytes: &[u8]) -> usize {
    bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_json_strings_is_found_only_as_a_real_escape() {
        assert!(json_has_nul(br#"{"a":"x\u0000"}"#));
        assert!(json_has_nul(br#"["\u0000"]"#));
        assert!(!json_has_nul(br#"{"a":"x\\u0000"}"#), "an escaped backslash, then text");
        assert!(json_has_nul(br#"{"a":"\u00001"}"#));
        assert!(!json_has_nul(br#"{"a":"\u0001 u0000"}"#));
    }

    #[test]
    fn urls_must_decode_to_text_without_nul() {
        let ok = |u: &str| url_is_text(&u.parse().unwrap());
        assert!(ok("/oauth2/authorize?state=%C3%A4&x=a%20b"));
        assert!(ok("/login"));
        assert!(!ok("/oauth2/authorize?nonce=n%00"));
        assert!(!ok("/admin/v1/clients/a%00"));
        assert!(!ok("/x?q=%FF"));
        assert!(!ok("/x?q=%C3"));
    }

    #[test]
    fn json_depth() {
        assert!(!json_too_deep(b"{\"a\":[1,{\"b\":[]}]}", 4));
        assert!(json_too_deep(b"{\"a\":[1,{\"b\":[]}]}", 3));
        assert!(!json_too_deep(b"\"[[[[[[[[\"", 1), "brackets inside strings do not count");
        assert!(!json_too_deep(b"{\"a\\\"[[[\":1}", 1), "escaped quotes stay inside the string");
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(json_too_deep(deep.as_bytes(), 32));
        assert!(!json_too_deep(deep.as_bytes(), 33));
    }

    #[test]
    fn form_field_count() {
        assert_eq!(form_fields(b""), 0);
        assert_eq!(form_fields(b"a=1&b=2&&c"), 3);
    }
}
