//! Dynamic client registration: RFC 7591 §3 (`POST /oauth2/register`) and the RFC 7592 §2
//! client configuration endpoint (`GET`/`PUT`/`DELETE /oauth2/register/{client_id}`), each
//! authorized by a bearer token: the initial access token (when the mode asks for one) and the
//! registration access token. Mounted only when `[oauth.registration] mode` is not `disabled`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::oauth::{DynamicRegistration, DynamicRegistrationError, description_text};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, no_store};
use crate::extract::{Client, JsonBody};
use crate::policy::{Policy, Routes};
use crate::ratelimit::{Answer, Methods};

pub fn router(state: &AppState) -> Routes {
    let policy = Policy::cookieless("authorized by the initial or registration access token in the request")
        .oauth_cors()
        .limit(LimitKind::RegisterIp, Methods::Post, Answer::Json);
    let router = if state.registration.is_some() {
        Router::new()
            .route("/oauth2/register", post(register))
            .route("/oauth2/register/{client_id}", get(read).put(update).delete(delete))
    } else {
        Router::new()
    };
    Routes::new(state, policy, router)
}

// The error is the finished answer, returned once per request: boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn service(state: &AppState) -> Result<&Arc<DynamicRegistration>, Response> {
    state.registration.as_ref().ok_or_else(|| ApiError::not_found().into_response())
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`; anything else is no token.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ')).then_some(token)
}

/// RFC 7591 §3.2.2 error bodies; RFC 6750 §3.1 `invalid_token` for a missing or wrong token.
fn refusal(e: DynamicRegistrationError) -> Response {
    match e {
        DynamicRegistrationError::InvalidToken => {
            let body = json!({"error": "invalid_token", "error_description": "the access token is missing, invalid or expired"});
            let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
            );
            no_store(resp)
        }
        DynamicRegistrationError::Metadata(m) => {
            let body = json!({"error": m.code(), "error_description": description_text(&m.to_string())});
            no_store((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
        }
        DynamicRegistrationError::Store(e) => ApiError::store(&e, "dynamic client registration").into_response(),
        DynamicRegistrationError::Random => ApiError::internal_cause("randomness failed").into_response(),
    }
}

#[allow(clippy::result_large_err)]
fn body(b: Result<JsonBody<Value>, ApiError>) -> Result<Value, Response> {
    b.map(|JsonBody(v)| v).map_err(|e| {
        // Not JSON at all (or over a limit): the metadata are unusable.
        if e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::UNPROCESSABLE_ENTITY {
            let body =
                json!({"error": "invalid_client_metadata", "error_description": description_text(&e.description)});
            no_store((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
        } else {
            e.into_response()
        }
    })
}

/// RFC 7591 §3.1 request, §3.2.1 `201 Created` with the client information.
async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    metadata: Result<JsonBody<Value>, ApiError>,
) -> Response {
    let svc = match service(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // §3: the initial access token is checked before the metadata.
    let token = bearer(&headers);
    let metadata = match body(metadata) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match svc.register(&metadata, token, &ctx).await {
        Ok(info) => no_store((StatusCode::CREATED, axum::Json(info)).into_response()),
        Err(e) => refusal(e),
    }
}

/// RFC 7592 §2.1: read the registration.
async fn read(State(state): State<AppState>, headers: HeaderMap, Path(client_id): Path<String>) -> Response {
    let svc = match service(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match svc.read(&client_id, bearer(&headers)).await {
        Ok(info) => no_store(axum::Json(info).into_response()),
        Err(e) => refusal(e),
    }
}

/// RFC 7592 §2.2: replace the registration.
async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    Path(client_id): Path<String>,
    metadata: Result<JsonBody<Value>, ApiError>,
) -> Response {
    let svc = match service(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let metadata = match body(metadata) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match svc.update(&client_id, bearer(&headers), &metadata, &ctx).await {
        Ok(info) => no_store(axum::Json(info).into_response()),
        Err(e) => refusal(e),
    }
}

/// RFC 7592 §2.3: delete the registration; `204 No Content`.
async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    Path(client_id): Path<String>,
) -> Response {
    let svc = match service(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match svc.delete(&client_id, bearer(&headers), &ctx).await {
        Ok(()) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(e) => refusal(e),
    }
}
