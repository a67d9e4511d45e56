//! The first-party token API for SPAs and mobile apps (`/api/v1/auth/token`,
//! `/api/v1/auth/refresh`) and the JWKS (`/oauth2/jwks`, RFC 7517 §5).
//!
//! The refresh token travels in an `HttpOnly`, `Secure`, `SameSite=Strict` cookie scoped to
//! `/api/v1/auth`, or — for clients that ask with `"token_delivery": "body"` — in the JSON body.
//! A cookie-borne refresh is an ambient credential, so it also needs the `X-Gatehouse-CSRF`
//! request header (which a cross-site form cannot send) on top of the Origin check.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::Password;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::token::{RefreshToken, TokenLogin, TokenPair};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};
use crate::policy::{Answer, Methods, Policy, Routes};

/// Header a browser must send with a cookie-borne refresh (any non-empty value).
pub const CSRF_HEADER: &str = "x-gatehouse-csrf";

pub fn router(state: &AppState) -> Routes {
    let login = Policy::api().limit(LimitKind::LoginIp, Methods::Post, Answer::Json);
    let refresh_policy = Policy::api().limit(LimitKind::RefreshIp, Methods::Post, Answer::Json);
    Routes::new(state, Policy::same_origin().oauth_cors(), Router::new().route("/oauth2/jwks", get(jwks)))
        .merge(Routes::new(state, login, Router::new().route("/api/v1/auth/token", post(token))))
        .merge(Routes::new(state, refresh_policy, Router::new().route("/api/v1/auth/refresh", post(refresh))))
}

/// RFC 7517 §5: the JWK Set; public keys only. Cacheable for less than the publish delay of a
/// new key, so every cache sees a key before it signs.
async fn jwks(State(state): State<AppState>) -> Response {
    let jwks = state.keys.jwks();
    let cache = format!("public, max-age={}", jwks.max_age);
    let mut resp = ([(header::CONTENT_TYPE, "application/json")], jwks.json.to_vec()).into_response();
    if let Ok(v) = HeaderValue::from_str(&cache) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum Delivery {
    #[default]
    Cookie,
    Body,
}

#[derive(Deserialize)]
struct TokenRequest {
    email: String,
    password: Password,
    #[serde(default)]
    token_delivery: Delivery,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

pub(super) fn respond(state: &AppState, jar: CookieJar, pair: TokenPair, delivery: Delivery) -> Response {
    let (jar, refresh_token) = match delivery {
        Delivery::Cookie => {
            (jar.add(cookies::refresh_cookie(&pair.refresh, &state.settings, state.refresh_lifetime)), None)
        }
        Delivery::Body => (jar, Some(pair.refresh.expose().to_owned())),
    };
    let body = TokenResponse {
        access_token: pair.access.token,
        token_type: "Bearer",
        expires_in: pair.access.expires_in,
        refresh_token,
    };
    (jar, axum::Json(body)).into_response()
}

/// Email and password in; an access token (body) and a refresh token (cookie or body) out —
/// or, for an account with a second factor, 401 `mfa_required` with an `mfa_token` for
/// `POST /api/v1/auth/mfa`.
async fn token(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Response, ApiError> {
    match state.tokens.login(&req.email, &req.password, &ctx).await.map_err(ApiError::from)? {
        TokenLogin::Tokens(pair) => Ok(respond(&state, jar, *pair, req.token_delivery)),
        TokenLogin::MfaRequired(pending) => Ok(super::session::mfa_required(&pending)),
    }
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

/// Rotates the refresh token (from the JSON body, else from the cookie) and returns a new
/// access token; the successor travels the way the presented token came.
async fn refresh(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    body: Result<JsonBody<RefreshRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let has_body = headers.contains_key(header::CONTENT_TYPE);
    let (presented, delivery) = match body {
        Ok(JsonBody(req)) => (RefreshToken::from_client(&req.refresh_token), Delivery::Body),
        Err(e) if has_body => return Err(e),
        Err(_) => {
            let cookie = cookies::refresh_token(&jar, &state.settings).ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_grant", "no refresh token was presented")
            })?;
            if headers.get(CSRF_HEADER).is_none_or(|v| v.is_empty()) {
                return Err(ApiError::forbidden(
                    "csrf_header_missing",
                    "a cookie refresh needs the X-Gatehouse-CSRF header",
                ));
            }
            (cookie, Delivery::Cookie)
        }
    };
    match state.tokens.refresh(&presented, &ctx).await {
        Ok(pair) => Ok(respond(&state, jar, pair, delivery)),
        Err(e) => {
            let jar = if delivery == Delivery::Cookie { cookies::clear_refresh(jar, &state.settings) } else { jar };
            Ok((jar, ApiError::from(e)).into_response())
        }
    }
}
