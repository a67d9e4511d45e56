//! Self-service on one's own account: change the password (`/account/password`,
//! `POST /api/v1/account/password`) and delete the account (`/account/delete`,
//! `DELETE /api/v1/account`). The pages are same-origin forms with CSRF tokens; the API takes
//! the session cookie (Origin-checked like every cookie-authenticated call) or a first-party
//! bearer token, like `/api/v1/me`.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::account::Caller;
use gatehouse_core::{AccountError, Password, User};
use serde::Deserialize;

use super::{see_other, signed_in};
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody, PageForm};
use crate::pages;
use crate::policy::{Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    let pages = Router::new()
        .route("/account/password", get(password_page).post(password_form))
        .route("/account/delete", get(delete_page).post(delete_form));
    let api = Router::new()
        .route("/api/v1/account/password", post(password_json))
        .route("/api/v1/account", delete(delete_json));
    Routes::new(state, Policy::same_origin(), pages).merge(Routes::new(state, Policy::api(), api))
}

#[derive(Template)]
#[template(path = "change_password.html")]
struct PasswordPage<'a> {
    csrf_token: &'a str,
    has_password: bool,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "delete_account.html")]
struct DeletePage<'a> {
    csrf_token: &'a str,
    has_password: bool,
    error: Option<&'a str>,
}

/// A page of the signed-in user with a fresh CSRF token, or the way to the sign-in page.
async fn page_for(state: &AppState, jar: CookieJar, render: impl FnOnce(&str, &User) -> String) -> Response {
    let Ok((_, user, _)) = signed_in(state, &jar).await else { return see_other("/login") };
    match cookies::form_token(jar, &state.settings) {
        Ok((jar, csrf_token)) => (jar, Html(render(&csrf_token, &user))).into_response(),
        Err(e) => e.into_page(),
    }
}

async fn password_page(State(state): State<AppState>, jar: CookieJar) -> Response {
    page_for(&state, jar, |csrf_token, user| {
        pages::render(&PasswordPage { csrf_token, has_password: user.password_hash.is_some(), error: None })
    })
    .await
}

async fn delete_page(State(state): State<AppState>, jar: CookieJar) -> Response {
    page_for(&state, jar, |csrf_token, user| {
        pages::render(&DeletePage { csrf_token, has_password: user.password_hash.is_some(), error: None })
    })
    .await
}

/// Errors the person can act on are shown on the form again; the rest get the error page.
fn shown_on_form(e: &AccountError) -> bool {
    matches!(
        e,
        AccountError::WrongPassword
            | AccountError::ReauthenticationRequired
            | AccountError::WeakPassword(_)
            | AccountError::InvalidInput(_)
            | AccountError::LastAdmin
            | AccountError::RateLimited(_)
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    /// Absent for an account without a password (which needs a recent sign-in instead).
    current_password: Option<Password>,
    new_password: Password,
}

async fn password_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    let Ok((session, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    let caller = Caller::Session(session);
    let has_password = user.password_hash.is_some();
    let current = form.current_password.as_ref();
    match state.accounts.change_password(&user, &caller, current, &form.new_password, &ctx).await {
        Ok(()) => see_other("/account?notice=password_changed"),
        Err(e) if shown_on_form(&e) => {
            let error = form_error(e);
            let page = PasswordPage { csrf_token: &form.csrf_token, has_password, error: Some(&error.description) };
            (error.status, Html(pages::render(&page))).into_response()
        }
        Err(e) => ApiError::from(e).into_page(),
    }
}

/// The error as the form shows it: a wrong current password is named as such (the person is
/// signed in, so nothing about other accounts is told).
fn form_error(e: AccountError) -> ApiError {
    match e {
        AccountError::WrongPassword => {
            ApiError::new(StatusCode::FORBIDDEN, "invalid_password", "The password is wrong.")
        }
        other => ApiError::from(other),
    }
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf_token: String,
    password: Option<Password>,
    #[serde(default)]
    confirm: String,
}

async fn delete_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<DeleteForm>,
) -> Response {
    let Ok((session, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    let has_password = user.password_hash.is_some();
    let result = if form.confirm.trim() == "DELETE" {
        state.accounts.delete_own_account(&user, &Caller::Session(session), form.password.as_ref(), &ctx).await
    } else {
        Err(AccountError::InvalidInput("type DELETE to confirm"))
    };
    match result {
        Ok(()) => {
            (cookies::clear_session(jar, &state.settings), see_other("/login?notice=account_deleted")).into_response()
        }
        Err(e) if shown_on_form(&e) => {
            let error = form_error(e);
            let page = DeletePage { csrf_token: &form.csrf_token, has_password, error: Some(&error.description) };
            (error.status, Html(pages::render(&page))).into_response()
        }
        Err(e) => ApiError::from(e).into_page(),
    }
}

#[derive(Deserialize)]
struct PasswordRequest {
    /// Absent for an account without a password (which needs a recent sign-in instead).
    current_password: Option<Password>,
    new_password: Password,
}

/// 204 once changed; 403 for a wrong current password, 422 for a weak new one.
async fn password_json(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    let super::ApiCaller { user, caller } = super::api_caller(&state, &jar, &headers).await?;
    state
        .accounts
        .change_password(&user, &caller, req.current_password.as_ref(), &req.new_password, &ctx)
        .await
        .map_err(form_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct DeleteRequest {
    password: Option<Password>,
}

/// 204 and the session cookie cleared once deleted; 409 `last_admin`.
async fn delete_json(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    JsonBody(req): JsonBody<DeleteRequest>,
) -> Result<Response, ApiError> {
    let super::ApiCaller { user, caller } = super::api_caller(&state, &jar, &headers).await?;
    state.accounts.delete_own_account(&user, &caller, req.password.as_ref(), &ctx).await.map_err(form_error)?;
    Ok((cookies::clear_session(jar, &state.settings), StatusCode::NO_CONTENT).into_response())
}
