//! The device authorization grant (RFC 8628): the device authorization endpoint (§3.1-3.2) and
//! the user's side (§3.3): `/device`, where a signed-in user enters the code the device shows,
//! sees which application asks for what, and approves or denies. The device then polls the
//! token endpoint (`routes::oauth`).
//!
//! Guessing codes is limited twice: every code entered counts against `rate_limits.user_code_ip`
//! (the route's policy) and against `rate_limits.user_code_account` for the signed-in user, so a
//! wrong code and a right one cost the same and a refusal tells nothing about the code.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use gatehouse_core::RequestContext;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::acr::amr_has_mfa;
use gatehouse_core::oauth::{DeviceApproval, DeviceError, DeviceRequest, VERIFICATION_PATH, display_user_code};
use gatehouse_core::{Session, User};
use serde::Deserialize;

use super::oauth::{Pairs, authenticated};
use super::{see_other, signed_in};
use crate::AppState;
use crate::cookies;
use crate::error::{ApiError, OAuthResponse, no_store};
use crate::extract::{Client, FormBody, PageForm};
use crate::pages::{self, DeviceConsentPage, DeviceDonePage, DevicePage};
use crate::policy::{Answer, Methods, Policy, Routes};

pub fn router(state: &AppState) -> Routes {
    let client_auth = Policy::cookieless("authenticated by client credentials in the request");
    let entry = Policy::same_origin().limit(LimitKind::UserCodeIp, Methods::Post, Answer::Page);
    Routes::new(
        state,
        client_auth.oauth_cors(),
        Router::new().route("/oauth2/device_authorization", post(device_authorization)),
    )
    .merge(Routes::new(state, entry, Router::new().route(VERIFICATION_PATH, get(device_page).post(enter_code))))
    .merge(Routes::new(state, Policy::same_origin(), Router::new().route("/device/decision", post(decide))))
}

