//! Accepting an invitation: the page `/invitation?token=…` (GET shows the form and does not
//! spend the link, so mail scanners that fetch links cannot use it up; POST creates the
//! account) and the JSON `POST /api/v1/auth/invitations/accept`. Rate-limited like
//! registration; works with registration switched off.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::Password;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::invitation::InvitationError;
use serde::Deserialize;

use super::{UserResponse, see_other};
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody, PageForm};
use crate::pages::{self, InvitationPage};
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    let page = Policy::same_origin().limit(LimitKind::RegisterIp, Methods::Post, Answer::Page);
    let json = Policy::api().limit(LimitKind::RegisterIp, Methods::Post, Answer::Json);
    Routes::new(state, page, Router::new().route("/invitation", get(invitation_page).post(accept_form)))
        .merge(Routes::new(state, json, Router::new().route("/api/v1/auth/invitations/accept", post(accept_json))))
}

#[derive(Deserialize)]
struct InvitationQuery {
    #[serde(default)]
    token: String,
}

/// The form for a pending invitation; an unknown, expired, revoked or used link gets one error
/// page.
async fn invitation_page(
    State(state): State<AppState>,
    jar: CookieJar,
    query: Result<Query<InvitationQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = query.map(|Query(q)| q.token).unwrap_or_default();
    let invitation = match state.invitations.pending(&token).await {
        Ok(i) => i,
        Err(e) => return ApiError::from(e).into_page(),
    };
    match cookies::form_token(jar, &state.settings) {
        Ok((jar, csrf_token)) => {
            let page = InvitationPage {
                csrf_token: &csrf_token,
                token: &token,
                email: invitation.email.as_str(),
                display_name: "",
                error: None,
            };
            (jar, Html(pages::render(&page))).into_response()
        }
        Err(e) => e.into_page(),
    }
}

#[derive(Deserialize)]
struct AcceptForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    password: Password,
    #[serde(default)]
    display_name: String,
}

async fn accept_form(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageForm(form): PageForm<AcceptForm>,
) -> Response {
    let display_name = Some(form.display_name.as_str()).filter(|n| !n.trim().is_empty());
    match state.invitations.accept(&form.token, &form.password, display_name, &ctx).await {
        Ok(_) => see_other("/login?notice=invitation_accepted"),
        // Fixable on the same page: show the form again with the reason.
        Err(e @ (InvitationError::WeakPassword(_) | InvitationError::InvalidInput(_))) => {
            let error = ApiError::from(e);
            let Ok(invitation) = state.invitations.pending(&form.token).await else { return error.into_page() };
            let page = InvitationPage {
                csrf_token: &form.csrf_token,
                token: &form.token,
                email: invitation.email.as_str(),
                display_name: &form.display_name,
                error: Some(&error.description),
            };
            (error.status, Html(pages::render(&page))).into_response()
        }
        Err(e) => ApiError::from(e).into_page(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptRequest {
    token: String,
    password: Password,
    display_name: Option<String>,
}

#[derive(serde::Serialize)]
struct AcceptResponse {
    user: UserResponse,
}

/// JSON acceptance: 201 with the new account (sign in next, as after registration).
async fn accept_json(
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<AcceptRequest>,
) -> Result<Response, ApiError> {
    let user = state.invitations.accept(&req.token, &req.password, req.display_name.as_deref(), &ctx).await?;
    Ok((StatusCode::CREATED, axum::Json(AcceptResponse { user: UserResponse::from(&user) })).into_response())
}
