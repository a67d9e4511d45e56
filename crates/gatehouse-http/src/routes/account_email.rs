//! The account's address: a new verification link (`/account/verify-email/resend`,
//! `/api/v1/account/verify-email`), a change of address (`/account/email`,
//! `/api/v1/account/email`), and the page an unverified user sees instead of signing in to an
//! application when `accounts.require_verified_email` is on.
//!
//! Every route here sends mail, so each counts against the registration quota per client IP
//! (here) and per account (in core).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::post;
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::account::{Reauth, Resent};
use gatehouse_core::{Password, User};
use serde::Deserialize;
use serde_json::json;

use super::{api_caller, see_other, signed_in};
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, FormBody, JsonBody};
use crate::pages::{self, VerifyRequiredPage};
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    let pages = Policy::same_origin().limit(LimitKind::RegisterIp, Methods::Post, Answer::Page);
    let api = Policy::api().limit(LimitKind::RegisterIp, Methods::Post, Answer::Json);
    let page_routes = Router::new()
        .route("/account/verify-email/resend", post(resend_form))
        .route("/account/email", post(change_form));
    let api_routes = Router::new()
        .route("/api/v1/account/verify-email", post(resend_json))
        .route("/api/v1/account/email", post(change_json));
    Routes::new(state, pages, page_routes).merge(Routes::new(state, api, api_routes))
}

/// The account page's notices of this area (only known codes; the query never reaches the page).
pub fn notice(code: &str) -> Option<&'static str> {
    match code {
        "verification_sent" => Some("We sent you a new verification link. It replaces any earlier one."),
        "already_verified" => Some("Your email address is verified already."),
        "email_change_sent" => Some(
            "To finish the change, follow the link we sent to the new address. Until then your current address stays.",
        ),
        _ => None,
    }
}

/// Shown instead of signing in to an application while the address is unverified.
pub fn verify_required_page(state: &AppState, jar: CookieJar, user: &User) -> Response {
    let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    let page = VerifyRequiredPage { csrf_token: &csrf_token, email: user.email.as_str() };
    (StatusCode::FORBIDDEN, jar, Html(pages::render(&page))).into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// The account page's "send a new link" button.
async fn resend_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    form: Result<FormBody<CsrfForm>, ApiError>,
) -> Response {
    let result = async {
        let FormBody(form) = form?;
        cookies::check_form_token(&jar, &state.settings, &form.csrf_token)?;
        let (_, user, _) = signed_in(&state, &jar).await?;
        Ok::<_, ApiError>(state.accounts.resend_verification(&user, &ctx).await?)
    }
    .await;
    match result {
        Ok(Resent::Sent) => see_other("/account?notice=verification_sent"),
        Ok(Resent::AlreadyVerified) => see_other("/account?notice=already_verified"),
        Err(e) => e.into_page(),
    }
}

/// `POST /api/v1/account/verify-email`: 202 when a link was sent, 200 when already verified.
async fn resend_json(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    let caller = api_caller(&state, &jar, &headers).await?;
    Ok(match state.accounts.resend_verification(&caller.user, &ctx).await? {
        Resent::Sent => (StatusCode::ACCEPTED, axum::Json(json!({ "status": "sent" }))).into_response(),
        Resent::AlreadyVerified => axum::Json(json!({ "status": "already_verified" })).into_response(),
    })
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    csrf_token: String,
    new_email: String,
    /// Absent for accounts without a password (a recent sign-in stands in for it).
    password: Option<Password>,
}

/// The account page's "Change email" form.
async fn change_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    form: Result<FormBody<ChangeForm>, ApiError>,
) -> Response {
    let result = async {
        let FormBody(form) = form?;
        cookies::check_form_token(&jar, &state.settings, &form.csrf_token)?;
        let (session, user, _) = signed_in(&state, &jar).await?;
        let reauth = Reauth { password: form.password.as_ref(), auth_time: Some(session.auth_time) };
        Ok::<_, ApiError>(state.accounts.request_email_change(&user, &form.new_email, reauth, &ctx).await?)
    }
    .await;
    match result {
        Ok(()) => see_other("/account?notice=email_change_sent"),
        Err(e) => e.into_page(),
    }
}

#[derive(Deserialize)]
struct ChangeRequest {
    new_email: String,
    password: Option<Password>,
}

/// `POST /api/v1/account/email {new_email, password}`: 202 whether or not the new address
/// belongs to another account.
async fn change_json(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    JsonBody(req): JsonBody<ChangeRequest>,
) -> Result<Response, ApiError> {
    let caller = api_caller(&state, &jar, &headers).await?;
    let reauth = Reauth { password: req.password.as_ref(), auth_time: caller.caller.auth_time() };
    state.accounts.request_email_change(&caller.user, &req.new_email, reauth, &ctx).await?;
    let body = json!({
        "status": "check_email",
        "message": "To finish the change, follow the link sent to the new address.",
    });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}
