//! One router per area; `crate::app` merges them.

pub mod account;
pub mod account_email;
pub mod admin;
pub mod assets;
pub mod authzen;
pub mod console;
pub mod device;
pub mod federation;
pub mod health;
pub mod invitation;
pub mod mfa;
pub mod oauth;
pub mod oidc;
pub mod par;
pub mod passkeys;
pub mod registration;
pub mod reset;
pub mod self_service;
pub mod session;
pub mod step_up;
pub mod token;
pub mod verify;

use axum::http::header::LOCATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use gatehouse_core::{Session, SessionToken, User};
use gatehouse_guard::AccessClaims;
use serde::Serialize;

use crate::AppState;
use crate::cookies;
use crate::error::ApiError;

/// Unknown paths answer 404 in the JSON error format.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// 303 See Other: after a form POST the browser follows with a GET.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// The signed-in user behind the request's session cookie, or 401.
pub async fn signed_in(state: &AppState, jar: &CookieJar) -> Result<(Session, User, SessionToken), ApiError> {
    let token = cookies::session_token(jar, &state.settings).ok_or_else(ApiError::unauthenticated)?;
    let (session, user) = state.accounts.current_session(&token).await?;
    Ok((session, user, token))
}

/// The verified claims of the request's bearer token whose login or grant (`sid`) is still
/// live: a token revoked by logout, RFC 7009 revocation or refresh reuse stops at once, not only
/// when it expires. `None` without an `Authorization` header. DPoP-bound tokens are refused;
/// routes that take them use [`live_token`].
pub async fn live_bearer(state: &AppState, headers: &HeaderMap) -> Option<Result<AccessClaims, ApiError>> {
    let presented = state.bearer.from_headers(headers, state.accounts.clock().now())?;
    Some(live(state, presented).await)
}

/// [`live_bearer`] that also takes a DPoP-bound token with a proof for this request (RFC 9449
/// §7.1): UserInfo, the admin API and the decision API.
pub async fn live_token(state: &AppState, parts: &Parts) -> Option<Result<AccessClaims, ApiError>> {
    let uri = format!("{}{}", state.oauth.settings().issuer, parts.uri.path());
    let now = state.accounts.clock().now();
    let presented = state.bearer.from_request(&state.dpop, &parts.headers, parts.method.as_str(), &uri, now).await?;
    Some(live(state, presented).await)
}

async fn live(state: &AppState, presented: Result<AccessClaims, ApiError>) -> Result<AccessClaims, ApiError> {
    let claims = presented?;
    let live = state
        .tokens
        .refresh_service()
        .access_token_is_live(&claims.client_id, claims.sid.as_deref(), &claims.jti)
        .await
        .map_err(|e| match &e {
            gatehouse_core::token::RefreshError::Store(s) => {
                ApiError::store(s, format_args!("revocation check failed: {e}"))
            }
            _ => ApiError::internal_cause(format_args!("revocation check failed: {e}")),
        })?;
    if live { Ok(claims) } else { Err(crate::bearer::invalid_token("the token has been revoked")) }
}

/// Who calls a first-party account API: the user behind a bearer access token of our own
/// first-party API (RFC 6750 §2.1) or, without one, the session cookie.
pub struct ApiCaller {
    pub user: User,
    /// How: the session (kept when other sign-ins end) or a token, with when it authenticated
    /// (for changes that need a recent sign-in).
    pub caller: gatehouse_core::account::Caller,
}

/// Header a browser must send with a cookie-authenticated state change of the account API (any
/// non-empty value): a cross-site form cannot send it, whatever the Origin check saw.
pub const ACCOUNT_CSRF_HEADER: &str = crate::routes::token::CSRF_HEADER;

/// The caller of a state-changing account API call; a cookie-authenticated one must also send
/// [`ACCOUNT_CSRF_HEADER`]. 401 with `WWW-Authenticate` for nobody.
pub async fn api_caller(state: &AppState, jar: &CookieJar, headers: &HeaderMap) -> Result<ApiCaller, ApiError> {
    if let Some(claims) = live_bearer(state, headers).await {
        let claims = claims?;
        if claims.client_id != gatehouse_core::token::FIRST_PARTY_CLIENT {
            return Err(crate::bearer::invalid_token("this API accepts first-party access tokens only"));
        }
        let id = gatehouse_core::UserId::parse(&claims.sub)
            .ok_or_else(|| crate::bearer::invalid_token("unknown subject"))?;
        let user = state
            .accounts
            .active_user(id)
            .await?
            .ok_or_else(|| crate::bearer::invalid_token("the token has been revoked"))?;
        return Ok(ApiCaller { user, caller: gatehouse_core::account::Caller::Token { auth_time: claims.auth_time } });
    }
    let (session, user, _) = signed_in(state, jar).await?;
    if headers.get(ACCOUNT_CSRF_HEADER).is_none_or(|v| v.is_empty()) {
        return Err(ApiError::forbidden(
            "csrf_header_missing",
            "a cookie-authenticated change needs the X-Gatehouse-CSRF header",
        ));
    }
    Ok(ApiCaller { user, caller: gatehouse_core::account::Caller::Session(session) })
}

/// A user as the JSON APIs show it (never the password hash).
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub email_verified: bool,
    pub status: &'static str,
    pub created_at: i64,
}

impl From<&User> for UserResponse {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            display_name: u.display_name.clone(),
            email_verified: u.email_verified,
            status: u.status.as_str(),
            created_at: u.created_at,
        }
    }
}
