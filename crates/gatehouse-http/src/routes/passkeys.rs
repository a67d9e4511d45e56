//! Passkeys (WebAuthn): the ceremonies the pages run through `/static/passkey.js`, and the
//! JSON API's second factor.
//!
//! - `POST /account/passkeys/register/{start,finish}`: register a passkey (signed in, after
//!   re-authentication); `POST /account/passkeys/{id}/delete`: remove one (a page form).
//! - `POST /login/passkey/{start,finish}`: passwordless sign-in with a discoverable credential.
//! - `POST /login/mfa/passkey/{start,finish}`: a passkey as the second step of a page sign-in
//!   (bound to the browser by the pending step's cookie).
//! - `POST /api/v1/auth/mfa/passkey`: starts the second step of `/api/v1/auth/login` or
//!   `/api/v1/auth/token` with a passkey; `POST /api/v1/auth/mfa` finishes it.
//!
//! The page endpoints take and answer JSON; a cookie-authenticated call must carry the page's
//! CSRF token in `X-Gatehouse-CSRF` (checked like a form's), besides the Origin check of the
//! route policy.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_extra::extract::CookieJar;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::account::{CeremonyStart, PasskeyAdded, PasskeySummary, Proof, Reauth};
use gatehouse_core::mfa::MfaChannel;
use gatehouse_core::mfa::passkey::{PublicKeyCredential, RegisterPublicKeyCredential};
use gatehouse_core::token::JSON_CHANNELS;
use gatehouse_core::{AccountError, Password};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::session::safe_next;
use super::{see_other, signed_in};
use crate::AppState;
use crate::cookies;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody, PageForm};
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    // A passkey answer is a sign-in attempt: the sign-in's per-IP limit applies.
    let attempt = Policy::same_origin().limit(LimitKind::LoginIp, Methods::Post, Answer::Json);
    let attempt_api = Policy::api().limit(LimitKind::LoginIp, Methods::Post, Answer::Json);
    let sign_in = Router::new()
        .route("/login/passkey/start", post(sign_in_start))
        .route("/login/passkey/finish", post(sign_in_finish))
        .route("/login/mfa/passkey/start", post(second_factor_start))
        .route("/login/mfa/passkey/finish", post(second_factor_finish));
    let account = Router::new()
        .route("/account/passkeys/register/start", post(register_start))
        .route("/account/passkeys/register/finish", post(register_finish))
        .route("/account/passkeys/{id}/delete", post(remove));
    Routes::new(state, attempt, sign_in).merge(Routes::new(state, Policy::same_origin(), account)).merge(Routes::new(
        state,
        attempt_api,
        Router::new().route("/api/v1/auth/mfa/passkey", post(api_start)),
    ))
}

/// A ceremony for the browser: its handle and the options for `navigator.credentials`.
#[derive(Serialize)]
struct StartResponse {
    ceremony: String,
    options: serde_json::Value,
}

impl From<CeremonyStart> for StartResponse {
    fn from(c: CeremonyStart) -> Self {
        Self { ceremony: c.handle, options: c.options }
    }
}

fn started(c: CeremonyStart) -> Response {
    let mut resp = axum::Json(StartResponse::from(c)).into_response();
    resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    resp
}

/// Where the page goes next.
#[derive(Serialize)]
struct Redirect<'a> {
    redirect: &'a str,
}