/// RFC 8628 §3.1-3.2: client authentication as at the token endpoint (a public client by its
/// `client_id`), then a device code and a user code.
async fn device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(ctx): Client,
    form: Result<FormBody<Pairs>, ApiError>,
) -> Response {
    let (client, req) = match authenticated(&state, &headers, &ctx, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let scope = match req.scope.get() {
        Ok(s) => s,
        Err(_) => {
            let e = gatehouse_core::oauth::OAuthError::invalid_request("scope was included more than once");
            return OAuthResponse(e).into_response();
        }
    };
    match state.oauth.start_device_authorization(&client, scope).await {
        Ok(body) => no_store(axum::Json(body).into_response()),
        Err(e) => OAuthResponse(e).into_response(),
    }
}

#[derive(Deserialize)]
struct DeviceQuery {
    user_code: Option<String>,
}

/// The sign-in page, coming back to `/device` (with the code, if there was one) afterwards.
fn sign_in_first(user_code: Option<&str>) -> Response {
    let mut back = VERIFICATION_PATH.to_owned();
    if let Some(code) = user_code.filter(|c| !c.is_empty() && c.len() <= 64) {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("user_code", code);
        back = format!("{back}?{}", q.finish());
    }
    let mut to = url::form_urlencoded::Serializer::new(String::new());
    to.append_pair("next", &back);
    see_other(&format!("/login?{}", to.finish()))
}

/// The code entry form, prefilled from `verification_uri_complete` (§3.3.1). Nothing is looked
/// up here: the user confirms the code by sending the form.
async fn device_page(State(state): State<AppState>, jar: CookieJar, Query(q): Query<DeviceQuery>) -> Response {
    if signed_in(&state, &jar).await.is_err() {
        return sign_in_first(q.user_code.as_deref());
    }
    let code = q.user_code.unwrap_or_default();
    let code: String = code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(16).collect();
    entry_page(&state, jar, StatusCode::OK, &code, None)
}

fn entry_page(state: &AppState, jar: CookieJar, status: StatusCode, code: &str, error: Option<&str>) -> Response {
    match cookies::form_token(jar, &state.settings) {
        Ok((jar, csrf_token)) => {
            let page = DevicePage { csrf_token: &csrf_token, user_code: code, error };
            (status, jar, Html(pages::render(&page))).into_response()
        }
        Err(e) => e.into_page(),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    user_code: String,
}

/// Counts a code entered by `user` (the per-IP count is the route's).
async fn count_attempt(state: &AppState, user: &User, ctx: &RequestContext) -> Result<(), Response> {
    match state.rate_limits.check(LimitKind::UserCodeAccount, &user.id.to_string(), ctx).await {
        Ok(()) => Ok(()),
        Err(limited) => Err(ApiError::rate_limited(&limited).into_page()),
    }
}

/// A client that requires a second factor, and a session without one: no approval (the MFA
/// policy at `/oauth2/authorize`, applied here).
fn second_factor_missing(session: &Session, req: &DeviceRequest) -> Option<Response> {
    (req.client.require_mfa && !amr_has_mfa(&session.amr)).then(|| {
        let e = DeviceError::SecondFactorRequired(req.client.name.clone());
        ApiError::forbidden("mfa_required", e.to_string()).into_page()
    })
}

/// The code entered: the consent page of its request, or the form again with an error.
async fn enter_code(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    let Ok((session, user, _)) = signed_in(&state, &jar).await else { return sign_in_first(None) };
    if let Err(page) = count_attempt(&state, &user, &ctx).await {
        return page;
    }
    let req = match state.oauth.device_request(&form.user_code).await {
        Ok(r) => r,
        Err(DeviceError::OAuth(_)) => return ApiError::internal().into_page(),
        Err(e) => {
            metrics::counter!("gatehouse_device_user_code_refused_total").increment(1);
            let typed: String = form.user_code.chars().take(16).collect();
            return entry_page(&state, jar, StatusCode::BAD_REQUEST, &typed, Some(&e.to_string()));
        }
    };
    if let Some(page) = second_factor_missing(&session, &req) {
        return page;
    }
    if !state.accounts.may_use_clients(&user) {
        return super::account_email::verify_required_page(&state, jar, &user);
    }
    let (jar, csrf_token) = match cookies::form_token(jar, &state.settings) {
        Ok(v) => v,
        Err(e) => return e.into_page(),
    };
    let scopes: Vec<&str> = req.scope.iter().collect();
    let page = DeviceConsentPage {
        csrf_token: &csrf_token,
        client_name: &req.client.name,
        user_code: &display_user_code(&req.user_code),
        privileged: scopes.iter().any(|s| gatehouse_core::oauth::is_privileged(s)),
        scopes,
    };
    (jar, Html(pages::render(&page))).into_response()
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    decision: String,
}

/// RFC 8628 §3.3: the user's answer. Allow records who approved and how they signed in; deny
/// makes the device's next poll `access_denied`.
async fn decide(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    PageForm(form): PageForm<DecisionForm>,
) -> Response {
    let Ok((session, user, _)) = signed_in(&state, &jar).await else { return sign_in_first(None) };
    let allow = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => return ApiError::bad_request("choose Allow or Deny").into_page(),
    };
    if allow && !state.accounts.may_use_clients(&user) {
        return super::account_email::verify_required_page(&state, jar, &user);
    }
    let approval =
        allow.then(|| DeviceApproval { user_id: user.id, auth_time: session.auth_time, amr: session.amr.clone() });
    match state.oauth.decide_device(&form.user_code, approval, user.id, &ctx).await {
        Ok(req) => {
            let page = DeviceDonePage { client_name: &req.client.name, approved: allow };
            Html(pages::render(&page)).into_response()
        }
        Err(e @ DeviceError::UnknownCode) => ApiError::bad_request(e.to_string()).into_page(),
        Err(e @ DeviceError::SecondFactorRequired(_)) => ApiError::forbidden("mfa_required", e.to_string()).into_page(),
        Err(DeviceError::OAuth(_)) => ApiError::internal().into_page(),
    }
}
