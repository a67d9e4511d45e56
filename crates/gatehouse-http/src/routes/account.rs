//! Registration (`/register`, `/api/v1/auth/register`), the account page with the user's own
//! sessions (`/account`), and `/api/v1/me`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::account::SignInKind;
use gatehouse_core::token::FIRST_PARTY_CLIENT;
use gatehouse_core::{AccountError, Password, UserId};
use serde::Deserialize;
use uuid::Uuid;

use super::{UserResponse, see_other, signed_in};
use crate::AppState;
use crate::bearer::invalid_token;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, FormBody, JsonBody, PageForm};
use crate::pages::{self, AccountPage, ConsentRow, ProviderRow, RegisterPage, SessionRow, format_time};
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    let pages = Router::new()
        .route("/", get(|| async { see_other("/account") }))
        .route("/account", get(account_page))
        .route("/account/sessions/{id}/revoke", post(revoke_session))
        .route("/account/consents/{client_id}/revoke", post(revoke_consent));
    let register = Policy::same_origin().limit(LimitKind::RegisterIp, Methods::Post, Answer::Page);
    let register_json_policy = Policy::api().limit(LimitKind::RegisterIp, Methods::Post, Answer::Json);
    // The JSON API's own routes, and the CORS-answering 404 of any other path under `/api/`.
    let api = Router::new().route("/api/v1/me", get(me)).merge(crate::policy::unknown_under("/api"));
    Routes::new(state, Policy::same_origin(), pages)
        .merge(Routes::new(state, register, Router::new().route("/register", get(register_page).post(register_form))))
        .merge(Routes::new(
            state,
            register_json_policy,
            Router::new().route("/api/v1/auth/register", post(register_json)),
        ))
        .merge(Routes::new(state, Policy::api(), api))
}

fn registration_open(state: &AppState) -> Result<(), ApiError> {
    if state.accounts.settings().registration_enabled { Ok(()) } else { Err(AccountError::RegistrationDisabled.into()) }
}

async fn register_page(State(state): State<AppState>, jar: CookieJar) -> Response {
    if let Err(e) = registration_open(&state) {
        return e.into_page();
    }
    match cookies::form_token(jar, &state.settings) {
        Ok((jar, csrf_token)) => {
            let page = RegisterPage { csrf_token: &csrf_token, email: "", display_name: "", error: None };
            (jar, Html(pages::render(&page))).into_response()
        }
        Err(e) => e.into_page(),
    }
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf_token: String,
    email: String,
    password: Password,
    #[serde(default)]
    display_name: String,
}

async fn register_form(
    State(state): State<AppState>,
    Client(ctx): Client,
    PageForm(form): PageForm<RegisterForm>,
) -> Response {
    match state.accounts.register(&form.email, &form.password, Some(&form.display_name), &ctx).await {
        Ok(_) => see_other("/login?notice=registered"),
        Err(e @ AccountError::Store(_) | e @ AccountError::Hash(_) | e @ AccountError::Random(_)) => {
            ApiError::from(e).into_page()
        }
        Err(e) => {
            let error = ApiError::from(e);
            let csrf_token = form.csrf_token;
            let page = RegisterPage {
                csrf_token: &csrf_token,
                email: &form.email,
                display_name: &form.display_name,
                error: Some(&error.description),
            };
            (error.status, Html(pages::render(&page))).into_response()
        }
    }
}

#[derive(Deserialize)]
struct RegisterRequest {
    email: String,
    password: Password,
    display_name: Option<String>,
}