/// The page's CSRF token, sent by the script in `X-Gatehouse-CSRF`.
fn check_csrf(state: &AppState, jar: &CookieJar, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers.get(super::ACCOUNT_CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    cookies::check_form_token(jar, &state.settings, presented)
}

#[derive(Deserialize)]
struct RegisterStart {
    name: String,
    password: Option<Password>,
}

async fn register_start(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    JsonBody(req): JsonBody<RegisterStart>,
) -> Result<Response, ApiError> {
    check_csrf(&state, &jar, &headers)?;
    let (session, user, _) = signed_in(&state, &jar).await?;
    let reauth = Reauth { password: req.password.as_ref(), auth_time: Some(session.auth_time) };
    Ok(started(state.accounts.begin_passkey_registration(&user, &req.name, reauth, &ctx).await?))
}

#[derive(Deserialize)]
struct RegisterFinish {
    ceremony: String,
    name: String,
    credential: RegisterPublicKeyCredential,
}

#[derive(Serialize)]
struct PasskeyView {
    id: Uuid,
    name: String,
    discoverable: bool,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<PasskeySummary> for PasskeyView {
    fn from(p: PasskeySummary) -> Self {
        Self {
            id: p.id,
            name: p.name,
            discoverable: p.discoverable,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

#[derive(Serialize)]
struct Registered {
    passkey: PasskeyView,
    /// The recovery codes made with the account's first second factor, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

async fn register_finish(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    JsonBody(req): JsonBody<RegisterFinish>,
) -> Result<Response, ApiError> {
    check_csrf(&state, &jar, &headers)?;
    let (_, user, _) = signed_in(&state, &jar).await?;
    let added: PasskeyAdded =
        state.accounts.finish_passkey_registration(&user, &req.ceremony, &req.name, &req.credential, &ctx).await?;
    let body = Registered { passkey: added.passkey.into(), recovery_codes: added.recovery_codes };
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    resp.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The form's `csrf_token` is checked by [`PageForm`].
#[derive(Deserialize)]
struct RemoveForm {
    password: Option<Password>,
}

/// Removes a passkey (a page form, after re-authentication); errors the person can act on
/// are shown on the two-step page.
async fn remove(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Client(ctx): Client,
    PageForm(form): PageForm<RemoveForm>,
) -> Response {
    let Ok((session, user, _)) = signed_in(&state, &jar).await else { return see_other("/login") };
    let Ok(id) = Uuid::parse_str(&id) else { return ApiError::not_found().into_page() };
    let reauth = Reauth { password: form.password.as_ref(), auth_time: Some(session.auth_time) };
    match state.accounts.remove_passkey(&user, id, reauth, &ctx).await {
        Ok(()) => see_other("/account/mfa?notice=passkey_removed"),
        Err(e) => super::mfa::shown_or_page(&state, jar, e).await,
    }
}

async fn sign_in_start(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(started(state.accounts.begin_passkey_sign_in().await?))
}

#[derive(Deserialize)]
struct SignInFinish {
    ceremony: String,
    credential: PublicKeyCredential,
    /// The parked authorization request to continue.
    next: Option<String>,
}

/// Passwordless sign-in: a new session cookie, and where the page goes next. The page's
/// CSRF token is required (no login CSRF: another site cannot sign this browser in).
async fn sign_in_finish(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    JsonBody(req): JsonBody<SignInFinish>,
) -> Result<Response, ApiError> {
    check_csrf(&state, &jar, &headers)?;
    let previous = cookies::session_token(&jar, &state.settings);
    let signed_in =
        state.accounts.finish_passkey_sign_in(&req.ceremony, &req.credential, previous.as_ref(), &ctx).await?;
    let jar = jar.add(cookies::session_cookie(&signed_in.token, &state.settings));
    let redirect = safe_next(req.next.as_deref()).unwrap_or("/account");
    Ok((jar, axum::Json(Redirect { redirect })).into_response())
}

async fn second_factor_start(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_csrf(&state, &jar, &headers)?;
    let handle = cookies::mfa_handle(&jar, &state.settings).ok_or(AccountError::MfaChallengeInvalid)?;
    Ok(started(state.accounts.begin_passkey_second_factor(&handle, &[MfaChannel::Page]).await?))
}

#[derive(Deserialize)]
struct SecondFactorFinish {
    ceremony: String,
    credential: PublicKeyCredential,
}

/// Completes a page sign-in with a passkey: the session cookie replaces the pending step's.
async fn second_factor_finish(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    JsonBody(req): JsonBody<SecondFactorFinish>,
) -> Result<Response, ApiError> {
    check_csrf(&state, &jar, &headers)?;
    let handle = cookies::mfa_handle(&jar, &state.settings).ok_or(AccountError::MfaChallengeInvalid)?;
    let previous = cookies::session_token(&jar, &state.settings);
    let proof = Proof::Passkey { ceremony: &req.ceremony, response: &req.credential };
    let completed =
        state.accounts.complete_mfa_sign_in(&handle, &[MfaChannel::Page], proof, previous.as_ref(), &ctx).await;
    let (signed_in, next) = completed.map_err(|e| match e {
        // One answer for a wrong passkey, as for a wrong code.
        AccountError::InvalidMfaCode => AccountError::PasskeyRefused,
        other => other,
    })?;
    let jar = cookies::clear_mfa(jar, &state.settings);
    let jar = jar.add(cookies::session_cookie(&signed_in.token, &state.settings));
    let redirect = safe_next(next.as_deref()).unwrap_or("/account");
    Ok((jar, axum::Json(Redirect { redirect })).into_response())
}

#[derive(Deserialize)]
struct ApiStart {
    mfa_token: String,
}

/// The JSON APIs' second step with a passkey: the ceremony for the pending step named by
/// `mfa_token`; the answer goes to `POST /api/v1/auth/mfa` as `passkey`.
async fn api_start(State(state): State<AppState>, JsonBody(req): JsonBody<ApiStart>) -> Result<Response, ApiError> {
    Ok(started(state.accounts.begin_passkey_second_factor(&req.mfa_token, &JSON_CHANNELS).await?))
}
