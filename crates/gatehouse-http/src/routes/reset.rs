//! Password reset by email (OWASP Forgot Password Cheat Sheet): "Forgot password?"
//! (`/forgot-password`, `POST /api/v1/auth/password/forgot`) and the link's page
//! (`/reset-password?token=…`, `POST /api/v1/auth/password/reset`).
//!
//! The request answers one page (or one 202 body) whoever the address belongs to; the link's
//! `GET` only shows the form (mail scanners that fetch links use nothing up), its `POST` sets
//! the password. Every unusable link gets one generic error. The page carrying the token is
//! served, like every page, with `Referrer-Policy: no-referrer`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::{AccountError, Password};
use serde::Deserialize;

use super::see_other;
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody, PageForm};
use crate::pages;
use crate::policy::{Answer, Methods, Policy, Routes};

/// What every reset request answers, whether or not the address has an account.
pub const RESET_SENT: &str =
    "If an account exists for this address, we have sent it a link to choose a new password. Check your email.";

pub fn router(state: &AppState) -> Routes {
    // Asking for a link counts against the per-IP limit; the per-address one is in core,
    // where over-limit requests get the same answer and no mail.
    let forgot = Policy::same_origin().limit(LimitKind::ResetIp, Methods::Post, Answer::Page);
    let forgot_json = Policy::api().limit(LimitKind::ResetIp, Methods::Post, Answer::Json);
    let pages = Router::new().route("/reset-password", get(reset_page).post(reset_form));
    Routes::new(state, forgot, Router::new().route("/forgot-password", get(forgot_page).post(forgot_form)))
        .merge(Routes::new(state, Policy::same_origin(), pages))
        .merge(Routes::new(
            state,
            forgot_json,
            Router::new().route("/api/v1/auth/password/forgot", post(forgot_json_handler)),
        ))
        .merge(Routes::new(state, Policy::api(), Router::new().route("/api/v1/auth/password/reset", post(reset_json))))
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage<'a> {
    csrf_token: &'a str,
    email: &'a str,
    sent: bool,
    message: &'a str,
    error: Option<&'a str>,
    ttl_minutes: i64,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage<'a> {
    csrf_token: &'a str,
    token: &'a str,
    error: Option<&'a str>,
}

fn forgot(state: &AppState, csrf_token: &str, email: &str, sent: bool, error: Option<&str>) -> String {
    let ttl_minutes = state.accounts.settings().reset_ttl / 60;
    pages::render(&ForgotPage { csrf_token, email, sent, message: RESET_SENT, error, ttl_minutes })
}

async fn forgot_page(State(state): State<AppState>, jar: CookieJar) -> Response {
    match cookies::form_token(jar, &state.settings) {
        Ok((jar, csrf_token)) => (jar, Html(forgot(&state, &csrf_token, "", false, None))).into_response(),
        Err(e) => e.into_page(),
    }
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    csrf_token: String,
    email: String,
}

/// The same page, status and text for known, unknown, disabled and rate-limited addresses.
async fn forgot_form(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageForm(form): PageForm<ForgotForm>,
) -> Response {
    match state.accounts.request_password_reset(&form.email, &ctx).await {
        // The address is not echoed: the page is byte-for-byte the same for every address.
        Ok(()) => Html(forgot(&state, &form.csrf_token, "", true, None)).into_response(),
        Err(e @ AccountError::InvalidEmail(_)) => {
            let error = ApiError::from(e);
            (error.status, Html(forgot(&state, &form.csrf_token, &form.email, false, Some(&error.description))))
                .into_response()
        }
        Err(e) => ApiError::from(e).into_page(),
    }
}

#[derive(Deserialize)]
struct ForgotRequest {
    email: String,
}

/// `202 {"status": "check_email", …}` whoever the address belongs to.
async fn forgot_json_handler(
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<ForgotRequest>,
) -> Result<Response, ApiError> {
    state.accounts.request_password_reset(&req.email, &ctx).await?;
    let body = serde_json::json!({ "status": "check_email", "message": RESET_SENT });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// Shows the form if the link works; uses nothing up.
async fn reset_page(
    State(state): State<AppState>,
    jar: CookieJar,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = query.map(|Query(q)| q.token).unwrap_or_default();
    match state.accounts.reset_link_valid(&token).await {
        Ok(true) => {}
        Ok(false) => return ApiError::from(AccountError::InvalidLink).into_page(),
        Err(e) => return ApiError::from(e).into_page(),
    }
    match cookies::form_token(jar, &state.settings) {
        Ok((jar, csrf_token)) => {
            (jar, Html(pages::render(&ResetPage { csrf_token: &csrf_token, token: &token, error: None })))
                .into_response()
        }
        Err(e) => e.into_page(),
    }
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    password: Password,
    password_confirm: Password,
}

async fn reset_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<ResetForm>,
) -> Response {
    let again = |error: &str, status: StatusCode| {
        let page = ResetPage { csrf_token: &form.csrf_token, token: &form.token, error: Some(error) };
        (status, Html(pages::render(&page))).into_response()
    };
    if !form.password.same_as(&form.password_confirm) {
        return again("The two passwords differ.", StatusCode::UNPROCESSABLE_ENTITY);
    }
    match state.accounts.reset_password(&form.token, &form.password, &ctx).await {
        // Every session ended with the reset; the cookie of this browser's goes too.
        Ok(()) => {
            (cookies::clear_session(jar, &state.settings), see_other("/login?notice=password_reset")).into_response()
        }
        Err(e @ (AccountError::WeakPassword(_) | AccountError::InvalidInput(_))) => {
            let error = ApiError::from(e);
            again(&error.description, error.status)
        }
        Err(e) => ApiError::from(e).into_page(),
    }
}

#[derive(Deserialize)]
struct ResetRequest {
    token: String,
    password: Password,
}

/// 204 once the password is set; `400 invalid_link` for any unusable link, `422
/// weak_password` (the link still works).
async fn reset_json(
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<ResetRequest>,
) -> Result<Response, ApiError> {
    state.accounts.reset_password(&req.token, &req.password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