/// JSON registration: 202 with the same body whether the address was new or taken (the
/// account's id is not shown: it would tell the two apart).
async fn register_json(
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Result<Response, ApiError> {
    state.accounts.register(&req.email, &req.password, req.display_name.as_deref(), &ctx).await?;
    let body = serde_json::json!({ "status": "check_email", "message": super::session::REGISTERED });
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[derive(serde::Deserialize)]
struct AccountQuery {
    notice: Option<String>,
}

/// Only known notices are shown; the query string never reaches the page as text.
fn account_notice(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "provider_linked" => Some("The provider is now connected to your account."),
        "provider_unlinked" => Some("The provider was disconnected from your account."),
        "password_changed" => Some("Your password has been changed. Your other sessions and apps were signed out."),
        other => super::account_email::notice(other),
    }
}

/// The configured upstream providers and whether this user is linked to each.
async fn provider_rows(state: &AppState, user: gatehouse_core::UserId) -> Result<Vec<ProviderRow>, Response> {
    let Some(fed) = &state.federation else { return Ok(Vec::new()) };
    let linked = fed.service.identities(user).await.map_err(|e| ApiError::from(e).into_page())?;
    Ok(fed
        .upstreams
        .buttons()
        .into_iter()
        .map(|(id, name)| ProviderRow { linked: linked.iter().any(|l| l.provider == id), id, name })
        .collect())
}

async fn account_page(
    State(state): State<AppState>,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<AccountQuery>,
) -> Response {
    let (current, user, _) = match signed_in(&state, &jar).await {
        Ok(v) => v,
        Err(_) => return see_other("/login"),
    };
    let sessions = match state.accounts.sign_ins(user.id).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_page(),
    };
    let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    let rows = sessions
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            kind: match s.kind {
                SignInKind::Browser => "Browser",
                SignInKind::Token => "App (token)",
            },
            created: format_time(s.created_at),
            last_seen: format_time(s.last_seen_at),
            ip: s.ip.unwrap_or_else(|| "unknown".into()),
            user_agent: s.user_agent.unwrap_or_else(|| "unknown".into()),
            current: s.kind == SignInKind::Browser && s.id == current.id,
        })
        .collect();
    let mut consents = Vec::new();
    for c in state.oauth.consents_of(user.id).await.unwrap_or_default() {
        let name = match state.oauth.client(&c.client_id).await {
            Ok(Some(client)) => client.name,
            _ => c.client_id.clone(),
        };
        consents.push(ConsentRow {
            client_id: c.client_id,
            client_name: name,
            scopes: c.scopes.join(" "),
            granted: format_time(c.granted_at),
        });
    }
    let page = AccountPage {
        csrf_token: &csrf_token,
        email: user.email.as_str(),
        display_name: user.display_name.as_deref(),
        sessions: rows,
        consents,
        notice: account_notice(q.notice.as_deref()),
        providers: match provider_rows(&state, user.id).await {
            Ok(p) => p,
            Err(r) => return r,
        },
        email_verified: user.email_verified,
        has_password: user.password_hash.is_some(),
    };
    (jar, Html(pages::render(&page))).into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

async fn revoke_session(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    Path(id): Path<String>,
    form: Result<FormBody<CsrfForm>, ApiError>,
) -> Response {
    let result = async {
        let FormBody(form) = form?;
        cookies::check_form_token(&jar, &state.settings, &form.csrf_token)?;
        let (_, user, _) = signed_in(&state, &jar).await?;
        let id = Uuid::try_parse(&id).map_err(|_| ApiError::not_found())?;
        state.accounts.revoke_own_session(user.id, id, &ctx).await?;
        Ok::<_, ApiError>(see_other("/account"))
    }
    .await;
    result.unwrap_or_else(ApiError::into_page)
}

/// Withdraws a consent given to an application (it must ask again next time).
async fn revoke_consent(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    Path(client_id): Path<String>,
    form: Result<FormBody<CsrfForm>, ApiError>,
) -> Response {
    let result = async {
        let FormBody(form) = form?;
        cookies::check_form_token(&jar, &state.settings, &form.csrf_token)?;
        let (_, user, _) = signed_in(&state, &jar).await?;
        match state.oauth.revoke_consent(user.id, &client_id, &ctx).await {
            Ok(true) => Ok::<_, ApiError>(see_other("/account")),
            Ok(false) => Err(ApiError::not_found()),
            Err(e) => Err(ApiError::internal_cause(e)),
        }
    }
    .await;
    result.unwrap_or_else(ApiError::into_page)
}

/// The user behind a bearer access token (RFC 6750 §2.1) or, without one, the session cookie;
/// else 401 with `WWW-Authenticate`.
async fn me(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<axum::Json<UserResponse>, ApiError> {
    let user = match super::live_bearer(&state, &headers).await {
        Some(claims) => {
            let claims = claims?;
            // Our own first-party API: tokens of OAuth clients get `/oauth2/userinfo`, which
            // shows only what their scopes allow.
            if claims.client_id != FIRST_PARTY_CLIENT {
                return Err(invalid_token("this API accepts first-party access tokens only"));
            }
            let user = UserId::parse(&claims.sub).ok_or_else(|| invalid_token("unknown subject"))?;
            // The token must still belong to an active user.
            state.accounts.active_user(user).await?.ok_or_else(|| invalid_token("the token has been revoked"))?
        }
        None => signed_in(&state, &jar).await?.1,
    };
    Ok(axum::Json(UserResponse::from(&user)))
}
