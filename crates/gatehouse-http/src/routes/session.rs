//! Sign-in and sign-out: the login page and form (`/login`, `/logout`) and the first-party JSON
//! API (`/api/v1/auth/login`, `/api/v1/auth/logout`). Both create the same server-side session.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::account::{LoginOutcome, MfaPending};
use gatehouse_core::mfa::MfaChannel;
use gatehouse_core::token::RefreshToken;
use gatehouse_core::{AccountError, Password, SignedIn};
use serde::{Deserialize, Serialize};

use super::{UserResponse, see_other};
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody, PageForm};
use crate::pages::{self, LoginPage};
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    // Submitting a password is an attempt; showing the form is not.
    let login = Policy::same_origin().limit(LimitKind::LoginIp, Methods::Post, Answer::Page);
    let login_json_policy = Policy::api().limit(LimitKind::LoginIp, Methods::Post, Answer::Json);
    Routes::new(state, login, Router::new().route("/login", get(login_page).post(login_form)))
        .merge(Routes::new(state, Policy::same_origin(), Router::new().route("/logout", post(logout_form))))
        .merge(Routes::new(state, login_json_policy, Router::new().route("/api/v1/auth/login", post(login_json))))
        .merge(Routes::new(state, Policy::api(), Router::new().route("/api/v1/auth/logout", post(logout_json))))
}

#[derive(Deserialize)]
struct LoginQuery {
    notice: Option<String>,
    next: Option<String>,
    login_hint: Option<String>,
    /// `login` when an authorization request asked for a fresh sign-in (passed on upstream).
    prompt: Option<String>,
}

/// Only an authorization request of our own, the device sign-in page, or a console page, may
/// be continued after sign-in: a path on this origin, never another host (no open redirect).
pub(super) fn safe_next(next: Option<&str>) -> Option<&str> {
    let api = |n: &str| n == "/admin/v1" || n.starts_with("/admin/v1/") || n.starts_with("/admin/v1?");
    let console = |n: &str| n.starts_with("/admin/") && !api(n) && !n.contains("//");
    let device = |n: &str| n == "/device" || n.starts_with("/device?user_code=");
    next.filter(|n| {
        (n.starts_with("/oauth2/authorize?") || console(n) || device(n))
            && !n.contains(|c: char| c == '\\' || c.is_control())
    })
}

/// What registration answers, whether the address was new or taken.
pub(super) const REGISTERED: &str = "Thank you. Check your email: we sent a message to the address you entered. If your account is new, you can sign in now.";

/// Only known notices are shown; the query string never reaches the page as text.
fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "registered" => Some(REGISTERED),
        "signed_out" => Some("You have been signed out."),
        "invitation_accepted" => Some("Your account has been created. Sign in with your email address and password."),
        "password_reset" => {
            Some("Your password has been changed and every session signed out. Sign in with the new password.")
        }
        "account_deleted" => Some("Your account has been deleted."),
        "mfa_expired" => Some("The sign-in has expired or was finished elsewhere; sign in again."),
        _ => None,
    }
}

async fn login_page(State(state): State<AppState>, jar: CookieJar, Query(q): Query<LoginQuery>) -> Response {
    let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    let prompt_login = q.prompt.as_deref() == Some("login");
    let page = LoginPage {
        csrf_token: &csrf_token,
        email: q.login_hint.as_deref().unwrap_or_default(),
        error: None,
        notice: notice_text(q.notice.as_deref()),
        registration_enabled: state.accounts.settings().registration_enabled,
        next: safe_next(q.next.as_deref()),
        prompt_login,
        providers: super::federation::buttons(&state, safe_next(q.next.as_deref()), prompt_login),
        passkeys_enabled: state.accounts.passkeys_enabled(),
    };
    (jar, Html(pages::render(&page))).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: Password,
    next: Option<String>,
    /// `login` when the page was shown for a fresh sign-in (see [`LoginQuery::prompt`]).
    prompt: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let previous = cookies::session_token(&jar, &state.settings);
    let next = safe_next(form.next.as_deref());
    match state.accounts.login(&form.email, &form.password, previous.as_ref(), MfaChannel::Page, next, &ctx).await {
        Ok(LoginOutcome::SignedIn(signed_in)) => {
            let jar = jar.add(cookies::session_cookie(&signed_in.token, &state.settings));
            (jar, see_other(next.unwrap_or("/account"))).into_response()
        }
        // No session yet: the second step is bound to this browser by an HttpOnly cookie and
        // carries the parked authorization request.
        Ok(LoginOutcome::MfaRequired(pending)) => {
            let jar = jar.add(cookies::mfa_cookie(&pending.handle, &state.settings));
            (jar, see_other("/login/mfa")).into_response()
        }
        Err(AccountError::InvalidCredentials) => {
            let (jar, csrf_token) =
                match cookies::form_token(cookies::clear_session(jar, &state.settings), &state.settings) {
                    Ok(v) => v,
                    Err(e) => return e.into_page(),
                };
            let page = LoginPage {
                csrf_token: &csrf_token,
                email: &form.email,
                error: Some("Invalid email or password."),
                notice: None,
                registration_enabled: state.accounts.settings().registration_enabled,
                next: safe_next(form.next.as_deref()),
                prompt_login: form.prompt.as_deref() == Some("login"),
                providers: super::federation::buttons(
                    &state,
                    safe_next(form.next.as_deref()),
                    form.prompt.as_deref() == Some("login"),
                ),
                passkeys_enabled: state.accounts.passkeys_enabled(),
            };
            let mut resp = (StatusCode::UNAUTHORIZED, jar, Html(pages::render(&page))).into_response();
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
            resp
        }
        Err(e) => ApiError::from(e).into_page(),
    }
}

