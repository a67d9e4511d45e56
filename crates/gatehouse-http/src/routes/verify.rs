//! The links of verification and change-of-address mails: `GET /verify-email?token=…` shows
//! what the link would confirm and changes nothing (mail scanners fetch every URL in a
//! message), `POST /verify-email` confirms it once; `POST /api/v1/auth/verify-email` is the same
//! for apps. Unknown, used and expired links get one generic answer.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::account::tokens::TokenPurpose;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, FormBody, JsonBody};
use crate::pages::{self, VerifyDonePage, VerifyEmailPage};
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    // A token is 256 random bits, but a confirmation is still a guess worth limiting.
    let page = Policy::same_origin().limit(LimitKind::RegisterIp, Methods::Post, Answer::Page);
    let api = Policy::api().limit(LimitKind::RegisterIp, Methods::Post, Answer::Json);
    Routes::new(state, page, Router::new().route("/verify-email", get(verify_page).post(verify_form)))
        .merge(Routes::new(state, api, Router::new().route("/api/v1/auth/verify-email", post(verify_json))))
}

/// The one `token` query parameter (invalid UTF-8 is replaced, and then matches nothing).
fn token_param(raw: Option<String>) -> String {
    let pairs = url::form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes());
    let mut tokens = pairs.filter(|(k, _)| k == "token").map(|(_, v)| v.into_owned());
    match (tokens.next(), tokens.next()) {
        (Some(t), None) => t,
        _ => String::new(),
    }
}

/// The confirm page: which address, and a button. Nothing is consumed.
async fn verify_page(State(state): State<AppState>, jar: CookieJar, RawQuery(raw): RawQuery) -> Response {
    let token = token_param(raw);
    let pending = match state.accounts.pending_link(&token).await {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_page(),
    };
    let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    let page = VerifyEmailPage {
        csrf_token: &csrf_token,
        token: &token,
        email: pending.email.as_str(),
        change: pending.purpose == TokenPurpose::ChangeEmail,
    };
    (jar, Html(pages::render(&page))).into_response()
}

#[derive(Deserialize)]
struct VerifyForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
}

/// Confirms the link: the address is verified (or, for a change, replaced) and a page says so.
async fn verify_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    form: Result<FormBody<VerifyForm>, ApiError>,
) -> Response {
    let result = async {
        let FormBody(form) = form?;
        cookies::check_form_token(&jar, &state.settings, &form.csrf_token)?;
        Ok::<_, ApiError>(state.accounts.confirm_link(&form.token, &ctx).await?)
    }
    .await;
    match result {
        Ok(done) => {
            let page = VerifyDonePage { email: done.email.as_str(), change: done.purpose == TokenPurpose::ChangeEmail };
            Html(pages::render(&page)).into_response()
        }
        Err(e) => e.into_page(),
    }
}

#[derive(Deserialize)]
struct VerifyRequest {
    token: String,
}

#[derive(Serialize)]
struct VerifyResponse {
    status: &'static str,
    /// `verify_email` or `change_email`.
    purpose: &'static str,
    /// The account's address now (verified).
    email: String,
}

/// `POST /api/v1/auth/verify-email {token}`: the link's token, confirmed.
async fn verify_json(
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<axum::Json<VerifyResponse>, ApiError> {
    let done = state.accounts.confirm_link(&req.token, &ctx).await?;
    Ok(axum::Json(VerifyResponse {
        status: "verified",
        purpose: done.purpose.as_str(),
        email: done.email.as_str().to_owned(),
    }))
}
