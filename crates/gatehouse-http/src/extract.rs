//! Extractors that answer malformed input in our own error format: wrong content type → 415,
//! body over the limit → 413, syntax errors and invalid UTF-8 → 400, well-formed but
//! unusable data → 422. Never a 500, never a panic.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_core::RequestContext;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::limits::InputLimits;
use crate::proxy::ClientIp;

/// A JSON request body (`Content-Type: application/json`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_content_type(req.headers(), "application/json")?;
        let max_depth = limits(&req).max_json_depth;
        let bytes = read_body(req, state).await?;
        if crate::limits::json_too_deep(&bytes, max_depth) {
            return Err(ApiError::bad_request(format!("JSON is nested deeper than {max_depth} levels")));
        }
        if crate::limits::json_has_nul(&bytes) {
            return Err(ApiError::bad_request("JSON strings must not contain NUL characters"));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match serde::Deserialize::deserialize(&mut de).and_then(|v| de.end().map(|()| v)) {
            Ok(v) => Ok(Self(v)),
            Err(e) if e.is_data() => {
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", data_error(&e)))
            }
            Err(_) => Err(ApiError::bad_request("request body is not valid JSON")),
        }
    }
}

/// An HTML form body (`application/x-www-form-urlencoded`) whose every field is valid UTF-8
/// without NUL.
pub struct FormBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for FormBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = form_bytes(req, state).await?;
        decode_form(&bytes).map(Self)
    }
}

/// A page's form ([`FormBody`]) whose `csrf_token` field matches the form-token cookie. Any
/// failure is answered with the error page, as every page form answers it.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<crate::AppState> for PageForm<T> {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &crate::AppState) -> Result<Self, Self::Rejection> {
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            csrf_token: String,
        }
        let jar = axum_extra::extract::CookieJar::from_headers(req.headers());
        let checked = async {
            let bytes = form_bytes(req, state).await?;
            let form = decode_form::<T>(&bytes)?;
            let token = decode_form::<Token>(&bytes)?;
            crate::cookies::check_form_token(&jar, &state.settings, &token.csrf_token)?;
            Ok::<_, ApiError>(form)
        };
        checked.await.map(Self).map_err(ApiError::into_page)
    }
}

/// The body of a form: the right content type, not too many fields, every field valid UTF-8
/// without NUL.
async fn form_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    require_content_type(req.headers(), "application/x-www-form-urlencoded")?;
    let max_fields = limits(&req).max_form_fields;
    let bytes = read_body(req, state).await?;
    if crate::limits::form_fields(&bytes) > max_fields {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the form has more than {max_fields} fields"),
        ));
    }
    // Form decoding elsewhere replaces invalid UTF-8 with U+FFFD silently; refuse it instead.
    for pair in bytes.split(|b| *b == b'&') {
        let plus_decoded: Vec<u8> = pair.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        match percent_encoding::percent_decode(&plus_decoded).decode_utf8() {
            Err(_) => return Err(ApiError::bad_request("form data is not valid UTF-8")),
            Ok(text) if text.contains('\0') => {
                return Err(ApiError::bad_request("form data must not contain NUL characters"));
            }
            Ok(_) => {}
        }
    }
    Ok(bytes)
}

fn decode_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", e.to_string()))
}

/// The limits `limits::enforce` attached to the request (the defaults when it did not run).
fn limits(req: &Request) -> InputLimits {
    req.extensions().get::<InputLimits>().cloned().unwrap_or_default()
}

fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let actual = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = actual.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type must be {expected}"),
        ))
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body is too large")
        } else {
            ApiError::bad_request("request body could not be read")
        }
    })
}

/// serde's data errors name the field and the expected type; strip the position suffix.
fn data_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    }
}

/// `Authorization: Basic` (RFC 6749 §2.3.1): base64 of `urlencode(client_id) ":"
/// urlencode(client_secret)`, both form-decoded. `Ok(None)` without the header; `Err` for any
/// other scheme or a malformed value.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(h) => h.to_str().ok().and_then(parse_basic).map(Some).ok_or(()),
    }
}

fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // RFC 6749 §2.3.1: application/x-www-form-urlencoded escaping of each part ("+" is a space);
    // decoded as one value, so a raw "&" or "=" stays part of it.
    let unescape = |s: &str| {
        let plus_decoded = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_decoded).decode_utf8().ok().map(|v| v.into_owned())
    };
    let (id, secret) = (unescape(id)?, unescape(secret)?);
    // NUL (raw or escaped) is no part of any client id or secret, and must not reach the store.
    (!id.contains('\0') && !secret.contains('\0')).then_some((id, secret))
}

/// Client IP (after trusted-proxy resolution, see [`ClientIp`]; the TCP peer when that layer did
/// not run) and user agent, for the audit log and the session list.
pub struct Client(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_context(&parts.extensions, &parts.headers)))
    }
}

/// What [`Client`] extracts, for layers that hold the whole request.
pub fn request_context(extensions: &Extensions, headers: &HeaderMap) -> RequestContext {
    let ip = match extensions.get::<ClientIp>() {
        Some(ClientIp(ip)) => Some(ip.to_string()),
        None => extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    RequestContext { ip, user_agent }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret+x"));
        assert_eq!(parse_basic(&h), Some(("my client".into(), "s:cret x".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        let raw = format!("Basic {}", STANDARD.encode("abc&x=y:s&t"));
        assert_eq!(parse_basic(&raw), Some(("abc&x=y".into(), "s&t".into())), "a raw & is part of the value");
        assert_eq!(parse_basic("Basic !!!"), None);
        for nul in ["a\0b:secret", "a%00:secret", "a:s%00"] {
            assert_eq!(parse_basic(&format!("Basic {}", STANDARD.encode(nul))), None, "{nul:?}");
        }
    }

    proptest::proptest! {
        /// Any header, however broken, is an answer (`None` or credentials), never a panic.
        #[test]
        fn basic_credentials_never_panic(header in proptest::prelude::any::<String>()) {
            let _ = parse_basic(&header);
        }

        /// RFC 6749 §2.3.1: `base64(urlencode(id) ":" urlencode(secret))` gives back id and
        /// secret (any text without NUL, which is refused).
        #[test]
        fn basic_credentials_round_trip(id in "[^\u{0}]*", secret in "[^\u{0}]*", scheme in "[bB][aA][sS][iI][cC]") {
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let header = format!("{scheme} {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
            proptest::prop_assert_eq!(parse_basic(&header), Some((id, secret)));
        }
    }

    /// The checked-in seed corpus (`tests/corpus/basic`, one header per file).
    #[test]
    fn basic_credentials_seed_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/basic");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let _ = parse_basic(&String::from_utf8_lossy(&bytes));
            seen += 1;
        }
        assert!(seen > 5, "the corpus is there");
    }
}