async fn logout_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    // The form carries nothing but its CSRF token, which `PageForm` checks.
    PageForm(_): PageForm<serde::de::IgnoredAny>,
) -> Response {
    if let Some(token) = cookies::session_token(&jar, &state.settings)
        && let Err(e) = state.accounts.logout(&token, &ctx).await
    {
        return ApiError::from(e).into_page();
    }
    (cookies::clear_session(jar, &state.settings), see_other("/login?notice=signed_out")).into_response()
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: Password,
}

#[derive(Serialize)]
struct LoginResponse {
    user: UserResponse,
    session: SessionInfo,
}

#[derive(Serialize)]
struct SessionInfo {
    id: String,
    expires_at: i64,
    idle_timeout: i64,
}

/// First-party JSON login: opens a server-side session and sets its cookie; for an account
/// with a second factor, 401 `mfa_required` with an `mfa_token` for `POST /api/v1/auth/mfa`.
async fn login_json(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let previous = cookies::session_token(&jar, &state.settings);
    let channel = MfaChannel::Session;
    match state.accounts.login(&req.email, &req.password, previous.as_ref(), channel, None, &ctx).await? {
        LoginOutcome::SignedIn(signed_in) => Ok(login_response(&state, jar, &signed_in)),
        LoginOutcome::MfaRequired(pending) => Ok(mfa_required(&pending)),
    }
}

#[derive(Serialize)]
struct MfaRequiredResponse<'a> {
    error: &'static str,
    error_description: &'static str,
    mfa_token: &'a str,
    methods: &'a [&'static str],
    expires_at: i64,
}

/// 401: the password was right, the second factor is missing. No session, no token.
pub(super) fn mfa_required(pending: &MfaPending) -> Response {
    let body = MfaRequiredResponse {
        error: "mfa_required",
        error_description: "a second factor is required: POST the mfa_token and a code (or a passkey answer) to /api/v1/auth/mfa",
        mfa_token: &pending.handle,
        methods: &pending.methods,
        expires_at: pending.expires_at,
    };
    let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer realm=\"gatehouse\""),
    );
    resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    resp
}

/// The session cookie and the JSON login answer.
pub(super) fn login_response(state: &AppState, jar: CookieJar, signed_in: &SignedIn) -> Response {
    let body = LoginResponse {
        user: UserResponse::from(&signed_in.user),
        session: SessionInfo {
            id: signed_in.session.id.to_string(),
            expires_at: signed_in.session.expires_at,
            idle_timeout: state.accounts.settings().session.idle_timeout,
        },
    };
    let jar = jar.add(cookies::session_cookie(&signed_in.token, &state.settings));
    (jar, axum::Json(body)).into_response()
}

#[derive(Deserialize)]
struct LogoutRequest {
    refresh_token: Option<String>,
}

/// Ends the session and revokes the refresh-token family (cookie, or `refresh_token` in a
/// JSON body), and clears both cookies; 204 whether or not anything was open.
async fn logout_json(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    body: Result<JsonBody<LogoutRequest>, ApiError>,
) -> Result<Response, ApiError> {
    if let Some(token) = cookies::session_token(&jar, &state.settings) {
        state.accounts.logout(&token, &ctx).await?;
    }
    let presented = match body {
        Ok(JsonBody(LogoutRequest { refresh_token: Some(t) })) => Some(RefreshToken::from_client(&t)),
        _ => cookies::refresh_token(&jar, &state.settings),
    };
    if let Some(refresh) = presented {
        state
            .tokens
            .refresh_service()
            .revoke(&refresh, "logout", &ctx)
            .await
            .map_err(|e| ApiError::internal_cause(format_args!("revoking refresh family failed: {e}")))?;
    }
    let jar = cookies::clear_refresh(cookies::clear_session(jar, &state.settings), &state.settings);
    Ok((jar, StatusCode::NO_CONTENT).into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn the_device_page_may_be_continued_after_sign_in_and_nothing_like_it() {
        for ok in ["/device", "/device?user_code=BCDF-GHJK", "/oauth2/authorize?client_id=x", "/admin/users"] {
            assert_eq!(safe_next(Some(ok)), Some(ok), "{ok}");
        }
        for bad in [
            "/devices",
            "/device/decision",
            "/device?x=1",
            "//evil.test/device",
            "https://evil.test/device",
            "/device?user_code=a\\b",
            "/device?user_code=a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }
}
